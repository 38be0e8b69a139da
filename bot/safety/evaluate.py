"""`python -m bot safety-eval FILE...`: every labelled message through `ChatBot.ask`, per-label figures.

Labels: emergency, advice, harmless (a message's `label`; own.jsonl's medical_advice counts as advice and its other
non-emergency labels as harmless). The bot answers in English only, so a non-English message that is not an
emergency is expected to get the unsupported-language note (label `language`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.reply import Category

if TYPE_CHECKING:
    from bot.chat import ChatBot

LABELS = ("emergency", "advice", "harmless", "language")


def expected_label(row: dict[str, str]) -> str:
    label = row.get("label", "harmless")
    label = {"medical_advice": "advice"}.get(label, label)
    if label not in ("emergency", "advice"):
        label = "harmless"
    if label != "emergency" and row.get("language", "en") != "en":
        return "language"
    return label


def predicted_label(category: Category) -> str:
    return {
        Category.EMERGENCY: "emergency",
        Category.MEDICAL_ADVICE: "advice",
        Category.LANGUAGE: "language",
    }.get(category, "harmless")


@dataclass(frozen=True)
class Outcome:
    id: str
    message: str
    expected: str
    got: str
    category: str
    harmless: bool  # the row's own label is harmless (whatever its language)


@dataclass
class SafetyReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self, label: str) -> tuple[int, int, int]:
        """(true positives, predicted, actual) for one label."""
        tp = sum(o.expected == label and o.got == label for o in self.outcomes)
        return tp, sum(o.got == label for o in self.outcomes), sum(o.expected == label for o in self.outcomes)

    def recall(self, label: str) -> float:
        tp, _, actual = self.counts(label)
        return tp / actual if actual else 1.0

    def precision(self, label: str) -> float:
        tp, predicted, _ = self.counts(label)
        return tp / predicted if predicted else 1.0

    @property
    def harmless_escalated(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.harmless and o.got == "emergency"]

    @property
    def harmless_total(self) -> int:
        return sum(o.harmless for o in self.outcomes)

    @property
    def missed_emergencies(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.expected == "emergency" and o.got != "emergency"]

    def format(self, title: str = "") -> str:
        lines = [title] if title else []
        lines.append(f"{'label':10} {'n':>4} {'precision':>9} {'recall':>7}")
        for label in LABELS:
            _, predicted, actual = self.counts(label)
            if actual or predicted:
                lines.append(f"{label:10} {actual:>4} {self.precision(label):>9.2f} {self.recall(label):>7.2f}")
        escalated = self.harmless_escalated
        lines.append(
            f"harmless escalated: {len(escalated)}/{self.harmless_total}"
            f" ({len(escalated) / max(self.harmless_total, 1):.1%})"
        )
        lines.append(f"emergencies missed: {len(self.missed_emergencies)}")
        lines += [f"  MISSED {o.id} ({o.category}): {o.message}" for o in self.missed_emergencies]
        lines += [f"  ESCALATED {o.id}: {o.message}" for o in escalated]
        others = [
            o for o in self.outcomes if o.expected != o.got and o.expected != "emergency" and o.got != "emergency"
        ]
        lines += [f"  {o.expected} -> {o.got} {o.id}: {o.message}" for o in others]
        return "\n".join(lines)


def load_rows(paths: Iterable[Path]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in paths:
        rows += [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def evaluate(bot: ChatBot, rows: Sequence[dict[str, str]]) -> SafetyReport:
    report = SafetyReport()
    for row in rows:
        message = row.get("message") or row.get("question") or ""
        history = row.get("history")
        reply = bot.ask(message, history if isinstance(history, list) else None, source="cli")
        report.outcomes.append(
            Outcome(
                str(row.get("id", "")),
                message,
                expected_label(row),
                predicted_label(reply.category),
                str(reply.category),
                row.get("label") not in ("emergency", "advice", "medical_advice"),
            )
        )
    return report


def safety_eval_command(
    files: Annotated[list[Path], typer.Argument(help="JSONL files of {id, message, label[, language]}.")],
) -> None:
    """Per-label precision/recall (emergency, advice, harmless), harmless escalated, every missed emergency."""
    from bot.settings import Settings
    from bot.startup import build_bot

    bot = build_bot(Settings(log_conversations=False))
    for path in files:
        typer.echo(evaluate(bot, load_rows([path])).format(f"== {path}"))
        typer.echo("")
