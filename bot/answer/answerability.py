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
from bot.corpus.frequency import specificity
from bot.corpus.library import TIME_LABELS, Library, SentenceFacts
from bot.query import Query

MODEL_FILE = Path(__file__).with_name("answerability.json")

FEATURES = (
    "cos_sentence",  # cosine of the question (with its context) and the sentence
    "cos_passage",  # dense similarity of the question and the sentence's paragraph
    "coverage",  # idf-weighted share of the question's words (or synonyms) in the sentence
    "coverage_passage",  # ... in the sentence's paragraph
    "type_wanted",  # the question asks for a kind of entity (a person, a number, a date...)
    "type_found",  # ... and the sentence has one
    "unknown",  # share of the question's weight in words no document uses
    "defines",  # a definition question, and the sentence spells out the term asked about
    "steps",  # a how-does-it-work question, and the sentence tells a step in a sequence
    "risk",  # a risk question, and the sentence is evidence of one of the document's caveats
    "benefit",  # a benefit or cure question, and the sentence states a benefit
    "unstated",  # the question states a number, name or premise word that no document states (or answers)
    "unknown_noun",  # the question asks about a thing (a noun) neither its document nor the vocabulary know
    "quoted",  # share of the numbers the question quotes that the sentence states
)


# The direction each feature may push the probability, from what it means (+1 only up, -1 only down, 0 either):
# more of the question's words in the sentence never makes it less of an answer, an unknown word never more.
# The fit keeps these signs, so a few dev questions cannot teach the model that the unknown helps.
SIGNS = {
    "cos_sentence": 1,
    "cos_passage": 0,
    "coverage": 1,
    "coverage_passage": 0,
    "type_wanted": 0,
    "type_found": 1,
    "unknown": -1,
    "defines": 1,
    "steps": 1,
    "risk": 1,
    "benefit": 0,
    "unstated": -1,
    "unknown_noun": -1,
    "quoted": 1,
}


@dataclass(frozen=True)
class Scored:
    """A candidate sentence, its features and the model's probability that it answers the question."""

    fact: SentenceFacts
    features: tuple[float, ...]
    p: float


# Does the documents' best sentence answer the question at all? A second, question-level model reads the
# ranker's best score with what the question itself shows (words no document knows, a premise it lacks ...).
# It reads the best candidate only, so a document whose sentences rank lower cannot change the decision.
DECISION_FEATURES = (
    "best",  # the ranker's log-odds for the best sentence
    "best_coverage",  # the best sentence's share of the question's words
    "best_cos",  # the best sentence's cosine with the question
    "unknown",  # share of the question's weight in words no document uses
    "unknown_noun",  # a noun neither the document nor the vocabulary know
    "unstated",  # a number, name or premise word no document states
    "type_missing",  # the question asks for a kind of entity the best sentence lacks
    "yes_no",  # a yes/no question
)
DECISION_SIGNS = {
    "best": 1,
    "best_coverage": 1,
    "best_cos": 1,
    "unknown": -1,
    "unknown_noun": -1,
    "unstated": -1,
    "type_missing": -1,
    "yes_no": 0,
}


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class Model:
    weights: tuple[float, ...]
    bias: float
    answer: float  # a sentence with this ranker probability answers (steps, each document's say)
    extra: float  # add further sentences that reach this
    related: float  # offer "the closest thing it does report" only from this
    fitted: dict[str, Any]
    decision_weights: tuple[float, ...] = ()
    decision_bias: float = 0.0
    decision_threshold: float = 0.5  # the documents answer when the decision model reaches this

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> Model:
        raw = json.loads(path.read_text(encoding="utf-8"))
        decision = raw.get("decision") or {}
        if list(raw["features"]) != list(FEATURES) or list(decision.get("features", ())) != list(DECISION_FEATURES):
            raise ValueError(f"{path} was fitted on other features; run `python -m bot fit`")
        t = raw["thresholds"]
        return cls(
            tuple(raw["weights"]),
            raw["bias"],
            t["answer"],
            t["extra"],
            t["related"],
            raw.get("fitted", {}),
            tuple(decision["weights"]),
            decision["bias"],
            decision["threshold"],
        )

    @classmethod
    def untrained(cls) -> Model:
        """Zero weights: for collecting features before the first fit."""
        return cls(tuple(0.0 for _ in FEATURES), 0.0, 1.0, 1.0, 1.0, {}, tuple(0.0 for _ in DECISION_FEATURES))

    def probability(self, x: Sequence[float]) -> float:
        return _sigmoid(self.bias + sum(w * v for w, v in zip(self.weights, x, strict=True)))

    def decides(self, x: Sequence[float]) -> float:
        """The probability that the documents answer the question, from its decision features."""
        return _sigmoid(self.decision_bias + sum(w * v for w, v in zip(self.decision_weights, x, strict=True)))


