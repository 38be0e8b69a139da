"""A learned emergency score, for what the concept rules and the example bank miss: a crisis told in words that
no list holds ("I just want to sleep and never wake up", "I've written the letters").

The score is a logistic regression over two kinds of evidence the pipeline has already computed for the message:
- its embedding (row 0 of the vectors `Safety.check` receives; the same vector the answer side uses), which
  carries what the message is about;
- a few readings of the parsed message that tell *now* from *then*, *never* or *in general*: how many of its
  verbs are in the past tense, ConText's negation, history and hypothesis cues anywhere in it, words of time
  ("tonight", "right now" against "two days ago", "last year"), who it speaks of, whether it asks, what the concept
  rules found and whether ConText cancelled it, and how near it is to the bank's emergency and calm examples.

ConText's readings are evidence for the score, not a veto over it: a veto on messages whose every finding ConText
cancelled cost emergencies on the dev splits and saved about as many false alarms (out-of-fold recall 0.832
against 0.837), and a missed emergency costs more.

Weights, the regularisation and the threshold are fitted by `python -m bot fit-safety` on messages people wrote
(the dev splits under tests/data/safety and tests/data/qa) and written to data/emergency_model.json; the held-out
splits are only reported (`python -m bot safety-eval`). A message the score escalates gets the reply of the
kind its nearest bank emergency example has, or the general one.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from spacy.tokens import Doc

from bot.safety.pipes import DATA, findings

MODEL_FILE = DATA / "emergency_model.json"
_I = re.IGNORECASE

#: Readings of the parsed message, in the order of the model's weights after the embedding's.
FEATURES = (
    "past_verbs",
    "present_verbs",
    "first_person",
    "other_person",
    "question",
    "negation_cue",
    "historical_cue",
    "hypothetical_cue",
    "now_words",
    "then_words",
    "concept_current",
    "concept_cancelled",
    "bank_emergency",
    "bank_other",
)

_NOW = re.compile(
    r"\b(now|right now|tonight|today|this (morning|afternoon|evening)|at the moment|currently|still|"
    r"keeps?|getting worse|anymore|any more|can'?t|cannot)\b",
    _I,
)
_THEN = re.compile(
    r"\b(\w+ (days?|weeks?|months?|years?) ago|ago|last (night|week|month|year|time)|yesterday|back then|"
    r"used to|at the time|in (19|20)\d\d|when i was|years? later|since then|turned out|in the end)\b",
    _I,
)
_FIRST = re.compile(r"\b(i|i'm|im|i've|ive|i'd|i'll|me|my|myself)\b", _I)
_OTHER = re.compile(
    r"\b(he|she|he's|she's|his|her|him|husband|wife|son|daughter|mum|mom|dad|mother|father|partner|friend|"
    r"brother|sister|baby|toddler|child|kid|grand\w+)\b",
    _I,
)


def readings(
    text: str, doc: Doc, vector: np.ndarray, bank_vectors: np.ndarray, bank_emergency: np.ndarray
) -> np.ndarray:
    """The message's readings, in FEATURES order (each in [0, 1] or a cosine)."""
    tenses = [t.morph.get("Tense", []) for t in doc if t.pos_ in ("VERB", "AUX")]
    finite = [t[0] for t in tenses if t]
    graph = doc._.context_graph if Doc.has_extension("context_graph") else None
    cues = {str(m.category) for m in graph.modifiers} if graph is not None else set()
    found = findings(doc)
    if len(bank_vectors):
        sims = bank_vectors @ vector
        near_emergency = float(sims[bank_emergency].max()) if bank_emergency.any() else 0.0
        near_other = float(sims[~bank_emergency].max()) if (~bank_emergency).any() else 0.0
    else:
        near_emergency = near_other = 0.0
    return np.array(
        [
            sum(t == "Past" for t in finite) / len(finite) if finite else 0.0,
            sum(t == "Pres" for t in finite) / len(finite) if finite else 0.0,
            float(bool(_FIRST.search(text))),
            float(bool(_OTHER.search(text))),
            float("?" in text),
            float("NEGATED_EXISTENCE" in cues),
            float("HISTORICAL" in cues),
            float(bool(cues & {"HYPOTHETICAL", "GENERAL"})),
            float(bool(_NOW.search(text))),
            float(bool(_THEN.search(text))),
            float(any(f.current for f in found)),
            float(any(not f.current for f in found)),
            near_emergency,
            near_other,
        ],
        dtype=np.float32,
    )


