"""The answerability model is what `python -m bot fit` makes of the dev splits, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.answer.answerability import FEATURES, MODEL_FILE, Model
from bot.answer.fit import fit, label_item
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
