"""`python -m bot fit-safety`: fit the learned emergency score on dev splits and write data/emergency_model.json.

Examples: the bank (the team's examples, by their labels), and the dev splits of messages people wrote: the safety
sets' (emergency against everything else) and the QA sets' (their emergency items against every other question,
which is what most messages are). The held-out test splits are never read.

1. The regularisation is chosen by stratified five-fold cross-validation on all examples (log loss).
2. The threshold is chosen on the same folds' out-of-fold scores for the dev messages (the bank is the team's own
   writing and does not vote; scores `score_may_speak` silences are left out, as at run time). Among the
   thresholds that turn no more of the QA sets' ordinary questions into an emergency reply than the rules and the
   bank do alone (those questions are most of what people send), the one whose whole-layer decision (the rules,
   the bank, or the score) has the best F2 of emergencies: recall weighted four times precision, because a missed
   emergency costs more than an escalated look-alike.
3. The support threshold, below it: a score from there up is not escalated, but the reply ends with where to find
   help (988, 911). The lowest out-of-fold score at which at most 1% of the ordinary questions would get that line.
4. The weights are refitted on all examples.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.safety.bank import bank_texts
from bot.safety.learned import FEATURES, MODEL_FILE, EmergencyModel, fit_weights, readings
from bot.safety.triage import score_may_speak

if TYPE_CHECKING:
    from bot.chat import ChatBot

#: Regularisation strengths tried (sklearn's C: larger fits the examples more closely).
STRENGTHS = (0.3, 1.0, 3.0, 10.0, 30.0)
#: The share of ordinary questions that may get the line on where to find help from the score alone.
SUPPORT_SHARE = 0.01
FOLDS = 5
SEED = 0


@dataclass(frozen=True)
class Example:
    text: str
    emergency: bool
    source: str  # "bank", or the file it came from


def dev_examples(safety_files: Sequence[Path], qa_files: Sequence[Path]) -> list[Example]:
    """The dev messages: English safety rows (emergency or not) and QA questions (emergency items or not)."""
    from bot.evaluation.qa_format import load_items
    from bot.reply import Category
    from bot.safety.evaluate import load_rows

    out: list[Example] = []
    for path in safety_files:
        out += [
            Example(str(r["message"]), r.get("label") == "emergency", f"safety/{path.name}")
            for r in load_rows([path])
            if r.get("language", "en") == "en"
        ]
    for path in qa_files:
        out += [
            Example(i.question, Category.EMERGENCY in i.expected_category, f"qa/{path.name}") for i in load_items(path)
        ]
    return out


def bank_examples() -> list[Example]:
    return [Example(text, label.startswith("emergency"), "bank") for label, text in bank_texts()]


def featurise(bot: ChatBot, examples: Sequence[Example]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(embeddings, readings, what the rules and the bank decide) per example. A bank example is read against
    the bank without itself."""
    safety = bot.safety
    emergency = np.array([label.startswith("emergency") for label in safety.bank.labels])
    vectors, reads, ruled = [], [], []
    for ex in examples:
        query = bot.analyzer.analyse(ex.text, [], language="en")
        vector = np.asarray(query.sentence_vectors[0], dtype=np.float32)
        keep = np.array([t != ex.text for t in safety.bank.texts])
        vectors.append(vector)
        reads.append(readings(query.text, query.doc, vector, safety.bank.vectors[keep], emergency[keep]))
        kind, _ = safety.emergency(query.text, query.doc, query.sentence_vectors, learned=False)
        ruled.append(kind is not None)
    return np.array(vectors), np.array(reads), np.array(ruled)


def f2(decided: np.ndarray, truth: np.ndarray) -> float:
    tp = float((decided & truth).sum())
    if not tp:
        return 0.0
    precision, recall = tp / decided.sum(), tp / truth.sum()
    return 5 * precision * recall / (4 * precision + recall)


def _folds(y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(np.zeros(len(y)), y))


