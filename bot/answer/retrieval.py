"""Hybrid retrieval: dense (Chroma) and BM25 (rank_bm25), fused by reciprocal rank, with follow-up context."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from langchain_community.retrievers import BM25Retriever
from langchain_core.documents import Document

from bot.corpus.documents import Passage
from bot.corpus.index import KnowledgeIndex, Vector
from bot.corpus.text import Vocabulary, content_terms

RRF_K = 60
# BM25 counts double in the fusion: on this short, name- and number-dense article MiniLM's dense ranking is the
# weaker signal (it ranks the "24 volunteers" paragraph last for "how many ppl were in the trial").
WEIGHTS = {"dense": 1.0, "bm25": 2.0}
# A follow-up leans on what came before: a pronoun or an elliptical opener, and few words of its own.
_FOLLOW_UP = re.compile(
    r"^\s*(and|also|what about|how about|but|so)\b|\b(they|them|their|theirs|it|its|this|that|those|these|he|she|"
    r"his|her)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with the evidence for it (dense cosine, BM25 score, fused RRF score)."""

    passage: Passage
    dense: float
    bm25: float
    fused: float


CONTEXT_WEIGHT = 0.5
DENSE_FLOOR = 0.15


def follow_up_context(question: str, history: Sequence[dict[str, str]] = ()) -> str:
    """The last user question when this one leans on it ("How old were they?"), else ""."""
    if not history or not _FOLLOW_UP.search(question) or len(content_terms(question)) > 6:
        return ""
    previous = [m.get("content", "") for m in history if m.get("role") == "user" and m.get("content")]
    return previous[-1] if previous else ""


def retrieval_query(question: str, history: Sequence[dict[str, str]] = ()) -> str:
    """The text to embed: the question, preceded by its context when it is a follow-up."""
    context = follow_up_context(question, history)
    return f"{context} {question}" if context else question


class HybridRetriever:
    """Dense and lexical search over the same passages, fused so numbers and names are found like paraphrases."""

    def __init__(self, passages: Sequence[Passage], index: KnowledgeIndex, vocabulary: Vocabulary) -> None:
        self.index = index
        self.vocabulary = vocabulary
        self.by_id = {p.id: p for p in passages}
        self._order = [p.id for p in passages]
        self._terms = {p.id: set(vocabulary.expand(p.text)) for p in passages}
        self.bm25 = BM25Retriever.from_documents(
            [Document(page_content=p.text, id=p.id) for p in passages],
            preprocess_func=vocabulary.expand,
            k=len(passages),
        )

    def _bm25(self, terms: list[str]) -> np.ndarray:
        return np.asarray(self.bm25.vectorizer.get_scores(terms)) if terms else np.zeros(len(self._order))

    def retrieve(self, query: str, vector: Vector, k: int = 4, *, context: str = "") -> list[Hit]:
        """The top `k` passages by weighted reciprocal rank fusion of dense and BM25 ranks, gated.

        `vector` embeds the question with its context; BM25 counts the follow-up's own words fully and the
        context's at CONTEXT_WEIGHT, so "How old were they?" looks for ages among the people asked about.
        The gate: a passage that shares no word with the question and is barely similar is no candidate.
        """
        if not self.by_id:
            return []
        depth = max(k * 4, 20)
        dense = [(pid, s) for pid, s in self.index.search(vector, k=depth) if pid in self.by_id]
        query_terms = self.vocabulary.expand(query)
        context_terms = self.vocabulary.expand(context) if context else []
        scores = self._bm25(query_terms) + (CONTEXT_WEIGHT * self._bm25(context_terms) if context else 0.0)
        words = {*query_terms, *context_terms}
        shared = {pid: len(words & self._terms[pid]) for pid in self._order}
        lexical = sorted(
            ((pid, float(s)) for pid, s in zip(self._order, scores, strict=True) if s > 0), key=lambda x: -x[1]
        )[:depth]
        fused: dict[str, float] = {}
        for weight, ranking in ((WEIGHTS["dense"], dense), (WEIGHTS["bm25"], lexical)):
            for rank, (pid, _) in enumerate(ranking):
                fused[pid] = fused.get(pid, 0.0) + weight / (RRF_K + rank + 1)
        dense_of = dict(dense)
        bm25_of = dict(lexical)
        # A shared word counts even where BM25 scores it zero (a word in exactly half the passages has idf 0).
        relevant = [pid for pid in fused if shared[pid] or dense_of.get(pid, 0.0) >= DENSE_FLOOR]
        best = sorted(relevant, key=lambda pid: (-fused[pid], -dense_of.get(pid, 0.0)))[:k]
        return [Hit(self.by_id[pid], dense_of.get(pid, 0.0), bm25_of.get(pid, 0.0), fused[pid]) for pid in best]
