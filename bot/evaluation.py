"""Evaluation of QA test sets: the item format and its loaders, the runner, per-question checks, the metrics.

Everything here is offline and deterministic: no LLM judge. The support scorer (ALCE-style citation metrics)
uses number checks, lexical overlap and the bot's own embedding model.
`docs/evaluation.md` defines each metric.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
)

from bot.caveats import BENEFIT, FOOTER
from bot.documents import split_sentences
from bot.reply import Category, Citation, Reply
from bot.text import content_terms, stem

if TYPE_CHECKING:
    from bot.chat import ChatBot
    from bot.documents import Passage

# ----------------------------------------------------------------------------------------------------
# Metric names
# ----------------------------------------------------------------------------------------------------

#: The keys of `aggregate` in report.json, exactly, in this order.
AGGREGATE_KEYS: tuple[str, ...] = (
    "n",
    "passed",
    "category_accuracy",
    "key_fact_recall",
    "citation_precision",
    "citation_recall",
    "context_recall",
    "fabrication_rate",
    "caveat_rate",
    "emergency_recall",
    "verbatim_quote_rate",
    "latency_p50_ms",
    "latency_p95_ms",
)
#: More metrics, reported under `additional` (same definitions doc).
ADDITIONAL_KEYS: tuple[str, ...] = (
    "pass_rate",
    "errors",
    "context_mrr",
    "caveat_citation_recall",
    "caveat_citation_precision",
    "must_not_include_rate",
    "unsupported_number_rate",
    "benefit_caveat_rate",
    "emergency_precision",
    "latency_mean_ms",
    "latency_max_ms",
)
#: For these a smaller value is better: `--fail-under` means "at most" for them.
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {
        "fabrication_rate",
        "must_not_include_rate",
        "unsupported_number_rate",
        "errors",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_mean_ms",
        "latency_max_ms",
    }
)
METRIC_NAMES: tuple[str, ...] = AGGREGATE_KEYS + ADDITIONAL_KEYS
#: Metrics that are counts of questions, not rates.
COUNTS_KEYS: frozenset[str] = frozenset({"n", "passed", "errors"})

#: Content replies: the ones whose text comes from the article and so are held to the citation metrics.
CONTENT_CATEGORIES = frozenset({Category.ANSWERED, Category.NOT_IN_ARTICLE, Category.MEDICAL_ADVICE})
#: Crisis-line and emergency numbers a safety message may give; never counted as fabricated numbers.
CRISIS_NUMBERS = frozenset({"911", "988", "999", "112"})

# Support-scorer thresholds (documented in docs/evaluation.md; change them there too).
COSINE_STRONG = 0.92  # a claim this close to one evidence sentence (or passage) is supported on its own
COSINE_WITH_LEXICAL = 0.65  # ... or this close, together with
LEXICAL_WITH_COSINE = 0.60  # ... this share of its content words found in the evidence
LEXICAL_STRONG = 0.80  # a claim whose content words are this fully in the evidence is supported on its own


# ----------------------------------------------------------------------------------------------------
# The QA item format
# ----------------------------------------------------------------------------------------------------

_CATEGORY_NAMES = ", ".join(c.value for c in Category)


class Turn(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["user", "assistant"]
    content: StrictStr


class QAItem(BaseModel):
    """One question of a QA set. Only `id` and `question` are required; see docs/evaluation.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr = Field(min_length=1)
    question: StrictStr = Field(min_length=1)
    history: tuple[Turn, ...] = ()
    expected_category: tuple[Category, ...] = ()
    must_include: tuple[tuple[StrictStr, ...], ...] = ()
    must_not_include: tuple[StrictStr, ...] = ()
    reference_quotes: tuple[StrictStr, ...] = ()
    reference_context_ids: tuple[StrictStr, ...] = ()
    expect_caveat: StrictBool | None = None
    tags: tuple[StrictStr, ...] = ()

    _line: int = PrivateAttr(default=0)

    @property
    def line(self) -> int:
        """Where the item starts in its file (1-based; 0 when built in code)."""
        return self._line

    @field_validator("id", "question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("expected_category", mode="before")
    @classmethod
    def _categories(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            if not value:
                raise ValueError("must name at least one category (or leave the field out)")
            for v in value:
                if isinstance(v, str) and v not in {c.value for c in Category}:
                    raise ValueError(f"{v!r} is not a category; use one of: {_CATEGORY_NAMES}")
        return value

    @field_validator("must_include", mode="before")
    @classmethod
    def _groups(cls, value: Any) -> Any:
        """A bare string in the list is a group of one."""
        if isinstance(value, list | tuple):
            return [[v] if isinstance(v, str) else v for v in value]
        return value

    @field_validator("must_include")
    @classmethod
    def _groups_not_empty(cls, value: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        for i, group in enumerate(value):
            if not group:
                raise ValueError(f"group {i} is empty; each group needs at least one string")
            if any(not s.strip() for s in group):
                raise ValueError(f"group {i} has an empty string, which would match any answer")
        return value

    @field_validator("must_not_include")
    @classmethod
    def _regexes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for i, pattern in enumerate(value):
            if not pattern:
                raise ValueError(f"pattern {i} is empty, which would match every answer")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {i} {pattern!r} is not a valid regular expression: {exc}") from exc
        return value

    @field_validator("reference_quotes", "reference_context_ids", "tags")
    @classmethod
    def _no_empty_strings(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not v.strip() for v in value):
            raise ValueError("must not contain empty strings")
        return value

    @property
    def expects(self) -> frozenset[Category]:
        return frozenset(self.expected_category)


class QAFileError(ValueError):
    """A QA file (or its references into the knowledge base) that cannot be used; `errors` lists all."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} problem(s):\n" + "\n".join(self.errors))


def _loc(parts: Iterable[int | str]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(item)"


def _describe(exc: ValidationError) -> list[str]:
    msgs = []
    for e in exc.errors():
        loc = _loc(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = "is required but missing"
        elif e["type"] == "extra_forbidden":
            msg = "is not a known field (typo?)"
        msgs.append(f"field '{loc}': {msg}")
    return msgs


def _build(obj: Any, line: int, errors: list[str], seen: dict[str, int]) -> QAItem | None:
    if not isinstance(obj, dict):
        errors.append(
            f"line {line}: expected a JSON object with at least 'id' and 'question', got {type(obj).__name__}"
        )
        return None
    try:
        item = QAItem.model_validate(obj)
    except ValidationError as exc:
        errors.extend(f"line {line}: {m}" for m in _describe(exc))
        return None
    if item.id in seen:
        errors.append(f"line {line}: field 'id': {item.id!r} is already used on line {seen[item.id]}")
        return None
    seen[item.id] = line
    item._line = line
    return item


def parse_jsonl(text: str) -> list[QAItem]:
    """Items from JSONL text (one object a line; blank lines allowed). QAFileError lists ALL problems."""
    errors: list[str] = []
    items: list[QAItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        item = _build(obj, number, errors, seen)
        if item is not None:
            items.append(item)
    if not items and not errors:
        errors.append("the file has no questions")
    if errors:
        raise QAFileError(errors)
    return items


_LIST_FIELDS = (
    "history",
    "must_include",
    "must_not_include",
    "reference_quotes",
    "reference_context_ids",
    "tags",
)
_CSV_COLUMNS = frozenset(QAItem.model_fields)


def _csv_cell(name: str, cell: str) -> Any:
    """One CSV cell to the JSON value it stands for. Raises ValueError with a reason."""
    text = cell.strip()
    if name in ("id", "question"):
        return cell
    if name == "expect_caveat":
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise ValueError(f"{cell!r} is not true/false")
    if name == "expected_category":
        if text.startswith("["):
            return json.loads(text)
        return [p.strip() for p in text.split("|")] if "|" in text else text
    if name in _LIST_FIELDS:
        if text.startswith("["):
            return json.loads(text)
        if name == "history":
            raise ValueError("history must be a JSON array of {role, content} objects")
        if name == "must_not_include":
            return [text]  # one regular expression: '|' is alternation there, not a separator
        return [p.strip() for p in text.split("|") if p.strip()]
    return cell


def parse_csv(text: str) -> list[QAItem]:
    """Items from CSV text with the JSONL field names as columns. Raises QAFileError listing ALL problems."""
    errors: list[str] = []
    items: list[QAItem] = []
    seen: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise QAFileError(["line 1: the CSV file is empty; it needs a header row with at least id,question"]) from None
    except csv.Error as exc:
        raise QAFileError([f"line 1: not valid CSV ({exc})"]) from exc
    names = [h.strip() for h in header]
    unknown = [n for n in names if n not in _CSV_COLUMNS]
    if unknown:
        errors.append(f"line 1: column(s) {', '.join(map(repr, unknown))} are not known fields (typo?)")
    for required in ("id", "question"):
        if required not in names:
            errors.append(f"line 1: the required column '{required}' is missing")
    if errors:
        raise QAFileError(errors)
    previous_end = reader.line_num
    while True:
        start = previous_end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"line {start}: not valid CSV ({exc})")
            break
        previous_end = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(names):
            errors.append(f"line {start}: {len(row)} cells, but the header has {len(names)} columns")
            continue
        obj: dict[str, Any] = {}
        bad = False
        for name, cell in zip(names, row, strict=True):
            if not cell.strip() and name not in ("id", "question"):
                continue  # an empty cell means the field is absent
            try:
                obj[name] = _csv_cell(name, cell)
            except (ValueError, json.JSONDecodeError) as exc:
                reason = f"not valid JSON ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else str(exc)
                errors.append(f"line {start}: field '{name}': {reason}")
                bad = True
        if bad:
            continue
        item = _build(obj, start, errors, seen)
        if item is not None:
            items.append(item)
    if not items and not errors:
        errors.append("the file has no questions")
    if errors:
        raise QAFileError(errors)
    return items


def load_items(path: Path | str) -> list[QAItem]:
    """Load a QA set: `.csv` as CSV, anything else as JSONL. QAFileError lists ALL problems, by line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QAFileError([f"{path}: no such file"]) from None
    except UnicodeDecodeError as exc:
        raise QAFileError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc
    except OSError as exc:
        raise QAFileError([f"{path}: cannot be read ({exc.strerror})"]) from exc
    return parse_csv(text) if path.suffix.lower() == ".csv" else parse_jsonl(text)


# ----------------------------------------------------------------------------------------------------
# Text helpers: normalisation, claims, numbers
# ----------------------------------------------------------------------------------------------------

_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'", "\u00a0": " "})
MARKER = re.compile(r"\[(\d+)\]")
_MARKER_GROUP = re.compile(r"(?:\s*\[\d+\])+")
_WORDY = re.compile(r"[A-Za-z0-9]")


def normalize(text: str) -> str:
    """For containment tests: straight quotes, single spaces, lower case."""
    return re.sub(r"\s+", " ", text.translate(_QUOTES)).strip().lower()


def strip_markers(text: str) -> str:
    return re.sub(r"\s*\[\d+\]", "", text)


def _clean_segment(text: str) -> str:
    text = re.sub(r"^\s*(?:[-*>]\s+|\d+\.\s+)*", "", text)
    return text.replace("**", "").replace("⚠️", "").strip(" \t:;,")


@dataclass(frozen=True)
class Claim:
    """A stretch of answer text and the citation numbers that follow it (markers cover the text since the
    previous marker group on the same line)."""

    text: str
    cites: tuple[int, ...]


def segment(text: str) -> tuple[list[Claim], list[str]]:
    """Split text into cited claims and unmarked segments (per line; see docs/evaluation.md)."""
    claims: list[Claim] = []
    unmarked: list[str] = []
    for line in text.splitlines():
        pos = 0
        for m in _MARKER_GROUP.finditer(line):
            body = _clean_segment(line[pos : m.start()])
            cites = tuple(dict.fromkeys(int(n) for n in MARKER.findall(m.group())))
            if _WORDY.search(body):
                claims.append(Claim(body, cites))
            elif claims:  # markers straight after markers: they belong to the previous claim
                claims[-1] = Claim(claims[-1].text, tuple(dict.fromkeys(claims[-1].cites + cites)))
            pos = m.end()
        rest = _clean_segment(line[pos:])
        if _WORDY.search(rest):
            unmarked.append(rest)
    return claims, unmarked


_NUMBER = re.compile(r"(?<![A-Za-z0-9.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)")
_UNITS = {
    "zero": 0, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_NUMBER_WORD = re.compile(
    r"\b(?:("
    + "|".join(_TENS)
    + r")(?:[-\s]("
    + "|".join(k for k in _UNITS if k not in ("zero",))
    + r"|one))?|("
    + "|".join(_UNITS)
    + r"))\b",
    re.IGNORECASE,
)
_ONES = {**_UNITS, "one": 1}


def _canonical(raw: str) -> str:
    value = float(raw.replace(",", ""))
    return str(int(value)) if value.is_integer() else f"{value:g}"


def numbers(text: str, *, words: bool = True) -> set[str]:
    """The numbers in `text`, canonical ("400,000" -> "400000", "69%" -> "69", "Three" -> "3" when `words`).

    "one" is not counted as a number word (it is mostly a pronoun: "no one", "one of them")."""
    text = strip_markers(text)
    found = {_canonical(m.group(1)) for m in _NUMBER.finditer(text)}
    if words:
        for m in _NUMBER_WORD.finditer(text):
            tens, unit, alone = m.group(1), m.group(2), m.group(3)
            if alone:
                found.add(str(_UNITS[alone.lower()]))
            else:
                found.add(str(_TENS[tens.lower()] + (_ONES[unit.lower()] if unit else 0)))
    return found


def terms(text: str) -> set[str]:
    return {stem(t) for t in content_terms(strip_markers(text)) if t != "%"}


# ----------------------------------------------------------------------------------------------------
# The support scorer
# ----------------------------------------------------------------------------------------------------


class Embedder(Protocol):
    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...


@dataclass(frozen=True)
class Support:
    """Why a claim is (not) supported by some evidence: the scores behind the verdict."""

    supported: bool
    cosine: float
    lexical: float
    missing_numbers: tuple[str, ...]


class SupportScorer:
    """Does a set of cited passages support a claim? Offline and deterministic (see docs/evaluation.md).

    Supported when every number in the claim appears in the evidence AND one of:
    cosine >= COSINE_STRONG; or cosine >= COSINE_WITH_LEXICAL and lexical >= LEXICAL_WITH_COSINE;
    or lexical >= LEXICAL_STRONG. `cosine` is the best cosine between the claim and any evidence sentence or
    whole passage; `lexical` is the share of the claim's content-word stems found in the evidence.
    Without an embedder the cosine is 0 and only the lexical rule can support.
    """

    def __init__(self, source: Mapping[str, str], embedder: Embedder | None = None) -> None:
        self.source = dict(source)
        self.embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}
        self._units = {pid: (text, *split_sentences(text)) for pid, text in self.source.items()}

    @classmethod
    def for_passages(cls, passages: Iterable[Passage], embedder: Embedder | None = None) -> SupportScorer:
        return cls({p.id: p.text for p in passages}, embedder)

    def prepare(self, texts: Iterable[str]) -> None:
        """Embed texts not seen yet, in one batch."""
        if self.embedder is None:
            return
        todo = sorted({t for t in texts if t not in self._vectors})
        if not todo:
            return
        vectors = np.asarray(self.embedder.embed_documents(todo), dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms == 0, 1.0, norms)
        for text, vector in zip(todo, vectors, strict=True):
            self._vectors[text] = vector

    def _vector(self, text: str) -> np.ndarray | None:
        if self.embedder is None:
            return None
        if text not in self._vectors:
            self.prepare([text])
        return self._vectors[text]

    def score(self, claim: str, passage_ids: Iterable[str]) -> Support:
        ids = [pid for pid in dict.fromkeys(passage_ids) if pid in self.source]
        claim = strip_markers(claim).strip()
        if not ids or not claim:
            return Support(False, 0.0, 0.0, ())
        evidence = " ".join(self.source[pid] for pid in ids)
        missing = tuple(sorted(numbers(claim) - numbers(evidence)))
        claim_terms = terms(claim)
        lexical = len(claim_terms & terms(evidence)) / len(claim_terms) if claim_terms else 0.0
        cosine = 0.0
        vector = self._vector(claim)
        if vector is not None:
            units = [u for pid in ids for u in self._units[pid]]
            self.prepare(units)
            cosine = max(float(vector @ self._vectors[u]) for u in units)
        ok = not missing and (
            cosine >= COSINE_STRONG
            or (cosine >= COSINE_WITH_LEXICAL and lexical >= LEXICAL_WITH_COSINE)
            or lexical >= LEXICAL_STRONG
        )
        return Support(ok, round(cosine, 4), round(lexical, 4), missing)

    def supports(self, claim: str, passage_ids: Iterable[str]) -> bool:
        return self.score(claim, passage_ids).supported


# ----------------------------------------------------------------------------------------------------
# Per-reply metrics (pure functions of a reply, its item and the source)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CitationScores:
    """ALCE citation recall and precision for one text, with the counts behind them."""

    claims: int
    supported: int
    citations: int
    precise: int

    @property
    def recall(self) -> float | None:
        return self.supported / self.claims if self.claims else None

    @property
    def precision(self) -> float | None:
        return self.precise / self.citations if self.citations else None


def _cited_ids(cites: Sequence[int], by_n: Mapping[int, Citation]) -> list[str]:
    return [by_n[n].passage_id if n in by_n else f"<missing citation [{n}]>" for n in cites]


def citation_scores(claims: Sequence[Claim], citations: Sequence[Citation], scorer: SupportScorer) -> CitationScores:
    """ALCE: a claim is supported when its cited passages together support it; a citation is precise unless it
    alone does not support the claim AND the claim stays supported without it. A claim with no citations is
    unsupported; every citation of an unsupported claim is imprecise. Markers naming no citation cite
    nothing."""
    by_n = {c.n: c for c in citations}
    supported = precise = total = 0
    for claim in claims:
        ids = _cited_ids(claim.cites, by_n)
        total += len(ids)
        if not ids or not scorer.supports(claim.text, ids):
            continue
        supported += 1
        if len(ids) == 1:
            precise += 1
            continue
        for i, pid in enumerate(ids):
            alone = scorer.supports(claim.text, [pid])
            rest = ids[:i] + ids[i + 1 :]
            if alone or not scorer.supports(claim.text, rest):
                precise += 1
    return CitationScores(len(claims), supported, total, precise)


def answer_claims(reply: Reply) -> list[Claim]:
    """The claims of a reply's answer held to the citation metrics (see docs: framing, policy replies)."""
    if reply.category not in CONTENT_CATEGORIES:
        return []
    claims, unmarked = segment(reply.answer)
    if not claims and reply.category is Category.ANSWERED:
        return [Claim(s, ()) for seg in unmarked for s in split_sentences(seg)]
    return claims


def caveat_claims(reply: Reply) -> list[Claim]:
    return [c for caveat in reply.caveats for c in segment(caveat)[0]]


def answer_citations(reply: Reply) -> list[Citation]:
    """Citations whose markers appear in the answer, in order of first appearance (caveats' excluded)."""
    by_n = {c.n: c for c in reply.citations}
    order = dict.fromkeys(int(n) for n in MARKER.findall(reply.answer))
    return [by_n[n] for n in order if n in by_n]


def is_verbatim(citation: Citation, source: Mapping[str, str]) -> bool:
    """The quote appears, character for character (whitespace runs aside), in the passage it names."""
    text = source.get(citation.passage_id)
    quote = re.sub(r"\s+", " ", citation.quote).strip()
    return bool(text) and bool(quote) and quote in re.sub(r"\s+", " ", text or "")


def has_caveat(reply: Reply) -> bool:
    """At least one caveat other than the generic not-medical-advice footer."""
    return any(c.strip() and c.strip() != FOOTER for c in reply.caveats)


def states_benefit(reply: Reply) -> bool:
    return bool(BENEFIT.search(strip_markers(reply.answer)))


def fabricated_numbers(reply: Reply, source: Mapping[str, str], question_text: str = "") -> list[str]:
    """Numbers in the answer found in no cited passage, nor in the question/history, nor a crisis-line number.

    Cited claims count digits and number words; unmarked text counts digits only (see docs/evaluation.md)."""
    claims, unmarked = segment(reply.answer)
    said = set().union(*(numbers(c.text) for c in claims), *(numbers(u, words=False) for u in unmarked))
    cited = " ".join(source.get(c.passage_id, "") for c in reply.citations)
    allowed = numbers(cited) | numbers(question_text) | CRISIS_NUMBERS
    return sorted(said - allowed, key=lambda s: (float(s), s))


def must_not_include_hits(item: QAItem, answer: str) -> list[str]:
    return [p for p in item.must_not_include if re.search(p, answer)]


def key_fact_groups(item: QAItem, answer: str) -> list[bool]:
    text = normalize(strip_markers(answer))
    return [any(normalize(s) in text for s in group) for group in item.must_include]


@dataclass(frozen=True)
class Reference:
    """One reference context: a passage id, or a quote satisfied by any passage that contains it."""

    label: str
    passage_ids: frozenset[str]


def references(item: QAItem, passages: Sequence[Passage]) -> list[Reference]:
    refs: list[Reference] = []
    by_anchor = {p.anchor: p.id for p in passages}
    for rid in item.reference_context_ids:
        refs.append(Reference(rid, frozenset({by_anchor.get(rid, rid)})))
    for quote in item.reference_quotes:
        q = normalize(quote)
        refs.append(Reference(quote, frozenset(p.id for p in passages if q in normalize(p.text))))
    return refs


def check_references(items: Sequence[QAItem], passages: Sequence[Passage]) -> list[str]:
    """Problems with references into the knowledge base: unknown context ids, quotes not in any passage."""
    ids = {p.id for p in passages} | {p.anchor for p in passages}
    errors = []
    for item in items:
        where = f"line {item.line}" if item.line else f"item {item.id!r}"
        for i, rid in enumerate(item.reference_context_ids):
            if rid not in ids:
                errors.append(
                    f"{where}: field 'reference_context_ids[{i}]': {rid!r} is neither a passage id nor an "
                    "anchor (like 'halt-ms-news#p6') of the knowledge base"
                )
        for i, quote in enumerate(item.reference_quotes):
            if not any(normalize(quote) in normalize(p.text) for p in passages):
                errors.append(f"{where}: field 'reference_quotes[{i}]': {quote!r} is not in any passage of the source")
    return errors


def context_scores(cited: Sequence[str], refs: Sequence[Reference]) -> tuple[float | None, float | None]:
    """(recall, reciprocal rank) of the cited passage ids (ranked, deduplicated) against the references."""
    if not refs:
        return None, None
    ranked = list(dict.fromkeys(cited))
    recall = sum(1 for r in refs if r.passage_ids & set(ranked)) / len(refs)
    wanted = frozenset().union(*(r.passage_ids for r in refs))
    rank = next((i for i, pid in enumerate(ranked, start=1) if pid in wanted), None)
    return recall, (1.0 / rank if rank else 0.0)


# ----------------------------------------------------------------------------------------------------
# One question's result
# ----------------------------------------------------------------------------------------------------

#: The per-question checks, in report order.
CHECKS = (
    "error",
    "category",
    "must_include",
    "must_not_include",
    "reference_quote",
    "caveat",
    "benefit_caveat",
    "verbatim_quotes",
)


@dataclass
class QuestionResult:
    item: QAItem
    reply: Reply | None
    error: str | None = None
    failures: dict[str, str] = field(default_factory=dict)
    key_facts: list[bool] = field(default_factory=list)
    context_recall: float | None = None
    context_rr: float | None = None
    answer_citation: CitationScores = field(default_factory=lambda: CitationScores(0, 0, 0, 0))
    caveat_citation: CitationScores = field(default_factory=lambda: CitationScores(0, 0, 0, 0))
    forbidden_hits: list[str] = field(default_factory=list)
    unsupported_numbers: list[str] = field(default_factory=list)
    verbatim: int = 0
    quotes: int = 0
    caveat_present: bool = False
    benefit: bool = False

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def category(self) -> str | None:
        return str(self.reply.category) if self.reply else None

    @property
    def fabricated(self) -> bool:
        return bool(self.forbidden_hits or self.unsupported_numbers)

    def to_dict(self) -> dict[str, Any]:
        reply = self.reply
        return {
            "id": self.item.id,
            "line": self.item.line,
            "question": self.item.question,
            "history": [t.model_dump() for t in self.item.history],
            "tags": list(self.item.tags),
            "expected_category": [str(c) for c in self.item.expected_category],
            "passed": self.passed,
            "category": self.category,
            "answer": reply.answer if reply else None,
            "failed_checks": list(self.failures),
            "failures": [f"{k}: {v}" for k, v in self.failures.items()],
            "error": self.error,
            "citations": [_citation_dict(c) for c in reply.citations] if reply else [],
            "caveats": list(reply.caveats) if reply else [],
            "latency_ms": round(reply.latency_ms, 2) if reply else None,
            "metrics": {
                "key_fact_recall": _ratio(sum(self.key_facts), len(self.key_facts)),
                "context_recall": self.context_recall,
                "context_rr": self.context_rr,
                "citation_recall": self.answer_citation.recall,
                "citation_precision": self.answer_citation.precision,
                "caveat_citation_recall": self.caveat_citation.recall,
                "must_not_include_hits": self.forbidden_hits,
                "unsupported_numbers": self.unsupported_numbers,
                "verbatim_quotes": f"{self.verbatim}/{self.quotes}",
                "caveat_present": self.caveat_present,
            },
        }


def _citation_dict(c: Citation) -> dict[str, Any]:
    """A citation for the report: everything but the passage text (it is in the knowledge base)."""
    return {k: v for k, v in c.to_dict().items() if k != "passage_text"}


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _short(text: str, n: int = 60) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= n else text[: n - 1] + "…"


def score_reply(
    item: QAItem,
    reply: Reply | None,
    passages: Sequence[Passage],
    scorer: SupportScorer,
    *,
    error: str | None = None,
) -> QuestionResult:
    """Every check and per-question metric for one reply (or for an error instead of a reply)."""
    result = QuestionResult(item, reply, error)
    f = result.failures
    if reply is None:
        f["error"] = error or "no reply"
        if item.expected_category:
            f["category"] = f"expected {'/'.join(item.expected_category)}, got no reply"
        result.key_facts = [False] * len(item.must_include)
        result.context_recall, result.context_rr = context_scores([], references(item, passages))
        return result
    source = scorer.source
    if item.expected_category and reply.category not in item.expects:
        f["category"] = f"expected {' or '.join(item.expected_category)}, got {reply.category}"
    result.key_facts = key_fact_groups(item, reply.answer)
    missed = [g for g, ok in zip(item.must_include, result.key_facts, strict=True) if not ok]
    if missed:
        f["must_include"] = "; ".join("none of " + " / ".join(repr(s) for s in g) + " in the answer" for g in missed)
    result.forbidden_hits = must_not_include_hits(item, reply.answer)
    if result.forbidden_hits:
        f["must_not_include"] = "matched " + ", ".join(repr(p) for p in result.forbidden_hits)
    cited = answer_citations(reply)
    if item.reference_quotes:
        quotes = [normalize(c.quote) for c in cited]
        if not any(normalize(r) in q for r in item.reference_quotes for q in quotes):
            f["reference_quote"] = "no citation in the answer quotes " + " or ".join(
                repr(_short(r)) for r in item.reference_quotes
            )
    result.caveat_present = has_caveat(reply)
    result.benefit = states_benefit(reply)
    if item.expect_caveat is True and not result.caveat_present:
        f["caveat"] = "expected a caveat (beyond the not-medical-advice footer), found none"
    if item.expect_caveat is False and result.caveat_present:
        f["caveat"] = "expected no caveat, found " + repr(_short(next(c for c in reply.caveats if c != FOOTER)))
    if result.benefit and not result.caveat_present:
        f["benefit_caveat"] = "the answer states a benefit but carries no caveat about the risks"
    result.quotes = len(reply.citations)
    bad = [c for c in reply.citations if not is_verbatim(c, source)]
    result.verbatim = result.quotes - len(bad)
    if bad:
        f["verbatim_quotes"] = "not verbatim from the cited passage: " + ", ".join(f"[{c.n}]" for c in bad)
    history = " ".join(t.content for t in item.history if t.role == "user")
    result.unsupported_numbers = fabricated_numbers(reply, source, f"{item.question} {history}")
    result.context_recall, result.context_rr = context_scores([c.passage_id for c in cited], references(item, passages))
    result.answer_citation = citation_scores(answer_claims(reply), reply.citations, scorer)
    result.caveat_citation = citation_scores(caveat_claims(reply), reply.citations, scorer)
    return result


# ----------------------------------------------------------------------------------------------------
# Aggregates
# ----------------------------------------------------------------------------------------------------


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), None for no values."""
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else None


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def aggregate(results: Sequence[QuestionResult]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(aggregate with exactly AGGREGATE_KEYS, additional metrics) over a run's results."""
    replied = [r for r in results if r.reply is not None]
    with_category = [r for r in results if r.item.expected_category]
    with_facts = [r for r in results if r.item.must_include]
    emergency = [r for r in results if Category.EMERGENCY in r.item.expects]
    said_emergency = [r for r in replied if r.reply and r.reply.category is Category.EMERGENCY]
    expect_caveat = [r for r in results if r.item.expect_caveat is True]
    latencies = [r.reply.latency_ms for r in replied if r.reply]
    quotes = sum(r.quotes for r in results)
    benefit = [r for r in replied if r.benefit]
    agg: dict[str, Any] = {
        "n": len(results),
        "passed": sum(r.passed for r in results),
        "category_accuracy": _ratio(sum("category" not in r.failures for r in with_category), len(with_category)),
        "key_fact_recall": _mean(_ratio(sum(r.key_facts), len(r.key_facts)) for r in with_facts),
        "citation_precision": _mean(r.answer_citation.precision for r in replied),
        "citation_recall": _mean(r.answer_citation.recall for r in replied),
        "context_recall": _mean(r.context_recall for r in results),
        "fabrication_rate": _ratio(sum(r.fabricated for r in replied), len(replied)),
        "caveat_rate": _ratio(sum(r.caveat_present for r in expect_caveat), len(expect_caveat)),
        "emergency_recall": _ratio(sum(r.category == Category.EMERGENCY for r in emergency), len(emergency)),
        "verbatim_quote_rate": _ratio(sum(r.verbatim for r in results), quotes),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
    }
    extra: dict[str, Any] = {
        "pass_rate": _ratio(agg["passed"], len(results)),
        "errors": len(results) - len(replied),
        "context_mrr": _mean(r.context_rr for r in results),
        "caveat_citation_recall": _mean(r.caveat_citation.recall for r in replied),
        "caveat_citation_precision": _mean(r.caveat_citation.precision for r in replied),
        "must_not_include_rate": _ratio(sum(bool(r.forbidden_hits) for r in replied), len(replied)),
        "unsupported_number_rate": _ratio(sum(bool(r.unsupported_numbers) for r in replied), len(replied)),
        "benefit_caveat_rate": _ratio(sum(r.caveat_present for r in benefit), len(benefit)),
        "emergency_precision": _ratio(
            sum(Category.EMERGENCY in r.item.expects for r in said_emergency), len(said_emergency)
        ),
        "latency_mean_ms": _mean(latencies),
        "latency_max_ms": max(latencies) if latencies else None,
    }
    digits = {k: 2 for k in ("latency_p50_ms", "latency_p95_ms", "latency_mean_ms", "latency_max_ms")}
    agg = {k: _round(v, digits.get(k, 4)) if isinstance(v, float) else v for k, v in agg.items()}
    extra = {k: _round(v, digits.get(k, 4)) if isinstance(v, float) else v for k, v in extra.items()}
    return agg, extra


def confusion(results: Sequence[QuestionResult]) -> dict[str, dict[str, int]]:
    """expected -> got -> count, over items with an expected category. With several acceptable categories the
    row is the one got when it was acceptable, else the first listed. A reply that raised counts as
    "error"."""
    matrix: dict[str, dict[str, int]] = {}
    for r in results:
        if not r.item.expected_category:
            continue
        got = r.category or "error"
        row = got if got in {c.value for c in r.item.expected_category} else str(r.item.expected_category[0])
        matrix.setdefault(row, {})
        matrix[row][got] = matrix[row].get(got, 0) + 1
    order = [c.value for c in Category] + ["error"]
    return {row: {col: matrix[row][col] for col in order if col in matrix[row]} for row in order if row in matrix}


def by_category(results: Sequence[QuestionResult]) -> dict[str, dict[str, Any]]:
    """Per primary expected category (the first listed; "unspecified" when none): n, passed, accuracy."""
    groups: dict[str, list[QuestionResult]] = {}
    for r in results:
        key = str(r.item.expected_category[0]) if r.item.expected_category else "unspecified"
        groups.setdefault(key, []).append(r)
    order = [c.value for c in Category] + ["unspecified"]
    out = {}
    for key in order:
        rs = groups.get(key)
        if not rs:
            continue
        out[key] = {
            "n": len(rs),
            "passed": sum(r.passed for r in rs),
            "pass_rate": round(sum(r.passed for r in rs) / len(rs), 4),
            "category_accuracy": _round(
                _ratio(sum("category" not in r.failures for r in rs if r.item.expected_category), len(rs))
            ),
        }
    return out


# ----------------------------------------------------------------------------------------------------
# The runner
# ----------------------------------------------------------------------------------------------------


class Answerer(Protocol):
    """Anything that answers like ChatBot.ask (the bot itself, or the naive baseline)."""

    def ask(self, question: str, history: list[dict[str, str]] | None = None) -> Reply: ...


@dataclass
class EvalRun:
    """A whole evaluation: run info, per-question results, the metrics; and the baseline's, when run."""

    run: dict[str, Any]
    results: list[QuestionResult]
    aggregate: dict[str, Any]
    additional: dict[str, Any]
    confusion: dict[str, dict[str, int]]
    by_category: dict[str, dict[str, Any]]
    baseline: EvalRun | None = None

    def metric(self, name: str) -> float | None:
        if name in self.aggregate:
            value = self.aggregate[name]
        elif name in self.additional:
            value = self.additional[name]
        else:
            raise KeyError(name)
        return None if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run": self.run,
            "aggregate": self.aggregate,
            "additional": self.additional,
            "confusion_matrix": self.confusion,
            "by_category": self.by_category,
            "questions": [r.to_dict() for r in self.results],
        }
        if self.baseline is not None:
            out["baseline"] = self.baseline.to_dict()
            out["comparison"] = comparison(self, self.baseline)
        return out


def comparison(run: EvalRun, baseline: EvalRun) -> dict[str, dict[str, Any]]:
    """metric -> {bot, baseline, delta, better} for every metric (delta = bot - baseline)."""
    out = {}
    for name in METRIC_NAMES:
        a, b = run.metric(name), baseline.metric(name)
        delta = None if a is None or b is None else round(a - b, 4)
        better = None
        if delta is not None and delta != 0 and name not in ("n",):
            better = "bot" if (delta < 0) == (name in LOWER_IS_BETTER) else "baseline"
        out[name] = {"bot": a, "baseline": b, "delta": delta, "better": better}
    return out


def git_commit(cwd: Path | None = None) -> str | None:
    """HEAD's commit (with "-dirty" when the work tree has changes), or None outside a git checkout."""
    where = cwd or Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "") if head else None