@dataclass(frozen=True)
class EmergencyModel:
    """The fitted weights: one per embedding dimension, then one per reading; the bias and the threshold."""

    embedding_weights: np.ndarray
    reading_weights: np.ndarray
    bias: float
    threshold: float
    embedding_model: str
    #: A score from here up to `threshold` is not escalated, but the reply ends with where to find help.
    support_threshold: float = 1.0

    def escalates(self, vector: np.ndarray, reading: np.ndarray) -> tuple[bool, float]:
        """(whether the score escalates, the score)."""
        score = self.probability(vector, reading)
        return score >= self.threshold, score

    def probability(self, vector: np.ndarray, reading: np.ndarray) -> float:
        z = float(vector @ self.embedding_weights + reading @ self.reading_weights + self.bias)
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def to_json(self, **extra: object) -> str:
        return json.dumps(
            {
                "embedding_model": self.embedding_model,
                "threshold": round(self.threshold, 4),
                "support_threshold": round(self.support_threshold, 4),
                "bias": self.bias,
                "features": list(FEATURES),
                "reading_weights": [float(w) for w in self.reading_weights],
                "embedding_weights": [round(float(w), 6) for w in self.embedding_weights],
                **extra,
            },
            indent=1,
        )


class ModelFileError(ValueError):
    """data/emergency_model.json is missing a field or was fitted for other features or another model."""


def parse_model(raw: dict[str, object], source: str) -> EmergencyModel:
    try:
        features = list(raw["features"])  # type: ignore[call-overload]
        weights = np.asarray(raw["embedding_weights"], dtype=np.float32)
        model = EmergencyModel(
            embedding_weights=weights,
            reading_weights=np.asarray(raw["reading_weights"], dtype=np.float32),
            bias=float(raw["bias"]),  # type: ignore[arg-type]
            threshold=float(raw["threshold"]),  # type: ignore[arg-type]
            embedding_model=str(raw["embedding_model"]),
            support_threshold=float(raw["support_threshold"]),  # type: ignore[arg-type]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{source}: not a fitted emergency model ({exc!r}); run `python -m bot fit-safety`"
        ) from exc
    if features != list(FEATURES) or len(model.reading_weights) != len(FEATURES):
        raise ModelFileError(f"{source}: fitted for features {features}, the code reads {list(FEATURES)}; refit")
    return model


def load_model(embedding_model: str, path: Path = MODEL_FILE) -> EmergencyModel | None:
    """The fitted model for this embedding model, or None when none was fitted for it (the rules and the bank
    then decide alone, as they did before there was a model). A file that is there but unreadable is an error."""
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: not JSON ({exc}); run `python -m bot fit-safety`") from exc
    if not isinstance(raw, dict) or raw.get("embedding_model") != embedding_model:
        return None
    return parse_model(raw, str(path))


def fit_weights(
    x_embedding: np.ndarray, x_readings: np.ndarray, y: np.ndarray, c: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Logistic regression over the embedding and the readings, classes balanced."""
    from sklearn.linear_model import LogisticRegression

    x = np.hstack([x_embedding, x_readings])
    lr = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(x, np.asarray(y))
    coef = lr.coef_[0]
    dims = x_embedding.shape[1]
    return coef[:dims].astype(np.float32), coef[dims:].astype(np.float32), float(lr.intercept_[0])
