"""The labelled sets: test halves frozen before any tuning, halves disjoint, outside data sourced, references real."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from bot.cli import FIRST_ARTICLE_SETS
from bot.corpus.documents import all_passages, load_knowledge
from bot.evaluation.qa_format import load_items
from bot.evaluation.scoring import check_references
from bot.reply import Category
from bot.safety.evaluate import load_rows
from tests.conftest import DATA, KNOWLEDGE, SECOND_DOCUMENT

SECOND_DOCUMENT_SETS = ("second_doc", "second_doc_blind", "second_doc_blind2", "second_doc_blind3", "second_doc_blind4")
FIRST_ARTICLE = FIRST_ARTICLE_SETS
QA_SETS = (*FIRST_ARTICLE, *SECOND_DOCUMENT_SETS)


def test_frozen_test_halves_are_unchanged() -> None:
    """A test half is frozen when it is split off; editing one afterwards would let tuning see it."""
    lines = (DATA / "FROZEN.sha256").read_text(encoding="utf-8").splitlines()
    frozen = {name: digest for digest, name in (line.split() for line in lines if line.strip())}
    assert set(frozen) == {p.relative_to(DATA).as_posix() for p in DATA.glob("*/*.test.jsonl")}
    for name, digest in frozen.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, f"{name} changed after freezing"


@pytest.mark.parametrize(
    "name",
    [
        *(f"qa/{s}" for s in QA_SETS),
        *(f"safety/{s}" for s in ("external", "external2", "external3", "external4", "external5")),
    ],
)
def test_halves_are_disjoint_and_balanced(name: str) -> None:
    dev, test = (
        [json.loads(x) for x in (DATA / f"{name}.{h}.jsonl").read_text().splitlines()] for h in ("dev", "test")
    )
    assert not {r["id"] for r in dev} & {r["id"] for r in test}
    assert not {r.get("question") or r["message"] for r in dev} & {r.get("question") or r["message"] for r in test}
    assert abs(len(dev) - len(test)) <= max(4, len(dev) // 10)


def test_qa_sets_parse_cover_every_category_and_cite_real_text(tmp_path: Path) -> None:
    items = {
        s: [*load_items(DATA / "qa" / f"{s}.dev.jsonl"), *load_items(DATA / "qa" / f"{s}.test.jsonl")] for s in QA_SETS
    }
    # real questions from public pages, each with its address
    for name in ("external", "external2", "external3", "external4", "external5"):
        assert all(i.source and i.source.startswith("http") for i in items[name])
    assert len(items["external"]) + len(items["external2"]) >= 110
    assert len(items["second_doc"]) >= 20
    everything = [i for rows in items.values() for i in rows]
    assert {c for i in everything for c in i.expected_category} >= set(Category)
    first = all_passages(load_knowledge(KNOWLEDGE))
    assert check_references([i for s in FIRST_ARTICLE for i in items[s]], first) == []
    both = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, both)
    shutil.copy(SECOND_DOCUMENT, both)
    second = [i for s in SECOND_DOCUMENT_SETS for i in items[s]]
    assert check_references(second, all_passages(load_knowledge(both))) == []


def test_safety_set_is_sourced_and_large_enough() -> None:
    rows = load_rows(DATA / f"safety/external.{h}.jsonl" for h in ("dev", "test"))
    assert len(rows) >= 150
    assert {r["label"] for r in rows} == {"emergency", "advice", "harmless"}
    assert all(r["source"].startswith("http") and r["derivation"] in ("verbatim", "adapted") for r in rows)


@pytest.mark.parametrize(
    ("name", "size"), [("external2", 80), ("external3", 300), ("external4", 299), ("external5", 265)]
)
def test_the_verbatim_safety_sets_are_sourced_and_copied_from_their_source(name: str, size: int) -> None:
    """external2 to 5: messages people wrote, copied word for word from the excerpt kept beside each, every
    address listed in the set's sources file."""
    rows = load_rows(DATA / f"safety/{name}.{h}.jsonl" for h in ("dev", "test"))
    assert len(rows) >= size and {r["label"] for r in rows} == {"emergency", "harmless"}
    listed = (DATA / f"safety/{name}_SOURCES.md").read_text(encoding="utf-8")
    assert all(r["source"] in listed for r in rows)

    def squash(text: str) -> str:
        return " ".join(text.lower().split())

    for r in rows:
        assert r["source"].startswith("http") and r["derivation"] == "verbatim", r["id"]
        assert squash(r["message"]) in squash(r["source_text"]), r["id"]


def test_the_second_labelling_covers_every_real_dev_question_once() -> None:
    """scripts/label_agreement.py reads it against the first labels; a missing or unknown id would skew it."""
    from scripts.label_agreement import load

    items, second = load()
    assert sorted(second) == sorted(i.id for i in items)
    assert {c for cs in second.values() for c in cs} <= {c.value for c in Category}
