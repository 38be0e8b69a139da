"""`python -m bot fit`: fit the answerability model on the dev split and write answerability.json.

Labels come from the QA items: for a question the documents answer, the candidate sentences that contain one of
its reference quotes are positives and the rest negatives; for a question they do not answer, every candidate is
a negative. Personal-advice, emergency and other policy items are left out, and so are items whose expected
category allows both answered and not_in_article, and messages asking several questions (each is answered on its
own, and the item's one label fits none of them). Never run this on a test split.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.answer.answerability import (
    DECISION_FEATURES,
    DECISION_SIGNS,
    FEATURES,
    MODEL_FILE,
    SIGNS,
    Scored,
    decision_features,
)
from bot.evaluation.qa_format import QAItem
from bot.evaluation.support import normalize
from bot.reply import Category

if TYPE_CHECKING:
    from bot.chat import ChatBot
    from bot.corpus.library import SentenceFacts
    from bot.query import Query


def label_item(item: QAItem) -> bool | None:
    """True: the documents answer it; False: they do not; None: not used for fitting."""
    cats = set(item.expected_category)
    if cats == {Category.ANSWERED} and item.reference_quotes:
        return True
    if cats == {Category.NOT_IN_ARTICLE}:
        return False
    return None


Group = tuple[int, bool, "Query", list["SentenceFacts"]]


def collect(bot: ChatBot, items: Sequence[QAItem]) -> tuple[np.ndarray, np.ndarray, list[Group]]:
    """Features and labels of every candidate sentence, and per question (rows, whether it is answered, the
    analysed question, its candidate sentences)."""
    xs: list[tuple[float, ...]] = []
    ys: list[int] = []
    groups: list[Group] = []
    for item in items:
        answered = label_item(item)
        # A message asking several questions is answered one question at a time: its one label fits none of them.
        if answered is None or bot.analyzer.questions(item.question)[0]:
            continue
        history = [{"role": t.role, "content": t.content} for t in item.history]
        query = bot.analyzer.analyse(item.question, history)
        hits = bot.retriever.retrieve(query, k=2 * bot.settings.top_k)
        quotes = [normalize(q) for q in item.reference_quotes]
        rows = bot.answerability.features(query, hits)
        for fact, x in rows:
            s = normalize(fact.text)
            xs.append(x)
            ys.append(int(answered and any(q in s or s in q for q in quotes)))
        groups.append((len(rows), answered, query, [fact for fact, _ in rows]))
    return np.asarray(xs, dtype=float), np.asarray(ys), groups


def _best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """The middle of the cuts whose accuracy is within one standard error of the best: on a few hundred items the
    accuracy curve is flat across a wide range, and its single best point jumped between refits."""
    values = np.unique(scores)
    cuts = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    accuracy = np.asarray([float(np.mean((scores >= c) == truth)) for c in cuts])
    best = float(accuracy.max())
    se = math.sqrt(best * (1 - best) / max(len(scores), 1))
    return float(np.median(cuts[accuracy >= best - se - 1e-12]))


def logistic(x: np.ndarray, y: np.ndarray, signs: Sequence[int], c: float = 1.0) -> tuple[np.ndarray, float]:
    """Logistic regression with balanced class weights and an L2 penalty (as scikit-learn's with C=`c`), each
    weight kept to its feature's sign (+1: at least 0, -1: at most 0, 0: free). L-BFGS-B from SciPy."""
    from scipy.optimize import minimize
    from scipy.special import expit

    weight = np.where(y == 1, len(y) / (2 * max(y.sum(), 1)), len(y) / (2 * max((1 - y).sum(), 1)))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        z = x @ w + b
        value = float(np.sum(weight * (np.logaddexp(0, z) - y * z)) + 0.5 * w @ w / c)
        r = weight * (expit(z) - y)
        return value, np.append(x.T @ r + w / c, r.sum())

    bounds = [(0, None) if s > 0 else (None, 0) if s < 0 else (None, None) for s in signs] + [(None, None)]
    result = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    return result.x[:-1], float(result.x[-1])


STRENGTHS = (0.1, 0.3, 1.0, 3.0)  # the L2 strengths (scikit-learn's C) that cross-validation chooses from
FOLDS = 5


@dataclass(frozen=True)
class _Stages:
    coef: np.ndarray
    intercept: float
    d_coef: np.ndarray
    d_intercept: float
    decide: float


def _ranked(groups: Sequence[Group], x: np.ndarray, p: np.ndarray, which: Sequence[int]) -> list[list[Scored]]:
    starts = np.cumsum([0, *(g[0] for g in groups)])
    out = []
    for g in which:
        a, b = starts[g], starts[g + 1]
        rows = zip(groups[g][3], x[a:b], p[a:b], strict=True)
        out.append(sorted((Scored(f, tuple(row), float(q)) for f, row, q in rows), key=lambda s: -s.p))
    return out


def _fit_stages(x: np.ndarray, y: np.ndarray, groups: Sequence[Group], which: Sequence[int], c: float) -> _Stages:
    """The sentence ranker on the candidates of the questions `which`, then the question-level decision."""
    from scipy.special import expit

    starts = np.cumsum([0, *(g[0] for g in groups)])
    rows = np.concatenate([np.arange(starts[g], starts[g + 1]) for g in which])
    coef, intercept = logistic(x[rows], y[rows], [SIGNS[f] for f in FEATURES], c=c)
    p = expit(x @ coef + intercept)
    d = np.asarray(
        [decision_features(groups[g][2], r) for g, r in zip(which, _ranked(groups, x, p, which), strict=True)],
        dtype=float,
    )
    t = np.asarray([groups[g][1] for g in which], dtype=int)
    d_coef, d_intercept = logistic(d, t, [DECISION_SIGNS[f] for f in DECISION_FEATURES], c=c)
    decide = _best_threshold(expit(d @ d_coef + d_intercept), t.astype(bool))
    return _Stages(coef, intercept, d_coef, d_intercept, decide)


def cross_validate(x: np.ndarray, y: np.ndarray, groups: Sequence[Group], c: float) -> tuple[float, np.ndarray]:
    """Over FOLDS folds of whole questions dealt in a fixed order: the share of held-out dev questions handled
    right (the decision, and for an answerable one the top sentence), and each question's held-out decision
    probability."""
    from scipy.special import expit

    starts = np.cumsum([0, *(g[0] for g in groups)])
    right = 0
    held_p = np.zeros(len(groups))
    for k in range(FOLDS):
        train = [g for g in range(len(groups)) if g % FOLDS != k]
        held = [g for g in range(len(groups)) if g % FOLDS == k]
        stages = _fit_stages(x, y, groups, train, c)
        p = expit(x @ stages.coef + stages.intercept)
        for g, ranked in zip(held, _ranked(groups, x, p, held), strict=True):
            d = np.asarray(decision_features(groups[g][2], ranked))
            held_p[g] = float(expit(d @ stages.d_coef + stages.d_intercept)) if ranked else 0.0
            says = bool(held_p[g] >= stages.decide) if ranked else False
            answered = groups[g][1]
            top = bool(y[starts[g] + int(np.argmax(p[starts[g] : starts[g + 1]]))]) if ranked else False
            right += says == answered and (not answered or top)
    return right / max(len(groups), 1), held_p


def choose_strength(scores: dict[float, float], questions: int) -> float:
    """The strongest penalty whose held-out score is within one standard error of the best (the one-standard-
    error rule): on a few hundred questions, scores one question apart are noise, and chasing them made the
    choice flip between refits that differed in one vocabulary line."""
    best = max(scores.values())
    se = math.sqrt(best * (1 - best) / max(questions, 1))
    return min(c for c, score in scores.items() if score >= best - se)


def fit(bot: ChatBot, items: Sequence[QAItem], files: Sequence[Path]) -> dict[str, Any]:
    from scipy.special import expit

    x, y, groups = collect(bot, items)
    runs = {c: cross_validate(x, y, groups, c) for c in STRENGTHS}
    scores = {c: run[0] for c, run in runs.items()}
    c = choose_strength(scores, len(groups))
    stages = _fit_stages(x, y, groups, range(len(groups)), c)
    # The decision's cut from held-out probabilities: a cut fitted where the model has seen the answers sits
    # where those few questions happen to fall, and moved by a third between refits one vocabulary line apart.
    _, held_p = runs[c]
    stages = replace(stages, decide=_best_threshold(held_p, np.asarray([g[1] for g in groups])))
    p = expit(x @ stages.coef + stages.intercept)
    ranked = _ranked(groups, x, p, range(len(groups)))
    truth = [g[1] for g in groups]
    answer = _best_threshold(np.asarray([float(r[0].p) if r else 0.0 for r in ranked]), np.asarray(truth))
    d = np.asarray([decision_features(g[2], r) for g, r in zip(groups, ranked, strict=True)])
    d_p = expit(d @ stages.d_coef + stages.d_intercept)
    t = np.asarray(truth, dtype=int)
    positives = y == 1
    # Further sentences join the answer from the score where showing candidates best balances the answering
    # sentences found against the others shown (F1). Accuracy would ask for near certainty: most candidates are
    # not answers, so leaving every one out is already "accurate".
    order = np.argsort(-p)
    found = np.cumsum(positives[order])
    f1 = 2 * found / (np.arange(1, len(p) + 1) + positives.sum())
    extra = float(p[order][int(np.argmax(f1))])
    # "The closest thing it does report" only where a candidate is at least an even bet to be on the question:
    # the lowest score from which half or more of the dev candidates are positives.
    precision = found / np.arange(1, len(p) + 1)
    related = float(p[order][np.nonzero(precision >= 0.5)[0].max()]) if (precision >= 0.5).any() else answer
    return {
        "features": list(FEATURES),
        "weights": [round(float(w), 6) for w in stages.coef],
        "bias": round(stages.intercept, 6),
        "thresholds": {"answer": round(answer, 6), "extra": round(max(extra, answer), 6), "related": round(related, 6)},
        "decision": {
            "features": list(DECISION_FEATURES),
            "weights": [round(float(w), 6) for w in stages.d_coef],
            "bias": round(stages.d_intercept, 6),
            "threshold": round(stages.decide, 6),
        },
        "fitted": {
            "date": dt.date.today().isoformat(),
            "files": {f.as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()[:16] for f in files},
            "questions": len(groups),
            "candidates": len(y),
            "positives": int(positives.sum()),
            "dev_decision_accuracy": round(float(np.mean((d_p >= stages.decide) == t.astype(bool))), 4),
            "strength_c": c,
            "cross_validated": {str(k): round(v, 4) for k, v in scores.items()},
        },
    }


def write(model: dict[str, Any], path: Path = MODEL_FILE) -> None:
    path.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
