"""The loader: page furniture never becomes a passage; ids are stable; sentences are verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.corpus.documents import KnowledgeError, load_knowledge, parse_document, passage_id, split_sentences
from tests.conftest import KNOWLEDGE

SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_1f02e9f40298ed85.txt"
FURNITURE = (
    "Related Videos",
    "Image Credit",
    "Image credit",
    "Shutter2U",
    "© 2023",
    "All rights reserved",
    "warodom",
)


def test_knowledge_file_holds_the_article_verbatim() -> None:
    doc = KNOWLEDGE / "halt-ms-news.md"
    text = doc.read_text(encoding="utf-8")
    body = text.split("---\n", 2)[2]
    if SEED.exists():
        assert body == SEED.read_text(encoding="utf-8")
    meta = load_knowledge(KNOWLEDGE)[0].meta
    assert getattr(meta, "journal") == "Neurology"  # noqa: B009 - an extra field of the front matter
    assert "news report" in getattr(meta, "kind")  # noqa: B009


def test_furniture_is_dropped_and_content_kept() -> None:
    (doc,) = load_knowledge(KNOWLEDGE)
    joined = "\n".join(p.text for p in doc.passages)
    for bit in FURNITURE:
        assert bit not in joined
    assert "24 volunteers aged 26 to 52" in joined
    assert doc.passages[-1].text.startswith("“If these findings are confirmed in larger studies")
    assert [p.paragraph for p in doc.passages] == list(range(1, len(doc.passages) + 1))


def test_sentences_are_substrings_of_their_paragraph() -> None:
    (doc,) = load_knowledge(KNOWLEDGE)
    for p in doc.passages:
        assert p.sentences, p.anchor
        for s in p.sentences:
            assert s in p.text
    deaths = next(p for p in doc.passages if "Three participants died" in p.text)
    assert deaths.sentences == (
        "Adverse events, such as infections, were both minimal and expected.",
        "Three participants died during the study, however, none of the deaths were due to the treatment.",
    )


def test_ids_are_stable_and_depend_on_text(tmp_path: Path) -> None:
    first = [p.id for p in load_knowledge(KNOWLEDGE)[0].passages]
    second = [p.id for p in load_knowledge(KNOWLEDGE)[0].passages]
    assert first == second
    assert len(set(first)) == len(first)
    # Pinned: the same text gives the same id on every machine (sha256 of doc id + text).
    assert passage_id("halt-ms-news", "abc") == passage_id("halt-ms-news", "abc")
    assert passage_id("halt-ms-news", "abc") != passage_id("halt-ms-news", "abd")
    assert passage_id("halt-ms-news", "abc") != passage_id("other", "abc")


def test_anchor_names_document_and_paragraph() -> None:
    p = load_knowledge(KNOWLEDGE)[0].passages[5]
    assert p.anchor == "halt-ms-news#p6"
    assert p.metadata()["anchor"] == p.anchor


def test_file_without_front_matter_uses_stem_and_first_paragraph(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# A heading\n\nFirst paragraph. Second sentence.\n", encoding="utf-8")
    doc = parse_document(path)
    assert doc.doc_id == "notes"
    assert doc.title == "A heading"
    assert doc.passages[1].sentences == ("First paragraph.", "Second sentence.")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("---\ntitle: [unclosed\n---\nbody\n", "not valid YAML"),
        ("---\n- a\n- b\n---\nbody\n", "must be a mapping"),
    ],
)
def test_bad_front_matter_names_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "broken.md"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(KnowledgeError, match=message) as info:
        parse_document(path)
    assert "broken.md" in str(info.value)


def test_duplicate_document_ids_are_refused(tmp_path: Path) -> None:
    for name in ("a.md", "b.md"):
        (tmp_path / name).write_text("---\nid: same\n---\ntext\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="both use the document id 'same'"):
        load_knowledge(tmp_path)


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="does not exist"):
        load_knowledge(tmp_path / "nope")


def test_a_list_after_a_colon_stays_in_its_sentence() -> None:
    paragraph = (
        "The endpoint was survival without any one of: 1) loss of function, 2) relapse, or 3) new lesions. "
        "Subjects were followed for 5 years. e.g. this is not a new sentence."
    )
    sentences = split_sentences(paragraph)
    assert (
        sentences[0]
        == "The endpoint was survival without any one of: 1) loss of function, 2) relapse, or 3) new lesions."
    )
    assert sentences[1].startswith("Subjects were followed")
    assert all(s in paragraph for s in sentences)
