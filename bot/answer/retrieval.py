"""Hybrid retrieval: dense (Chroma, through LangChain) and BM25 (rank_bm25) over lemmas, fused by reciprocal
rank, restricted to the documents a question names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rank_bm25 import BM25Okapi

from bot.corpus.documents import Passage
from bot.corpus.index import KnowledgeIndex
from bot.corpus.library import Library
from bot.query import Query

RRF_K = 60  # the constant of Cormack et al. (2009); dense and lexical ranks count alike
CONTEXT_WEIGHT = 0.5  # a follow-up's own words count fully, the earlier question's at half
SYNONYM_WEIGHT = 0.5  # a vocabulary synonym of a question word counts at half a word
MAX_DOCUMENTS = 4  # documents searched per question; up to this many, each is searched whatever the others hold


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with the evidence for it (dense cosine, BM25 score, fused score, rank)."""

    passage: Passage
    dense: float
    bm25: float
    fused: float
    rank: int


class HybridRetriever:
    """Dense and lexical search over the same passages, so numbers and names are found like paraphrases.

    Each document is searched on its own terms (its own BM25 statistics, ranks counted within it) and gives up
    to k paragraphs: adding a document never changes which of another document's paragraphs are candidates."""

    def __init__(self, library: Library, index: KnowledgeIndex) -> None:
        self.library = library
        self.index = index
        self._order: dict[str, list[str]] = {}
        for p in library.passages:
            self._order.setdefault(p.doc_id, []).append(p.id)
        terms = {pid: sorted(ts) for pid, ts in library.passage_terms.items()}
        # rank_bm25 directly: the scores of every passage are needed, not a top-k list of documents.
        self.bm25 = {doc_id: BM25Okapi([terms[pid] for pid in order]) for doc_id, order in self._order.items()}

    def _scores(self, doc_id: str, terms: list[str]) -> np.ndarray:
        if not terms:
            return np.zeros(len(self._order[doc_id]))
        return np.asarray(self.bm25[doc_id].get_scores(terms))

    def retrieve(self, query: Query, k: int) -> list[Hit]:
        allowed = [d for d in self._order if not query.routed_docs or d in query.routed_docs]
        if not allowed:
            return []
        depth = max(k * 4, 20) * min(len(allowed), MAX_DOCUMENTS)
        dense_all = [
            (pid, s) for pid, s in self.index.search(query.search_vector, k=depth) if pid in self.library.by_passage
        ]
        if len(allowed) > MAX_DOCUMENTS:  # a large folder: the documents with the closest paragraphs take part
            closest: dict[str, float] = {}
            for pid, score in dense_all:
                doc_id = self.library.by_passage[pid].doc_id
                closest[doc_id] = max(closest.get(doc_id, -1.0), score)
            allowed = sorted((d for d in allowed if d in closest), key=lambda d: -closest[d])[:MAX_DOCUMENTS]
        # A phrase term ("take part") never matches a passage word itself: its synonyms stand in for it fully.
        phrase_synonyms = sorted({w for t in query.terms if " " in t for w in query.expansions.get(t, ())})
        synonyms = sorted({w for t in query.terms if " " not in t for w in query.expansions.get(t, ())})
        context_words = [*query.context_terms, *sorted({w for t in query.context_terms for w in query.expansions[t]})]
        hits: list[Hit] = []
        for doc_id in allowed:
            dense = [(pid, s) for pid, s in dense_all if self.library.by_passage[pid].doc_id == doc_id]
            scores = (
                self._scores(doc_id, [*query.terms, *phrase_synonyms])
                + SYNONYM_WEIGHT * self._scores(doc_id, synonyms)
                + CONTEXT_WEIGHT * self._scores(doc_id, context_words)
            )
            lexical = sorted(
                ((pid, float(s)) for pid, s in zip(self._order[doc_id], scores, strict=True) if s > 0),
                key=lambda x: -x[1],
            )
            fused: dict[str, float] = {}
            for ranking in (dense, lexical):
                for rank, (pid, _) in enumerate(ranking):
                    fused[pid] = fused.get(pid, 0.0) + 1.0 / (RRF_K + rank + 1)
            dense_of, bm25_of = dict(dense), dict(lexical)
            best = sorted(fused, key=lambda pid: (-fused[pid], -dense_of.get(pid, 0.0)))[:k]
            hits += [
                Hit(self.library.by_passage[pid], dense_of.get(pid, 0.0), bm25_of.get(pid, 0.0), fused[pid], rank)
                for rank, pid in enumerate(best)
            ]
        return sorted(hits, key=lambda h: (-h.fused, h.rank))
