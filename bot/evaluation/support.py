"""The offline support scorer: does cited evidence support a claim? And the text helpers it is built on.

Claim segmentation (answer text to cited claims), number and content-term extraction, and `SupportScorer`
(ALCE-style, deterministic, no LLM judge): number checks, lexical overlap and the bot's own embedding model.
`docs/evaluation.md` documents the thresholds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bot.corpus.documents import split_sentences
from bot.corpus.text import content_terms, stem

if TYPE_CHECKING:
    from bot.corpus.documents import Passage

# Support-scorer thresholds (documented in docs/evaluation.md; change them there too).
COSINE_STRONG = 0.92  # a claim this close to one evidence sentence (or passage) is supported on its own
COSINE_WITH_LEXICAL = 0.65  # ... or this close, together with
LEXICAL_WITH_COSINE = 0.60  # ... this share of its content words found in the evidence
LEXICAL_STRONG = 0.80  # a claim whose content words are this fully in the evidence is supported on its own


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
