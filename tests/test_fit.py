"""The answerability model is what `python -m bot fit` makes of the dev splits, and nothing else."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.answer.answerability import DECISION_FEATURES, DECISION_SIGNS, FEATURES, MODEL_FILE, SIGNS, Model
from bot.answer.fit import STRENGTHS, _best_threshold, choose_strength, fit, label_item, logistic
from bot.chat import ChatBot
from bot.cli import DEV_SETS, app
from bot.evaluation.qa_format import load_items
from tests.conftest import ROOT


@pytest.mark.slow
def test_the_committed_model_is_the_fit_of_the_dev_splits(bot: ChatBot) -> None:
    untrained = ChatBot(
        settings=bot.settings,
        embeddings=bot.embeddings,
        index=bot.index,
        documents=bot.documents,
        nlp=bot.nlp,
        safety=bot.safety,
        model=Model.untrained(),
    )
    files = [ROOT / f for f in DEV_SETS]
    refit = fit(untrained, [i for f in files for i in load_items(f)], files)
    committed = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    assert refit["features"] == committed["features"] == list(FEATURES)
    assert refit["weights"] == pytest.approx(committed["weights"], abs=1e-4)
    assert refit["thresholds"] == pytest.approx(committed["thresholds"], abs=1e-4)
    assert refit["decision"]["features"] == committed["decision"]["features"] == list(DECISION_FEATURES)
    assert refit["decision"]["weights"] == pytest.approx(committed["decision"]["weights"], abs=1e-4)
    assert refit["decision"]["threshold"] == pytest.approx(committed["decision"]["threshold"], abs=1e-4)
    assert {Path(f).name for f in committed["fitted"]["files"]} == {f.name for f in files}
    assert all(".test." not in f for f in committed["fitted"]["files"]), "never fitted on a frozen test split"


def test_fit_refuses_a_frozen_test_split() -> None:
    result = CliRunner().invoke(app, ["fit", "tests/data/qa/own.test.jsonl"])
    assert result.exit_code == 2
    assert "frozen test split" in result.output


def test_items_that_allow_both_answers_are_not_used_for_fitting() -> None:
    items = {i.id: i for i in load_items(ROOT / DEV_SETS[0])}
    labels: dict[str, Any] = {k: label_item(v) for k, v in items.items()}
    assert True in labels.values() and False in labels.values()
    both = [k for k, v in items.items() if {str(c) for c in v.expected_category} == {"answered", "not_in_article"}]
    assert both and all(labels[k] is None for k in both)


def test_weights_keep_the_direction_their_features_mean() -> None:
    """However the dev data falls, more of the question in a sentence never counts against it and a word no
    document knows never counts for it."""
    committed = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    for names, signs, weights in (
        (FEATURES, SIGNS, committed["weights"]),
        (DECISION_FEATURES, DECISION_SIGNS, committed["decision"]["weights"]),
    ):
        for name, w in zip(names, weights, strict=True):
            assert w * signs[name] >= 0, f"{name} has weight {w} against its sign {signs[name]}"


def test_constrained_fit_matches_plain_logistic_regression_when_the_signs_agree() -> None:
    """The bounded fit is ordinary regularised logistic regression (as scikit-learn's) inside its bounds."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x @ np.array([2.0, -1.0, 0.5]) + rng.normal(size=400) > 0).astype(int)
    ours, bias = logistic(x, y, [1, -1, 0])
    theirs = LogisticRegression(C=1.0, class_weight="balanced").fit(x, y)
    assert ours == pytest.approx(theirs.coef_[0], abs=1e-3)
    assert bias == pytest.approx(theirs.intercept_[0], abs=1e-3)
    capped, _ = logistic(x, y, [-1, 1, 0])  # signs against the data: held at zero, not flipped
    assert capped[0] == pytest.approx(0.0, abs=1e-8) and capped[1] == pytest.approx(0.0, abs=1e-8)


def test_the_penalty_is_chosen_by_cross_validation_on_whole_questions(bot: ChatBot) -> None:
    """The committed model records the held-out score of every penalty it tried and uses the strongest one
    within a standard error of the best."""
    committed = json.loads(MODEL_FILE.read_text(encoding="utf-8"))["fitted"]
    scores = {float(k): v for k, v in committed["cross_validated"].items()}
    assert set(scores) == set(STRENGTHS)
    assert all(0.0 < v <= 1.0 for v in scores.values())
    assert committed["strength_c"] == choose_strength(scores, committed["questions"])
    best = max(scores.values())
    assert scores[committed["strength_c"]] >= best - math.sqrt(best * (1 - best) / committed["questions"])


def test_the_one_standard_error_rule_prefers_the_stronger_penalty_unless_it_is_clearly_worse() -> None:
    # 100 questions: one standard error of 0.70 is about 0.046.
    assert choose_strength({0.1: 0.68, 0.3: 0.70, 1.0: 0.69}, 100) == 0.1
    assert choose_strength({0.1: 0.60, 0.3: 0.70, 1.0: 0.69}, 100) == 0.3


def test_a_cut_moves_little_when_a_refit_moves_every_score_a_little() -> None:
    """Two overlapping classes the size of the dev set (56 gaps, 137 answerable); a refit moves every score a
    little. The cut, taken from the middle of the near-best range, moves about 0.015 on average; the best single
    point (the rule before) moved 0.028 on the same draws."""
    rng = np.random.default_rng(0)
    truth = np.asarray([False] * 56 + [True] * 137)
    moves = []
    for _ in range(300):
        scores = np.concatenate([rng.normal(0.35, 0.15, 56), rng.normal(0.6, 0.15, 137)])
        refit = scores + rng.normal(0, 0.03, len(scores))
        moves.append(abs(_best_threshold(scores, truth) - _best_threshold(refit, truth)))
        assert np.mean((scores >= _best_threshold(scores, truth)) == truth) >= 0.75
    assert float(np.mean(moves)) < 0.02
