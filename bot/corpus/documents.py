"""Knowledge files -> passages: one paragraph each, stable ids, anchors, page furniture dropped."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class CaveatSpec(BaseModel):
    """A risk that travels with the document's claims: a short text and the verbatim sentence(s) it rests on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    evidence: tuple[str, ...] = Field(min_length=1)
    kind: Literal["harm", "limitation"] = "limitation"

    @field_validator("evidence", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class RiskSummary(BaseModel):
    """The one line shown under an answer that states a benefit, citing the evidence of the caveats it names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)
    cites: tuple[str, ...] = Field(min_length=1)


class DocumentMeta(BaseModel):
    """What is true of one document, from its front matter. Unknown fields are kept (publisher, journal...)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str | None = None
    title: str | None = None
    name: str | None = Field(None, description="How answers refer to it when they use several documents.")
    source_url: str | None = Field(None, pattern=r"^https?://\S+$")
    subject: str | None = Field(None, description="What the bot is about, as shown to patients.")
    app_title: str | None = Field(None, description="The name of the helper, as patients and staff see it.")
    suggested_questions: tuple[str, ...] = ()
    aliases: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    caveats: tuple[CaveatSpec, ...] = ()
    risk_summary: RiskSummary | None = None

    @field_validator("aliases", mode="before")
    @classmethod
    def _alias_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    path: Path
    meta: DocumentMeta
    passages: tuple[Passage, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.meta.name or self.title

    def evidence_sentences(self, evidence: str) -> tuple[tuple[Passage, str], ...]:
        """The sentences of this document that make up a verbatim `evidence` text, in order."""
        want = _squash(evidence)
        for p in self.passages:
            if want in _squash(p.text):
                hits = [(p, s) for s in p.sentences if _squash(s) in want or want in _squash(s)]
                if hits:
                    return tuple(hits)
        return ()


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _key_lines(front: str) -> dict[str, int]:
    """Line (1-based, in the file) of each top-level front-matter key, for error messages."""
    try:
        node = yaml.compose(front)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): k.start_mark.line + 2 for k, _ in node.value}


def _validate(path: Path, front: str, loaded: dict[str, Any]) -> DocumentMeta:
    lines = _key_lines(front)
    try:
        meta = DocumentMeta.model_validate(loaded)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(x) for x in err["loc"]]
            where = f"line {lines[loc[0]]}, " if loc and loc[0] in lines else ""
            problems.append(f"{path}: {where}field {'.'.join(loc)}: {err['msg']}")
        raise KnowledgeError("\n".join(problems)) from exc
    ids = [c.id for c in meta.caveats]
    if len(set(ids)) != len(ids):
        raise KnowledgeError(f"{path}: line {lines.get('caveats', 0)}, field caveats: caveat ids must be unique")
    if meta.risk_summary:
        unknown = [c for c in meta.risk_summary.cites if c not in ids]
        if unknown:
            raise KnowledgeError(
                f"{path}: line {lines.get('risk_summary', 0)}, field risk_summary.cites: "
                f"{', '.join(unknown)} is not the id of a caveat of this document"
            )
    return meta


@lru_cache(maxsize=1)
def _segmenter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


# A piece that opens like this continues the sentence before it ("the signs: 1) a fever, 2) a rash, or ...").
_CONTINUES = re.compile(r"^(\(?\d{1,2}[).]\s|\(?[a-z][).]\s|[a-z])")


def split_sentences(paragraph: str) -> tuple[str, ...]:
    """Sentences exactly as they appear in `paragraph` (each is a substring of it). The segmenter's pieces are
    joined where a list runs on: after a colon, or before a piece that opens with an enumerator or in lower case."""
    spans: list[list[int]] = []
    cursor = 0
    for piece in (s.sent.strip() for s in _segmenter().segment(paragraph)):
        if not piece:
            continue
        start = paragraph.find(piece, cursor)
        if start < 0:  # the segmenter changed the text: fall back to its piece as it is
            return tuple(s.sent.strip() for s in _segmenter().segment(paragraph) if s.sent.strip())
        end = cursor = start + len(piece)
        previous = paragraph[spans[-1][0] : spans[-1][1]] if spans else ""
        if previous and (previous.endswith(":") or _CONTINUES.match(piece)):
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return tuple(paragraph[a:b] for a, b in spans)


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
    loaded: dict[str, Any] = {}
    body = raw
    front = ""
    match = _FRONT_MATTER.match(raw)
    if match:
        front = match.group(1)
        try:
            parsed = yaml.safe_load(front) or {}
        except yaml.YAMLError as exc:
            raise KnowledgeError(f"{path}: the front matter is not valid YAML: {exc}") from exc
        if not isinstance(parsed, dict):
            raise KnowledgeError(f"{path}: the front matter must be a mapping of fields, got {type(parsed).__name__}")
        loaded = parsed
        body = raw[match.end() :]
    meta = _validate(path, front, loaded)
    doc_id = str(meta.id or path.stem)
    paragraphs = [re.sub(r"\s*\n\s*", " ", p).strip() for p in re.split(r"\n\s*\n", strip_furniture(body))]
    paragraphs = [p.lstrip("# ").strip() for p in paragraphs if p.strip()]
    title = str(meta.title or (paragraphs[0] if paragraphs else doc_id))
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
    doc = Document(doc_id=doc_id, title=title, path=path, meta=meta, passages=tuple(passages))
    lines = _key_lines(front)
    for i, caveat in enumerate(meta.caveats):
        for evidence in caveat.evidence:
            if not doc.evidence_sentences(evidence):
                raise KnowledgeError(
                    f"{path}: line {lines.get('caveats', 0)}, field caveats[{i}].evidence ({caveat.id}): "
                    f"{evidence[:80]!r} is not verbatim text of the document's body"
                )
    return doc


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
