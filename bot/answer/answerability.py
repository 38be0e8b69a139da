"""Does this sentence answer this question? A logistic regression over a few general features, with its weights
and thresholds fitted on the dev split (`python -m bot fit`) and stored in answerability.json."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.answer.retrieval import CONTEXT_WEIGHT, Hit
from bot.corpus.library import Library, SentenceFacts
from bot.query import Query

MODEL_FILE = Path(__file__).with_name("answerability.json")

FEATURES = (
    "cos_sentence",  # cosine of the question (with its context) and the sentence
    "cos_passage",  # dense similarity of the question and the sentence's paragraph
    "coverage",  # idf-weighted share of the question's words (or synonyms) in the sentence
    "coverage_passage",  # ... in the sentence's paragraph
    "rank",  # 1 / (1 + the paragraph's fused retrieval rank)
    "type_wanted",  # the question asks for a kind of entity (a person, a number, a date...)
    "type_found",  # ... and the sentence has one
    "unknown",  # share of the question's weight in words no document uses
    "defines",  # a definition question, and the sentence spells out the term asked about
    "steps",  # a how-does-it-work question, and the sentence tells a step in a sequence
    "risk",  # a risk question, and the sentence is evidence of one of the document's caveats
    "benefit",  # a benefit or cure question, and the sentence states a benefit
    "unstated",  # the question states a number, name or premise word that no document states
)


@dataclass(frozen=True)
class Scored:
    """A candidate sentence, its features and the model's probability that it answers the question."""

    fact: SentenceFacts
    features: tuple[float, ...]
    p: float


@dataclass(frozen=True)
class Model:
    weights: tuple[float, ...]
    bias: float
    answer: float  # answer when the best sentence reaches this
    extra: float  # add further sentences that reach this
    related: float  # offer "the closest thing it does report" only from this
    fitted: dict[str, Any]

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> Model:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if list(raw["features"]) != list(FEATURES):
            raise ValueError(f"{path} was fitted on other features; run `python -m bot fit`")
        t = raw["thresholds"]
        return cls(tuple(raw["weights"]), raw["bias"], t["answer"], t["extra"], t["related"], raw.get("fitted", {}))

    @classmethod
    def untrained(cls) -> Model:
        """Zero weights: for collecting features before the first fit."""
        return cls(tuple(0.0 for _ in FEATURES), 0.0, 1.0, 1.0, 1.0, {})

    def probability(self, x: Sequence[float]) -> float:
        z = self.bias + sum(w * v for w, v in zip(self.weights, x, strict=True))
        return 1.0 / (1.0 + math.exp(-z))


class Answerability:
    """Computes the features of every candidate sentence and scores them with the fitted model."""

    def __init__(self, library: Library, sentence_vectors: dict[tuple[str, int], np.ndarray], model: Model) -> None:
        self.library = library
        self.vectors = sentence_vectors
        self.model = model

    def _concepts(self, query: Query, idf: dict[str, float]) -> list[tuple[frozenset[str], float]]:
        """The question's words (with their synonyms) weighted by `idf`; a word it lacks weighs the most."""
        unknown_weight = max(idf.values(), default=self.library.unknown_weight)
        out = []
        for terms, scale in ((query.terms, 1.0), (query.context_terms, CONTEXT_WEIGHT)):
            for t in terms:
                alts = frozenset({t} | set(query.expansions.get(t, ())))
                known = [idf[a] for a in alts if a in idf]
                weight = idf.get(t) or (max(known) if known else unknown_weight)
                out.append((alts, weight * scale))
        return out

    def features(self, query: Query, hits: Sequence[Hit]) -> list[tuple[SentenceFacts, tuple[float, ...]]]:
        """Each sentence is weighed with its own document's statistics and its paragraph's rank within that
        document, so adding a document never changes how another document's sentences score."""
        concepts_of = {d: self._concepts(query, idf) for d, idf in self.library.doc_idf.items()}
        every = self._concepts(query, self.library.idf)
        own = [(a, w) for a, w in every[: len(query.terms)]]
        unknown = sum(w for a, w in own if not a & self.library.idf.keys()) / (sum(w for _, w in own) or 1.0)
        wanted = bool(query.answer_labels)
        defining = "definition" in query.intents
        asked = {w for t in query.terms for w in (t, *query.expansions.get(t, ()))} | set(query.canonical_terms)
        asked |= query.initialisms
        unstated = float(bool(query.unstated))
        out = []
        for hit in hits:
            p = hit.passage
            concepts = concepts_of[p.doc_id]
            total = sum(w for _, w in concepts) or 1.0
            pterms = self.library.passage_terms[p.id]
            cov_p = sum(w for a, w in concepts if a & pterms) / total
            for i in range(len(p.sentences)):
                fact = self.library.sentences[(p.id, i)]
                vec = self.vectors.get(fact.key)
                cos = float(vec @ query.search_vector) if vec is not None else hit.dense
                cov = sum(w for a, w in concepts if a & fact.terms) / total
                found = bool(query.counted & fact.counted) if query.counted else bool(query.answer_labels & fact.labels)
                x: tuple[float, ...] = (
                    cos,
                    hit.dense,
                    cov,
                    cov_p,
                    1.0 / (1 + hit.rank),
                    float(wanted),
                    float(wanted and found),
                    unknown,
                    float(defining and bool(fact.defines & asked or fact.subject in asked)),
                    float("process" in query.intents and fact.sequence),
                    float("risk" in query.intents and fact.key in self.library.risk_keys),
                    float(bool(query.intents & {"benefit", "cure"}) and fact.benefit),
                    unstated,
                )
                out.append((fact, x))
        return out

    def score(self, query: Query, hits: Sequence[Hit]) -> list[Scored]:
        scored = [Scored(f, x, self.model.probability(x)) for f, x in self.features(query, hits)]
        return sorted(scored, key=lambda s: -s.p)