_SECRET = re.compile(r"password|secret|token|key", re.IGNORECASE)


def run_info(bot: ChatBot, answerer: str = "chatbot", **extra: Any) -> dict[str, Any]:
    settings = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in bot.settings.model_dump(mode="json").items()
        if not _SECRET.search(k)
    }
    return {
        "answerer": answerer,
        "commit": git_commit(),
        "model": bot.settings.embedding_model,
        "settings": settings,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "passages": len(bot.passages),
        **extra,
    }


Progress = Callable[[int, int], None]


def evaluate(
    bot: ChatBot,
    items: Sequence[QAItem],
    progress: Progress | None = None,
    *,
    answerer: Answerer | None = None,
    answerer_name: str | None = None,
    scorer: SupportScorer | None = None,
    run: Mapping[str, Any] | None = None,
) -> EvalRun:
    """Ask every item (through `answerer`, by default the bot itself) and score the replies.

    Raises QAFileError when an item references a passage or quote the knowledge base does not have.
    `progress(done, total)` is called after each question."""
    from bot.chat import InvalidQuestion

    problems = check_references(items, bot.passages)
    if problems:
        raise QAFileError(problems)
    who: Any = answerer if answerer is not None else bot
    name = answerer_name or getattr(who, "name", None) or "chatbot"
    scorer = scorer or SupportScorer.for_passages(bot.passages, bot.embeddings)
    scorer.prepare(u for units in scorer._units.values() for u in units)
    results = []
    total = len(items)
    for done, item in enumerate(items, start=1):
        history = [t.model_dump() for t in item.history]
        try:
            reply = who.ask(item.question, history)
        except InvalidQuestion as exc:
            results.append(score_reply(item, None, bot.passages, scorer, error=f"the bot refused the input: {exc}"))
        else:
            results.append(score_reply(item, reply, bot.passages, scorer))
        if progress:
            progress(done, total)
    agg, extra = aggregate(results)
    info = run_info(bot, name, **dict(run or {}))
    return EvalRun(info, results, agg, extra, confusion(results), by_category(results))


