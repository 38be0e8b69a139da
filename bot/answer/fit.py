"""`python -m bot fit`: fit the answerability model on the dev split and write answerability.json.

Labels come from the QA items: for a question the documents answer, the candidate sentences that contain one of
its reference quotes are positives and the rest negatives; for a question they do not answer, every candidate is
a negative. Personal-advice, emergency and other policy items are left out, and so are items whose expected
category allows both answered and not_in_article. Never run this on a test split.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.answer.answerability import FEATURES, MODEL_FILE
from bot.evaluation.qa_format import QAItem
from bot.evaluation.support import normalize
from bot.reply import Category

if TYPE_CHECKING:
    from bot.chat import ChatBot


def label_item(item: QAItem) -> bool | None:
    """True: the documents answer it; False: they do not; None: not used for fitting."""
    cats = set(item.expected_category)
    if cats == {Category.ANSWERED} and item.reference_quotes:
        return True
    if cats == {Category.NOT_IN_ARTICLE}:
        return False
    return None


def collect(bot: ChatBot, items: Sequence[QAItem]) -> tuple[np.ndarray, np.ndarray, list[tuple[int, bool]]]:
    """Features and labels of every candidate sentence, and per question (rows, whether it is answered)."""
    xs: list[tuple[float, ...]] = []
    ys: list[int] = []
    groups: list[tuple[int, bool]] = []
    for item in items:
        answered = label_item(item)
        if answered is None:
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
        groups.append((len(rows), answered))
    return np.asarray(xs, dtype=float), np.asarray(ys), groups


def _best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """The cut that classifies best (accuracy), midway between neighbouring scores; ties go to the higher cut."""
    values = np.unique(scores)
    cuts = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    accuracy = [float(np.mean((scores >= c) == truth)) for c in cuts]
    best = max(accuracy)
    return float(cuts[max(i for i, a in enumerate(accuracy) if a == best)])


def fit(bot: ChatBot, items: Sequence[QAItem], files: Sequence[Path]) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    x, y, groups = collect(bot, items)
    model = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
    model.fit(x, y)
    p = model.predict_proba(x)[:, 1]
    best, truth, start = [], [], 0
    for n, answered in groups:
        best.append(float(p[start : start + n].max()) if n else 0.0)
        truth.append(answered)
        start += n
    answer = _best_threshold(np.asarray(best), np.asarray(truth))
    positives = y == 1
    extra = _best_threshold(p, positives)
    # "The closest thing it does report" only where a candidate is at least an even bet to be on the question:
    # the lowest score from which half or more of the dev candidates are positives.
    order = np.argsort(-p)
    precision = np.cumsum(positives[order]) / np.arange(1, len(p) + 1)
    related = float(p[order][np.nonzero(precision >= 0.5)[0].max()]) if (precision >= 0.5).any() else answer
    return {
        "features": list(FEATURES),
        "weights": [round(float(w), 6) for w in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 6),
        "thresholds": {"answer": round(answer, 6), "extra": round(max(extra, answer), 6), "related": round(related, 6)},
        "fitted": {
            "date": dt.date.today().isoformat(),
            "files": {f.as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()[:16] for f in files},
            "questions": len(groups),
            "candidates": len(y),
            "positives": int(positives.sum()),
            "dev_decision_accuracy": round(float(np.mean((np.asarray(best) >= answer) == np.asarray(truth))), 4),
        },
    }


def write(model: dict[str, Any], path: Path = MODEL_FILE) -> None:
    path.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
