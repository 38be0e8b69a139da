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
from bot.corpus.numbers import numbers as read_numbers
from bot.corpus.tokens import content_terms, stem

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
    text = re.sub(r"\*\*(.+?)\*\*|\*(\S[^*]*?)\*", lambda m: m.group(1) or m.group(2), text)  # Markdown emphasis
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


def numbers(text: str, *, words: bool = True) -> set[str]:
    """The numbers a claim states, its `[n]` markers aside (see bot.corpus.numbers)."""
    return read_numbers(strip_markers(text), words=words)


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