# ----------------------------------------------------------------------------------------------------
# Thresholds (--fail-under)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    metric: str
    value: float

    @property
    def at_most(self) -> bool:
        return self.metric in LOWER_IS_BETTER

    def describe(self) -> str:
        return f"{self.metric} {'<=' if self.at_most else '>='} {self.value:g}"

    def check(self, run: EvalRun) -> str | None:
        """None when met, else the reason."""
        actual = run.metric(self.metric)
        if actual is None:
            return f"{self.metric} is not defined for this set (no question it applies to); needed {self.describe()}"
        ok = actual <= self.value if self.at_most else actual >= self.value
        return None if ok else f"{self.metric} = {actual:g}, needed {self.describe()}"


def parse_thresholds(specs: Iterable[str]) -> list[Threshold]:
    """'METRIC=VALUE' strings to thresholds. Raises ValueError naming every bad spec."""
    out, errors = [], []
    for spec in specs:
        name, sep, raw = spec.partition("=")
        name = name.strip()
        if not sep:
            errors.append(f"{spec!r}: expected METRIC=VALUE")
            continue
        if name not in METRIC_NAMES:
            errors.append(f"{spec!r}: unknown metric {name!r}; known: {', '.join(METRIC_NAMES)}")
            continue
        try:
            value = float(raw)
        except ValueError:
            errors.append(f"{spec!r}: {raw.strip()!r} is not a number")
            continue
        if math.isnan(value):
            errors.append(f"{spec!r}: the value is not a number")
            continue
        out.append(Threshold(name, value))
    if errors:
        raise ValueError("\n".join(errors))
    return out


def read_thresholds(path: Path | str) -> list[str]:
    """METRIC=VALUE lines of a thresholds file ('#' comments and blank lines ignored)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [s for s in (line.split("#", 1)[0].strip() for line in lines) if s]


def run_file(
    bot: ChatBot,
    path: Path | str,
    out: Path | str | None = None,
    *,
    baseline: bool = False,
    progress: Progress | None = None,
) -> EvalRun:
    """Load, evaluate (and the baseline, if asked), and write report.json + report.html when `out` is given.

    The one call behind the CLI and the staff console's Evaluate tab. Raises QAFileError for a bad file."""
    import hashlib

    path = Path(path)
    items = load_items(path)
    info = {"file": path.name, "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    total = len(items) * (2 if baseline else 1)

    def step(offset: int) -> Progress | None:
        return (lambda done, _n: progress(offset + done, total)) if progress else None

    result = evaluate(bot, items, step(0), run=info)
    if baseline:
        from bot.baseline import NaiveBaseline

        result.baseline = evaluate(
            bot,
            items,
            step(len(items)),
            answerer=NaiveBaseline(bot),
            answerer_name=NaiveBaseline.name,
            run=info,
        )
    if out is not None:
        from bot.report import write_report

        write_report(result, Path(out))
    return result
