"""`python -m bot eval FILE --compare OLD/report.json`: what changed, question by question, between an earlier
report and this run (passes gained and lost, category changes, checks newly failed or fixed, answers that
changed), and every metric's delta. Works on report.json dicts, so any earlier run can be compared."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.evaluation.runner import LOWER_IS_BETTER, METRIC_NAMES


class CompareError(ValueError):
    """The old report cannot be read or is not a report.json."""


@dataclass(frozen=True)
class QuestionChange:
    """One question whose outcome differs between the two runs."""

    id: str
    question: str
    change: str  # fixed | broke | still_failing | changed | added | removed
    old_category: str | None
    new_category: str | None
    newly_failed: tuple[str, ...] = ()
    newly_passed: tuple[str, ...] = ()
    answer_changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "change": self.change,
            "old_category": self.old_category,
            "new_category": self.new_category,
            "newly_failed": list(self.newly_failed),
            "newly_passed": list(self.newly_passed),
            "answer_changed": self.answer_changed,
        }


@dataclass(frozen=True)
class Comparison:
    """The differences between an old report and a new one."""

    old_label: str
    metrics: dict[str, dict[str, Any]]
    changes: tuple[QuestionChange, ...]
    unchanged: int
    counts: dict[str, int] = field(default_factory=dict)
    paired: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old_label,
            "metrics": self.metrics,
            "counts": self.counts,
            "paired": self.paired,
            "unchanged": self.unchanged,
            "questions": [c.to_dict() for c in self.changes],
        }


def load_report(path: Path) -> dict[str, Any]:
    """An earlier report.json (or the folder holding one)."""
    if path.is_dir():
        path = path / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CompareError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise CompareError(f"{path} is not a report.json (no 'questions' list)")
    return data


def _metric(report: dict[str, Any], name: str) -> float | None:
    for section in ("aggregate", "additional"):
        value = (report.get(section) or {}).get(name)
        if isinstance(value, int | float):
            return float(value)
    return None


def _answer(q: dict[str, Any]) -> str:
    return str(q.get("answer") or "")


def _category(q: dict[str, Any]) -> str | None:
    value = q.get("category")
    return str(value) if value is not None else None


def _failed(q: dict[str, Any]) -> set[str]:
    checks = q.get("failed_checks")
    if isinstance(checks, list):
        return {str(c) for c in checks}
    return {str(f).partition(":")[0] for f in q.get("failures") or []}


#: Below this p-value a pass-rate change is called more than chance.
SIGNIFICANCE = 0.05


def paired_test(fixed: int, broke: int) -> dict[str, Any]:
    """The exact McNemar test on the same questions run twice: only the questions that changed carry evidence,
    and with no real difference each is as likely to be fixed as broken (a two-sided binomial test at 1/2)."""
    from scipy.stats import binomtest  # here, not at import: scipy.stats costs seconds of every CLI start

    changed = fixed + broke
    p = float(binomtest(fixed, changed, 0.5).pvalue) if changed else 1.0
    return {"test": "exact McNemar", "fixed": fixed, "broke": broke, "p_value": round(p, 4),
            "significant": p < SIGNIFICANCE}  # fmt: skip


def paired_text(paired: dict[str, Any]) -> str:
    """One line: is the pass-rate change more than the luck of a few questions?"""
    if not paired["fixed"] + paired["broke"]:
        return "Passes: no question the two runs share passed in one and failed in the other."
    verdict = (
        f"more than chance (p < {SIGNIFICANCE:g})"
        if paired["significant"]
        else f"not evidence of a real change (p ≥ {SIGNIFICANCE:g}); a difference this size is within chance"
    )
    return (
        f"Passes: {paired['fixed']} fixed, {paired['broke']} broke; {paired['test']} p = {paired['p_value']:.3g}: "
        f"{verdict}."
    )


def compare_reports(old: dict[str, Any], new: dict[str, Any], old_label: str = "old") -> Comparison:
    """Question-by-question and metric-by-metric differences (new minus old)."""
    metrics: dict[str, dict[str, Any]] = {}
    for name in METRIC_NAMES:
        a, b = _metric(old, name), _metric(new, name)
        delta = None if a is None or b is None else round(b - a, 4)
        better = None
        if delta:
            better = "new" if (delta < 0) == (name in LOWER_IS_BETTER) else "old"
        metrics[name] = {"old": a, "new": b, "delta": delta, "better": better}
    old_q = {str(q.get("id")): q for q in old["questions"] if isinstance(q, dict)}
    new_q = {str(q.get("id")): q for q in new["questions"] if isinstance(q, dict)}
    changes: list[QuestionChange] = []
    unchanged = 0
    for qid, nq in new_q.items():
        oq = old_q.get(qid)
        question = str(nq.get("question", ""))
        if oq is None:
            changes.append(QuestionChange(qid, question, "added", None, _category(nq)))
            continue
        was, now = bool(oq.get("passed")), bool(nq.get("passed"))
        old_fail, new_fail = _failed(oq), _failed(nq)
        answer_changed = _answer(oq) != _answer(nq)
        cat_old, cat_new = _category(oq), _category(nq)
        if was and not now:
            kind = "broke"
        elif now and not was:
            kind = "fixed"
        elif not now and (old_fail != new_fail or cat_old != cat_new):
            kind = "still_failing"
        elif cat_old != cat_new or answer_changed:
            kind = "changed"
        else:
            unchanged += 1
            continue
        changes.append(
            QuestionChange(
                qid,
                question,
                kind,
                cat_old,
                cat_new,
                tuple(sorted(new_fail - old_fail)),
                tuple(sorted(old_fail - new_fail)),
                answer_changed,
            )
        )
    for qid, oq in old_q.items():
        if qid not in new_q:
            changes.append(QuestionChange(qid, str(oq.get("question", "")), "removed", _category(oq), None))
    order = {"broke": 0, "fixed": 1, "still_failing": 2, "changed": 3, "added": 4, "removed": 5}
    changes.sort(key=lambda c: (order[c.change], c.id))
    counts = {kind: sum(1 for c in changes if c.change == kind) for kind in order}
    return Comparison(
        old_label, metrics, tuple(changes), unchanged, counts, paired_test(counts["fixed"], counts["broke"])
    )


def comparison_text(comp: Comparison) -> list[str]:
    """Plain lines for the terminal."""
    c = comp.counts
    lines = [
        f"Compared with {comp.old_label}: {c['fixed']} fixed, {c['broke']} broke, {c['still_failing']} still failing "
        f"differently, {c['changed']} changed, {c['added']} added, {c['removed']} removed, {comp.unchanged} unchanged.",
        paired_text(comp.paired),
    ]
    for ch in comp.changes:
        detail = f"{ch.old_category or '—'} -> {ch.new_category or '—'}"
        if ch.newly_failed:
            detail += "; now fails " + ", ".join(ch.newly_failed)
        if ch.newly_passed:
            detail += "; now passes " + ", ".join(ch.newly_passed)
        if ch.answer_changed:
            detail += "; answer changed"
        lines.append(f"  {ch.change.upper():<14} {ch.id}: {detail}")
    return lines
