"""Knowledge files -> passages: one paragraph each, stable ids, anchors, page furniture dropped."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

# A line from which the rest of the page is furniture (related links, credits, copyright).
_CUT_FROM = re.compile(r"^\s*(related videos|related content|related articles)\s*$", re.IGNORECASE)
# Lines that are furniture wherever they stand.
_FURNITURE_LINE = re.compile(r"(image credit|^\s*credit:|^\s*©|copyright \d{4}|all rights reserved)", re.IGNORECASE)
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


class KnowledgeError(ValueError):
    """A knowledge file that cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Passage:
    """A citable unit: one paragraph of one document, with its sentences as they stand in the text."""

    id: str
    doc_id: str
    title: str
    paragraph: int
    text: str
    sentences: tuple[str, ...]

    @property
    def anchor(self) -> str:
        return f"{self.doc_id}#p{self.paragraph}"

    def metadata(self) -> dict[str, str | int]:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "paragraph": self.paragraph,
            "anchor": self.anchor,
        }


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    path: Path
    meta: dict[str, Any]
    passages: tuple[Passage, ...] = field(default=())


@lru_cache(maxsize=1)
def _segmenter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def split_sentences(paragraph: str) -> tuple[str, ...]:
    """Sentences exactly as they appear in `paragraph` (each is a substring of it)."""
    spans = _segmenter().segment(paragraph)
    return tuple(s.sent.strip() for s in spans if s.sent.strip())


def passage_id(doc_id: str, text: str, occurrence: int = 0) -> str:
    """Same document and text -> same id, on every run and machine."""
    digest = hashlib.sha256(f"{doc_id}\x1f{text}\x1f{occurrence}".encode()).hexdigest()
    return digest[:20]


def strip_furniture(body: str) -> str:
    """The article body without related-content blocks, image credits and the copyright line."""
    kept: list[str] = []
    for line in body.splitlines():
        if _CUT_FROM.match(line):
            break
        if _FURNITURE_LINE.search(line):
            continue
        kept.append(line)
    return "\n".join(kept)


def parse_document(path: Path) -> Document:
    """Read one Markdown knowledge file (YAML front matter optional) into a Document with passages."""
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise KnowledgeError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    meta: dict[str, Any] = {}
    body = raw
    match = _FRONT_MATTER.match(raw)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError as exc:
            raise KnowledgeError(f"{path}: the front matter is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise KnowledgeError(f"{path}: the front matter must be a mapping of fields, got {type(loaded).__name__}")
        meta = loaded
        body = raw[match.end() :]
    doc_id = str(meta.get("id") or path.stem)
    paragraphs = [re.sub(r"\s*\n\s*", " ", p).strip() for p in re.split(r"\n\s*\n", strip_furniture(body))]
    paragraphs = [p.lstrip("# ").strip() for p in paragraphs if p.strip()]
    title = str(meta.get("title") or (paragraphs[0] if paragraphs else doc_id))
    seen: dict[str, int] = {}
    passages = []
    for number, text in enumerate(paragraphs, start=1):
        occurrence = seen.get(text, 0)
        seen[text] = occurrence + 1
        passages.append(
            Passage(
                id=passage_id(doc_id, text, occurrence),
                doc_id=doc_id,
                title=title,
                paragraph=number,
                text=text,
                sentences=split_sentences(text),
            )
        )
    return Document(doc_id=doc_id, title=title, path=path, meta=meta, passages=tuple(passages))


def load_knowledge(folder: Path) -> list[Document]:
    """Every `*.md` file under `folder`, in a stable order; duplicate document ids are an error."""
    if not folder.is_dir():
        raise KnowledgeError(f"knowledge folder {folder} does not exist")
    docs = [parse_document(p) for p in sorted(folder.rglob("*.md")) if p.is_file()]
    ids: dict[str, Path] = {}
    for doc in docs:
        if doc.doc_id in ids:
            raise KnowledgeError(f"{doc.path} and {ids[doc.doc_id]} both use the document id {doc.doc_id!r}")
        ids[doc.doc_id] = doc.path
    return docs


def all_passages(docs: list[Document]) -> list[Passage]:
    return [p for d in docs for p in d.passages]