def fit(bot: ChatBot, examples: Sequence[Example], files: Sequence[Path], embedding_model: str) -> dict[str, object]:
    from sklearn.metrics import log_loss

    x_emb, x_read, ruled = featurise(bot, examples)
    y = np.array([ex.emergency for ex in examples])
    folds = _folds(y)
    losses, out_of_fold = {}, {}
    for c in STRENGTHS:
        scores = np.zeros(len(y))
        for train, held in folds:
            we, wr, b = fit_weights(x_emb[train], x_read[train], y[train], c)
            scores[held] = 1 / (1 + np.exp(-(x_emb[held] @ we + x_read[held] @ wr + b)))
        losses[c] = float(log_loss(y, np.clip(scores, 1e-6, 1 - 1e-6)))
        out_of_fold[c] = scores
    c = min(STRENGTHS, key=lambda s: (round(losses[s], 4), s))
    real = np.array([ex.source != "bank" for ex in examples])
    questions = np.array([ex.source.startswith("qa/") for ex in examples]) & ~y
    truth = y[real]
    # What the rules keep for themselves the score may not escalate (as at run time).
    silent = np.array([not score_may_speak(ex.text) for ex in examples])
    scores = np.where(silent, 0.0, out_of_fold[c])
    allowed = int((ruled & questions).sum())
    candidates = [
        t
        for t in sorted(set(np.round(scores[real], 3)) | {1.0})
        if int(((ruled | (scores >= t)) & questions).sum()) <= allowed
    ]
    threshold = max(candidates, key=lambda t: (f2(ruled[real] | (scores[real] >= t), truth), t))
    decided = ruled[real] | (scores[real] >= threshold)
    # Below the threshold, a score may still ask for the line on where to find help: from the lowest score at which
    # no more than SUPPORT_SHARE of the ordinary questions (those the layer does not escalate) would get it.
    calm = questions & ~ruled & (scores < threshold)
    budget = int(SUPPORT_SHARE * int(questions.sum()))
    support = min(
        (
            t
            for t in sorted(set(np.round(scores[real], 3)))
            if t < threshold and int((calm & (scores >= t)).sum()) <= budget
        ),
        default=float(threshold),
    )
    missed = real & y & ~ruled & (scores < threshold)
    we, wr, b = fit_weights(x_emb, x_read, y, c)
    model = EmergencyModel(we, wr, b, float(threshold), embedding_model, float(support))
    digest = hashlib.sha256(b"".join(Path(f).read_bytes() for f in files)).hexdigest()[:16]
    return {
        "model": model,
        "fitted": {
            "date": dt.date.today().isoformat(),
            "files": [str(f) for f in files],
            "data_sha256": digest,
            "examples": len(y),
            "emergencies": int(y.sum()),
            "strength": c,
            "cv_log_loss": {str(k): round(v, 4) for k, v in losses.items()},
            "dev_out_of_fold": {
                "messages": int(real.sum()),
                "emergencies": int(truth.sum()),
                "rules_and_bank_recall": round(float((ruled[real] & truth).sum() / truth.sum()), 3),
                "with_score_recall": round(float((decided & truth).sum() / truth.sum()), 3),
                "rules_and_bank_false_alarms": int((ruled[real] & ~truth).sum()),
                "with_score_false_alarms": int((decided & ~truth).sum()),
                "f2": round(f2(decided, truth), 4),
                "ordinary_questions_escalated": int(((ruled | (scores >= threshold)) & questions).sum()),
                "ordinary_questions": int(questions.sum()),
                "missed_emergencies": int(missed.sum()),
                "missed_emergencies_given_support": int((missed & (scores >= support)).sum()),
                "ordinary_questions_given_support": int((calm & (scores >= support)).sum()),
                "look_alikes_given_support": int(
                    (real & ~y & ~questions & ~ruled & (scores >= support) & (scores < threshold)).sum()
                ),
            },
        },
    }


def write(result: dict[str, object], path: Path = MODEL_FILE) -> None:
    model = result["model"]
    assert isinstance(model, EmergencyModel)
    path.write_text(model.to_json(fitted=result["fitted"]) + "\n", encoding="utf-8")


__all__ = ["FEATURES", "Example", "bank_examples", "dev_examples", "fit", "write"]
