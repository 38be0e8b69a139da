"""Hybrid retrieval: dense (Chroma) and BM25 (rank_bm25), fused by reciprocal rank, with follow-up context."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_community.retrievers import BM25Retriever
from langchain_core.documents import Document

from bot.documents import Passage
from bot.index import KnowledgeIndex
from bot.text import Vocabulary, content_terms

RRF_K = 60
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


def retrieval_query(question: str, history: Sequence[dict[str, str]] = ()) -> str:
    """The text to search with: the question, preceded by the last user question when this one is a follow-up."""
    if not history or not _FOLLOW_UP.search(question) or len(content_terms(question)) > 6:
        return question
    previous = [m.get("content", "") for m in history if m.get("role") == "user" and m.get("content")]
    return f"{previous[-1]} {question}" if previous else question


class HybridRetriever:
    """Dense and lexical search over the same passages, fused so numbers and names are found like paraphrases."""

    def __init__(self, passages: Sequence[Passage], index: KnowledgeIndex, vocabulary: Vocabulary) -> None:
        self.index = index
        self.vocabulary = vocabulary
        self.by_id = {p.id: p for p in passages}
        self._order = [p.id for p in passages]
        self.bm25 = BM25Retriever.from_documents(
            [Document(page_content=p.text, id=p.id) for p in passages],
            preprocess_func=vocabulary.expand,
            k=len(passages),
        )

    def retrieve(self, query: str, vector: Sequence[float], k: int = 4) -> list[Hit]:
        """The top `k` passages by reciprocal rank fusion of dense and BM25 ranks (ties: dense score)."""
        if not self.by_id:
            return []
        dense = [(pid, s) for pid, s in self.index.search(vector, k=max(k * 2, 8)) if pid in self.by_id]
        terms = self.vocabulary.expand(query)
        scores = self.bm25.vectorizer.get_scores(terms) if terms else [0.0] * len(self._order)
        lexical = sorted(
            ((pid, float(s)) for pid, s in zip(self._order, scores, strict=True) if s > 0),
            key=lambda x: -x[1],
        )[: max(k * 2, 8)]
        fused: dict[str, float] = {}
        for ranking in (dense, lexical):
            for rank, (pid, _) in enumerate(ranking):
                fused[pid] = fused.get(pid, 0.0) + 1.0 / (RRF_K + rank + 1)
        dense_of = dict(dense)
        bm25_of = dict(lexical)
        best = sorted(fused, key=lambda pid: (-fused[pid], -dense_of.get(pid, 0.0)))[:k]
        return [Hit(self.by_id[pid], dense_of.get(pid, 0.0), bm25_of.get(pid, 0.0), fused[pid]) for pid in best]