def decision_features(query: Query, scored: Sequence[Scored]) -> tuple[float, ...]:
    """What the question-level decision reads: the ranked candidates (best first) and the question."""
    if not scored:
        return (
            _logit(0.0),
            0.0,
            0.0,
            0.0,
            float(bool(query.unknown_nouns)),
            float(bool(query.unmet)),
            0.0,
            float(query.yes_no),
        )
    best = scored[0]
    x = dict(zip(FEATURES, best.features, strict=True))
    return (
        _logit(best.p),
        x["coverage"],
        x["cos_sentence"],
        x["unknown"],
        x["unknown_noun"],
        x["unstated"],
        float(x["type_wanted"] > 0 and x["type_found"] == 0),
        float(query.yes_no),
    )


def _matches(alternatives: frozenset[str], fact: SentenceFacts) -> bool:
    """A question word (or a synonym) is in the sentence; a phrase ("stem cell") as a phrase of its lemmas."""
    return bool(alternatives & fact.terms) or any(" " in a and f" {a} " in f" {fact.lemma_text} " for a in alternatives)


class Answerability:
    """Computes the features of every candidate sentence and scores them with the fitted model."""

    def __init__(self, library: Library, sentence_vectors: dict[tuple[str, int], np.ndarray], model: Model) -> None:
        self.library = library
        self.vectors = sentence_vectors
        self.model = model
        specificity("the")  # load the word frequencies now, not during the first question

    def _concepts(self, query: Query, idf: dict[str, float]) -> list[tuple[frozenset[str], float]]:
        """The question's words (with their synonyms) weighted by `idf`; a word it lacks weighs the most."""
        unknown_weight = max(idf.values(), default=self.library.unknown_weight)
        out = []
        for terms, scale in ((query.terms, 1.0), (query.context_terms, CONTEXT_WEIGHT)):
            for t in terms:
                alts = frozenset({t} | set(query.expansions.get(t, ())))
                known = [idf[a] for a in alts if a in idf]
                # A word no document uses weighs as much as it is particular: "fertility" much, "number" little.
                weight = idf.get(t) or (max(known) if known else unknown_weight * specificity(t))
                out.append((alts, weight * scale))
        return out

    def features(self, query: Query, hits: Sequence[Hit]) -> list[tuple[SentenceFacts, tuple[float, ...]]]:
        """Each sentence is weighed with its own document's statistics, so adding a document never changes how
        another document's sentences score."""
        docs = dict.fromkeys(h.passage.doc_id for h in hits)  # only the documents taking part
        concepts_of = {d: self._concepts(query, self.library.doc_idf[d]) for d in docs}
        own = [(a, w) for a, w in self._concepts(query, self.library.idf)[: len(query.terms)]]
        unknown = sum(w for a, w in own if not a & self.library.idf.keys()) / (sum(w for _, w in own) or 1.0)
        # Whether the question asks about a thing a document never names, judged by each document on its own: a
        # noun only another document uses ("phase") is as unknown to this one as it is when this one stands alone.
        unknown_noun_of = {d: float(any(not f & self.library.doc_words[d] for f in query.noun_forms)) for d in docs}
        wanted = bool(query.answer_labels or query.instances)
        defining = "definition" in query.intents
        asked = query.asked
        unstated = float(bool(query.unmet))
        # "How long ...?", "when ...?": a date or length of time answers when its clause is about what is asked
        # (a word of the question besides the cue), not any time the sentence mentions.
        cue_words = {w for cue in self.library.lexicon.answer_cues(query.lemma_text) for w in cue.split()}
        # The words of a reference point ("after the transplant") do not say what is measured, unless nothing else does.
        asked_terms = [(t, c) for t, c in zip(query.terms, own, strict=True) if t not in cue_words]
        measured = [(t, c) for t, c in asked_terms if t not in query.anchors] or asked_terms
        timed = [c for _, c in measured] if query.answer_labels and query.answer_labels <= TIME_LABELS else []
        second = bool(query.answer_labels - query.preferred_labels) and not query.counted and not timed
        out = []
        for hit in hits:
            p = hit.passage
            concepts = concepts_of[p.doc_id]
            total = sum(w for _, w in concepts) or 1.0
            facts = [self.library.sentences[(p.id, i)] for i in range(len(p.sentences))]
            cov_p = sum(w for a, w in concepts if any(_matches(a, f) for f in facts)) / total
            # "What about the other ...?": what the last answer quoted is not what is asked for now. A document's
            # headline restates its body in a few capitalised words: answers quote the body. Fitting reads these
            # same candidates, so the model is fitted on what it is served.
            headline = self.library.documents[p.doc_id].title
            for fact in (f for f in facts if f.key not in query.seen and p.text != headline):
                vec = self.vectors.get(fact.key)
                cos = float(vec @ query.search_vector) if vec is not None else hit.dense
                cov = sum(w for a, w in concepts if _matches(a, fact)) / total
                found = (
                    bool(query.counted & fact.counted)
                    if query.counted
                    else any(
                        label in query.answer_labels and any(a & words for a, _ in timed) for label, words in fact.timed
                    )
                    if timed
                    else bool(
                        query.answer_labels & fact.labels
                        or query.topic_words & fact.terms
                        or _matches(query.instances, fact)
                    )
                )
                x: tuple[float, ...] = (
                    cos,
                    hit.dense,
                    cov,
                    cov_p,
                    float(wanted),
                    # A kind the cue lists first counts in full; another kind it accepts, half ("rate": a percent
                    # before a count).
                    float(wanted and found) * (1.0 if not second or query.preferred_labels & fact.labels else 0.5),
                    unknown,
                    float(defining and bool(fact.defines & asked or fact.subject in asked)),
                    float("process" in query.intents and fact.sequence),
                    float("risk" in query.intents and fact.key in self.library.risk_keys),
                    float(bool(query.intents & {"benefit", "cure"}) and fact.benefit),
                    unstated,
                    unknown_noun_of[p.doc_id],
                    len(query.numbers & fact.numbers) / len(query.numbers) if query.numbers else 0.0,
                )
                out.append((fact, x))
        return out

    def score(self, query: Query, hits: Sequence[Hit]) -> list[Scored]:
        scored = [Scored(f, x, self.model.probability(x)) for f, x in self.features(query, hits)]
        return sorted(scored, key=lambda s: -s.p)

    def answers(self, query: Query, scored: Sequence[Scored]) -> bool:
        """Whether the documents answer the question (`scored` best first)."""
        return bool(self.answering_documents(query, scored))

    def answering_documents(self, query: Query, scored: Sequence[Scored]) -> list[str]:
        """The documents that answer the question, each decided on its own candidates (`scored` best first),
        the one with the best sentence first: whether one document answers never depends on another."""
        docs = list(dict.fromkeys(s.fact.passage.doc_id for s in scored))
        own = {d: [s for s in scored if s.fact.passage.doc_id == d] for d in docs}
        bar = self.model.decision_threshold
        return [d for d in docs if self.model.decides(decision_features(query, own[d])) >= bar]
