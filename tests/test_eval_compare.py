"""The evaluator's report v2: metric definitions, thresholds, a failures-only view, and `--compare OLD` showing
what changed question by question (the CLI run with the real session bot on a slice of the dev set)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bot.evaluation import cli as eval_cli
from bot.evaluation.compare import CompareError, compare_reports, load_report, paired_test
from tests.conftest import DATA

QA = DATA / "qa" / "own.dev.jsonl"


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("eval")(eval_cli.eval_command)
    app.command("other")(lambda: None)
    return app


def _question(qid: str, passed: bool, category: str, checks: list[str], answer: str = "a") -> dict[str, Any]:
    return {"id": qid, "question": f"q {qid}", "passed": passed, "category": category, "answer": answer,
            "failed_checks": checks}  # fmt: skip


def test_compare_reports_names_each_kind_of_change() -> None:
    old = {
        "aggregate": {"n": 4, "passed": 2, "category_accuracy": 0.5, "fabrication_rate": 0.25},
        "questions": [
            _question("a", True, "answered", []),
            _question("b", False, "answered", ["category"]),
            _question("c", True, "answered", [], "old words"),
            _question("gone", True, "answered", []),
        ],
    }
    new = {
        "aggregate": {"n": 4, "passed": 2, "category_accuracy": 0.75, "fabrication_rate": 0.5},
        "questions": [
            _question("a", False, "not_in_article", ["category", "must_include"]),
            _question("b", True, "emergency", []),
            _question("c", True, "answered", [], "new words"),
            _question("new", True, "greeting", []),
        ],
    }
    comp = compare_reports(old, new, "v1")
    kinds = {c.id: c.change for c in comp.changes}
    assert kinds == {"a": "broke", "b": "fixed", "c": "changed", "new": "added", "gone": "removed"}
    broke = comp.changes[0]
    assert broke.id == "a" and broke.newly_failed == ("category", "must_include") and broke.old_category == "answered"
    assert comp.metrics["category_accuracy"] == {"old": 0.5, "new": 0.75, "delta": 0.25, "better": "new"}
    assert comp.metrics["fabrication_rate"]["better"] == "old"  # lower is better
    assert comp.counts["broke"] == 1 and comp.unchanged == 0


def test_a_change_of_a_few_questions_is_not_called_a_real_one() -> None:
    # The exact McNemar test reads only the questions that changed: 3 fixed against 1 broken is chance.
    assert paired_test(3, 1)["significant"] is False
    assert paired_test(0, 0) == {"test": "exact McNemar", "fixed": 0, "broke": 0, "p_value": 1.0, "significant": False}
    # Twelve fixed and none broken: 2 * (1/2)^12, too unlikely for chance.
    sure = paired_test(12, 0)
    assert sure["significant"] is True and sure["p_value"] == round(2 * 0.5**12, 4)
    # It is symmetric: as much evidence of a loss as of a gain.
    assert paired_test(0, 12)["p_value"] == sure["p_value"]
    old = {"questions": [_question(str(i), False, "answered", ["category"]) for i in range(12)]}
    new = {"questions": [_question(str(i), True, "answered", []) for i in range(12)]}
    assert compare_reports(old, new).paired == sure


def test_load_report_refuses_what_is_not_a_report(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}", encoding="utf-8")
    with pytest.raises(CompareError, match=r"not a report\.json"):
        load_report(tmp_path / "x.json")
    with pytest.raises(CompareError, match="cannot read"):
        load_report(tmp_path / "missing.json")


@pytest.mark.slow
def test_eval_compare_shows_the_question_by_question_diff(bot: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(eval_cli, "make_bot", lambda: bot)
    lines = QA.read_text(encoding="utf-8").splitlines()[:5]
    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(lines) + "\n", encoding="utf-8")
    runner = CliRunner()
    first = runner.invoke(_app(), ["eval", str(small), "--out", str(tmp_path / "old"), "--fail-under", "passed=1"])
    assert first.exit_code == 0, first.output
    # Pretend the first question failed last time, in another category.
    old_path = tmp_path / "old" / "report.json"
    old = json.loads(old_path.read_text(encoding="utf-8"))
    flipped = next(q for q in old["questions"] if q["passed"])
    flipped.update(passed=False, category="out_of_scope", failed_checks=["category"], answer="something else")
    old_path.write_text(json.dumps(old), encoding="utf-8")

    second = runner.invoke(
        _app(),
        ["eval", str(small), "--out", str(tmp_path / "new"), "--compare", str(old_path), "--fail-under", "passed=1"],
    )
    assert second.exit_code == 0, second.output
    qid = flipped["id"]
    assert re.search(rf"(FIXED|CHANGED)\s+{re.escape(qid)}: out_of_scope -> ", second.output)
    comp = json.loads((tmp_path / "new" / "compare.json").read_text(encoding="utf-8"))
    assert comp["questions"][0]["id"] == qid and comp["unchanged"] == 4
    # One question changed: the evaluator is told that this is no evidence either way.
    assert comp["paired"]["significant"] is False and "not evidence of a real change" in second.output
    html = (tmp_path / "new" / "report.html").read_text(encoding="utf-8")
    assert "Changes since" in html and f"<code>{qid}</code>" in html
    assert "What the metrics mean" in html and "<dt><code>citation_precision</code></dt>" in html
    assert '<td>passed</td><td class="num">≥ 1</td>' in html and '<span class="met">met</span>' in html
    assert 'id="failures-only"' in html and "<script" not in html.lower()
    bad = runner.invoke(_app(), ["eval", str(small), "--out", str(tmp_path / "x"), "--compare", str(small)])
    assert bad.exit_code == 2 and "--compare" in bad.output


@pytest.mark.slow
def test_several_sets_give_each_set_and_all_together_with_intervals_and_one_paired_test(
    bot: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(eval_cli, "make_bot", lambda: bot)
    lines = QA.read_text(encoding="utf-8").splitlines()
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    second.write_text("\n".join(lines[3:7]) + "\n", encoding="utf-8")
    runner = CliRunner()
    old = runner.invoke(_app(), ["eval", str(first), str(second), "--out", str(tmp_path / "old")])
    assert old.exit_code == 0, old.output
    summary = json.loads((tmp_path / "old" / "summary.json").read_text(encoding="utf-8"))
    assert [s["set"] for s in summary["sets"]] == ["first", "second"]
    assert [s["n"] for s in summary["sets"]] == [3, 4] and summary["all"]["n"] == 7
    for row in [*summary["sets"], summary["all"]]:
        report = tmp_path / "old" / row["set"] / "report.json" if row["set"] != "all sets" else None
        if report is not None:  # each set's own report, with the same count
            assert json.loads(report.read_text(encoding="utf-8"))["aggregate"]["passed"] == row["passed"]
        assert row["low"] <= row["pass_rate"] <= row["high"]
    assert summary["all"]["passed"] == sum(s["passed"] for s in summary["sets"])
    assert re.search(r"all sets\s+│\s+\d+\s+│\s+7\s+│", old.output), old.output

    # Flip the first question's outcome in each earlier report: two questions changed, in one pooled test.
    for name in ("first", "second"):
        path = tmp_path / "old" / name / "report.json"
        report = json.loads(path.read_text(encoding="utf-8"))
        report["questions"][0].update(passed=not report["questions"][0]["passed"])
        path.write_text(json.dumps(report), encoding="utf-8")
    new = runner.invoke(
        _app(), ["eval", str(first), str(second), "--out", str(tmp_path / "new"), "--compare", str(tmp_path / "old")]
    )
    assert new.exit_code == 0, new.output
    paired = json.loads((tmp_path / "new" / "summary.json").read_text(encoding="utf-8"))["paired"]
    assert paired["fixed"] + paired["broke"] == 2 and paired["significant"] is False
    assert "exact McNemar" in new.output
    assert (tmp_path / "new" / "first" / "compare.json").exists()
    # A set that quotes a document this knowledge base lacks stops the run before any set is answered.
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text(
        json.dumps({"id": "f", "question": "q?", "reference_quotes": ["A sentence no document of ours has."]}) + "\n",
        encoding="utf-8",
    )
    stopped = runner.invoke(_app(), ["eval", str(first), str(foreign), "--out", str(tmp_path / "stopped")])
    assert stopped.exit_code == 2 and "foreign.jsonl does not match the knowledge base" in stopped.output
    assert not (tmp_path / "stopped").exists()
    # An earlier run's file, not its folder, cannot be matched set by set.
    bad = runner.invoke(_app(), ["eval", str(first), str(second), "--compare", str(tmp_path / "old" / "summary.json")])
    assert bad.exit_code == 2 and "not a folder" in bad.output
