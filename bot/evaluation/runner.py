"""Evaluation of QA test sets: the runner (`evaluate`, `run_file`), the aggregate metrics and the
`--fail-under` thresholds.

Everything here is offline and deterministic: no LLM judge. The item format is `bot.evaluation.qa_format`,
the support scorer `bot.evaluation.support`, the per-question checks `bot.evaluation.scoring`.
`docs/evaluation.md` defines each metric.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from bot.evaluation.qa_format import QAFileError, QAItem, load_items
from bot.evaluation.scoring import QuestionResult, check_references, ratio, score_reply
from bot.evaluation.support import SupportScorer
from bot.reply import Category, Reply

if TYPE_CHECKING:
    from bot.chat import ChatBot

#: The keys of `aggregate` in report.json, exactly, in this order.
AGGREGATE_KEYS: tuple[str, ...] = (
    "n",
    "passed",
    "category_accuracy",
    "key_fact_recall",
    "citation_precision",
    "citation_recall",
    "context_recall",
    "fabrication_rate",
    "caveat_rate",
    "emergency_recall",
    "verbatim_quote_rate",
    "latency_p50_ms",
    "latency_p95_ms",
)
#: More metrics, reported under `additional` (same definitions doc).
ADDITIONAL_KEYS: tuple[str, ...] = (
    "pass_rate",
    "errors",
    "context_mrr",
    "lead_quote_rate",
    "answer_sentences_mean",
    "caveat_citation_recall",
    "caveat_citation_precision",
    "must_not_include_rate",
    "unsupported_number_rate",
    "benefit_caveat_rate",
    "emergency_precision",
    "latency_mean_ms",
    "latency_max_ms",
)
#: For these a smaller value is better: `--fail-under` means "at most" for them.
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {
        "fabrication_rate",
        "must_not_include_rate",
        "unsupported_number_rate",
        "errors",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_mean_ms",
        "latency_max_ms",
    }
)
METRIC_NAMES: tuple[str, ...] = AGGREGATE_KEYS + ADDITIONAL_KEYS
#: Metrics that are counts of questions, not rates.
COUNTS_KEYS: frozenset[str] = frozenset({"n", "passed", "errors"})


#: Metrics that are a share of questions (k of n): report.json gives each a 95% Wilson interval, so a reader can
#: tell a real change from the luck of which questions a small set happens to hold.
INTERVAL_LEVEL = 0.95


def wilson(k: int, n: int, level: float = INTERVAL_LEVEL) -> tuple[float, float] | None:
    """The Wilson score interval for k successes in n trials (scipy's), None when n is 0."""
    if n == 0:
        return None
    from scipy.stats import binomtest  # here, not at import: scipy.stats costs seconds of every CLI start

    ci = binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return round(float(ci.low), 4), round(float(ci.high), 4)


def intervals(results: Sequence[QuestionResult]) -> dict[str, dict[str, Any]]:
    """metric -> {k, n, low, high, level} for the metrics that count questions: pass_rate, category_accuracy."""
    with_category = [r for r in results if r.item.expected_category]
    counts = {
        "pass_rate": (sum(r.passed for r in results), len(results)),
        "category_accuracy": (sum("category" not in r.failures for r in with_category), len(with_category)),
    }
    out = {}
    for name, (k, n) in counts.items():
        bounds = wilson(k, n)
        if bounds is not None:
            out[name] = {"k": k, "n": n, "low": bounds[0], "high": bounds[1], "level": INTERVAL_LEVEL}
    return out


def interval_lines(found: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One plain line per interval, for the terminal and the HTML report."""
    return [
        f"{name.replace('_', ' ')}: {i['k']} of {i['n']} = {100 * i['k'] / i['n']:.1f}%, "
        f"{100 * i['level']:.0f}% interval {100 * i['low']:.1f}% to {100 * i['high']:.1f}% (Wilson)"
        for name, i in found.items()
    ]


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), None for no values."""
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else None


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def aggregate(results: Sequence[QuestionResult]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(aggregate with exactly AGGREGATE_KEYS, additional metrics) over a run's results."""
    replied = [r for r in results if r.reply is not None]
    with_category = [r for r in results if r.item.expected_category]
    with_facts = [r for r in results if r.item.must_include]
    emergency = [r for r in results if Category.EMERGENCY in r.item.expects]
    said_emergency = [r for r in replied if r.reply and r.reply.category is Category.EMERGENCY]
    expect_caveat = [r for r in results if r.item.expect_caveat is True]
    latencies = [r.reply.latency_ms for r in replied if r.reply]
    quotes = sum(r.quotes for r in results)
    benefit = [r for r in replied if r.benefit]
    agg: dict[str, Any] = {
        "n": len(results),
        "passed": sum(r.passed for r in results),
        "category_accuracy": ratio(sum("category" not in r.failures for r in with_category), len(with_category)),
        "key_fact_recall": _mean(ratio(sum(r.key_facts), len(r.key_facts)) for r in with_facts),
        "citation_precision": _mean(r.answer_citation.precision for r in replied),
        "citation_recall": _mean(r.answer_citation.recall for r in replied),
        "context_recall": _mean(r.context_recall for r in results),
        "fabrication_rate": ratio(sum(r.fabricated for r in replied), len(replied)),
        "caveat_rate": ratio(sum(r.caveat_present for r in expect_caveat), len(expect_caveat)),
        "emergency_recall": ratio(sum(r.category == Category.EMERGENCY for r in emergency), len(emergency)),
        "verbatim_quote_rate": ratio(sum(r.verbatim for r in results), quotes),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
    }
    extra: dict[str, Any] = {
        "pass_rate": ratio(agg["passed"], len(results)),
        "errors": len(results) - len(replied),
        "context_mrr": _mean(r.context_rr for r in results),
        "lead_quote_rate": _mean(float(r.lead_quote) if r.lead_quote is not None else None for r in results),
        "answer_sentences_mean": _mean(
            float(r.answer_sentences) for r in replied if r.reply and r.reply.category is Category.ANSWERED
        ),
        "caveat_citation_recall": _mean(r.caveat_citation.recall for r in replied),
        "caveat_citation_precision": _mean(r.caveat_citation.precision for r in replied),
        "must_not_include_rate": ratio(sum(bool(r.forbidden_hits) for r in replied), len(replied)),
        "unsupported_number_rate": ratio(sum(bool(r.unsupported_numbers) for r in replied), len(replied)),
        "benefit_caveat_rate": ratio(sum(r.caveat_present for r in benefit), len(benefit)),
        "emergency_precision": ratio(
            sum(Category.EMERGENCY in r.item.expects for r in said_emergency), len(said_emergency)
        ),
        "latency_mean_ms": _mean(latencies),
        "latency_max_ms": max(latencies) if latencies else None,
    }
    digits = {k: 2 for k in ("latency_p50_ms", "latency_p95_ms", "latency_mean_ms", "latency_max_ms")}
    agg = {k: _round(v, digits.get(k, 4)) if isinstance(v, float) else v for k, v in agg.items()}
    extra = {k: _round(v, digits.get(k, 4)) if isinstance(v, float) else v for k, v in extra.items()}
    return agg, extra


def confusion(results: Sequence[QuestionResult]) -> dict[str, dict[str, int]]:
    """expected -> got -> count, over items with an expected category. With several acceptable categories the
    row is the one got when it was acceptable, else the first listed. A reply that raised counts as
    "error"."""
    matrix: dict[str, dict[str, int]] = {}
    for r in results:
        if not r.item.expected_category:
            continue
        got = r.category or "error"
        row = got if got in {c.value for c in r.item.expected_category} else str(r.item.expected_category[0])
        matrix.setdefault(row, {})
        matrix[row][got] = matrix[row].get(got, 0) + 1
    order = [c.value for c in Category] + ["error"]
    return {row: {col: matrix[row][col] for col in order if col in matrix[row]} for row in order if row in matrix}


def by_category(results: Sequence[QuestionResult]) -> dict[str, dict[str, Any]]:
    """Per primary expected category (the first listed; "unspecified" when none): n, passed, accuracy."""
    groups: dict[str, list[QuestionResult]] = {}
    for r in results:
        key = str(r.item.expected_category[0]) if r.item.expected_category else "unspecified"
        groups.setdefault(key, []).append(r)
    order = [c.value for c in Category] + ["unspecified"]
    out = {}
    for key in order:
        rs = groups.get(key)
        if not rs:
            continue
        out[key] = {
            "n": len(rs),
            "passed": sum(r.passed for r in rs),
            "pass_rate": round(sum(r.passed for r in rs) / len(rs), 4),
            "category_accuracy": _round(
                ratio(sum("category" not in r.failures for r in rs if r.item.expected_category), len(rs))
            ),
        }
    return out


class Answerer(Protocol):
    """Anything that answers like ChatBot.ask (the bot itself, or the naive baseline)."""

    def ask(self, question: str, history: list[dict[str, str]] | None = None) -> Reply: ...


@dataclass
class EvalRun:
    """A whole evaluation: run info, per-question results, the metrics; and the baseline's, when run."""

    run: dict[str, Any]
    results: list[QuestionResult]
    aggregate: dict[str, Any]
    additional: dict[str, Any]
    confusion: dict[str, dict[str, int]]
    by_category: dict[str, dict[str, Any]]
    baseline: EvalRun | None = None

    def metric(self, name: str) -> float | None:
        if name in self.aggregate:
            value = self.aggregate[name]
        elif name in self.additional:
            value = self.additional[name]
        else:
            raise KeyError(name)
        return None if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run": self.run,
            "aggregate": self.aggregate,
            "additional": self.additional,
            "confusion_matrix": self.confusion,
            "by_category": self.by_category,
            "intervals": intervals(self.results),
            "questions": [r.to_dict() for r in self.results],
        }
        if self.baseline is not None:
            out["baseline"] = self.baseline.to_dict()
            out["comparison"] = comparison(self, self.baseline)
        return out


def comparison(run: EvalRun, baseline: EvalRun) -> dict[str, dict[str, Any]]:
    """metric -> {bot, baseline, delta, better} for every metric (delta = bot - baseline)."""
    out = {}
    for name in METRIC_NAMES:
        a, b = run.metric(name), baseline.metric(name)
        delta = None if a is None or b is None else round(a - b, 4)
        better = None
        if delta is not None and delta != 0 and name not in ("n",):
            better = "bot" if (delta < 0) == (name in LOWER_IS_BETTER) else "baseline"
        out[name] = {"bot": a, "baseline": b, "delta": delta, "better": better}
    return out


def git_commit(cwd: Path | None = None) -> str | None:
    """HEAD's commit (with "-dirty" when the work tree has changes), or None outside a git checkout."""
    where = cwd or Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "") if head else None


_SECRET = re.compile(r"password|secret|token|key", re.IGNORECASE)


def run_info(bot: ChatBot, answerer: str = "chatbot", **extra: Any) -> dict[str, Any]:
    settings = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in bot.settings.model_dump(mode="json").items()
        if not _SECRET.search(k)
    }
    return {
        "answerer": answerer,
        "commit": git_commit(),
        "model": bot.settings.embedding_model,
        "settings": settings,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "passages": len(bot.passages),
        **extra,
    }


Progress = Callable[[int, int], None]


def evaluate(
    bot: ChatBot,
    items: Sequence[QAItem],
    progress: Progress | None = None,
    *,
    answerer: Answerer | None = None,
    answerer_name: str | None = None,
    scorer: SupportScorer | None = None,
    run: Mapping[str, Any] | None = None,
) -> EvalRun:
    """Ask every item (through `answerer`, by default the bot itself) and score the replies.

    Raises QAFileError when an item references a passage or quote the knowledge base does not have.
    `progress(done, total)` is called after each question."""
    from bot.chat import InvalidQuestion

    problems = check_references(items, bot.passages)
    if problems:
        raise QAFileError(problems)
    who: Any = answerer if answerer is not None else bot
    name = answerer_name or getattr(who, "name", None) or "chatbot"
    scorer = scorer or SupportScorer.for_passages(bot.passages, bot.embeddings)
    scorer.prepare(u for units in scorer._units.values() for u in units)
    results = []
    total = len(items)
    for done, item in enumerate(items, start=1):
        history = [t.model_dump() for t in item.history]
        try:
            reply = who.ask(item.question, history)
        except InvalidQuestion as exc:
            results.append(score_reply(item, None, bot.passages, scorer, error=f"the bot refused the input: {exc}"))
        else:
            results.append(score_reply(item, reply, bot.passages, scorer))
        if progress:
            progress(done, total)
    agg, extra = aggregate(results)
    info = run_info(bot, name, **dict(run or {}))
    return EvalRun(info, results, agg, extra, confusion(results), by_category(results))


@dataclass(frozen=True)
class Threshold:
    metric: str
    value: float

    @property
    def at_most(self) -> bool:
        return self.metric in LOWER_IS_BETTER

    def describe(self) -> str:
        return f"{self.metric} {'<=' if self.at_most else '>='} {self.value:g}"

    def check(self, run: EvalRun) -> str | None:
        """None when met, else the reason."""
        actual = run.metric(self.metric)
        if actual is None:
            return f"{self.metric} is not defined for this set (no question it applies to); needed {self.describe()}"
        ok = actual <= self.value if self.at_most else actual >= self.value
        return None if ok else f"{self.metric} = {actual:g}, needed {self.describe()}"


def parse_thresholds(specs: Iterable[str]) -> list[Threshold]:
    """'METRIC=VALUE' strings to thresholds. Raises ValueError naming every bad spec."""
    out, errors = [], []
    for spec in specs:
        name, sep, raw = spec.partition("=")
        name = name.strip()
        if not sep:
            errors.append(f"{spec!r}: expected METRIC=VALUE")
            continue
        if name not in METRIC_NAMES:
            errors.append(f"{spec!r}: unknown metric {name!r}; known: {', '.join(METRIC_NAMES)}")
            continue
        try:
            value = float(raw)
        except ValueError:
            errors.append(f"{spec!r}: {raw.strip()!r} is not a number")
            continue
        if math.isnan(value):
            errors.append(f"{spec!r}: the value is not a number")
            continue
        out.append(Threshold(name, value))
    if errors:
        raise ValueError("\n".join(errors))
    return out


def read_thresholds(path: Path | str) -> list[str]:
    """METRIC=VALUE lines of a thresholds file ('#' comments and blank lines ignored)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [s for s in (line.split("#", 1)[0].strip() for line in lines) if s]


def run_file(
    bot: ChatBot,
    path: Path | str,
    out: Path | str | None = None,
    *,
    baseline: bool = False,
    progress: Progress | None = None,
) -> EvalRun:
    """Load, evaluate (and the baseline, if asked), and write report.json + report.html when `out` is given.

    The one call behind the CLI and the staff console's Evaluate tab. Raises QAFileError for a bad file."""
    import hashlib

    path = Path(path)
    items = load_items(path)
    info = {"file": path.name, "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    total = len(items) * (2 if baseline else 1)

    def step(offset: int) -> Progress | None:
        return (lambda done, _n: progress(offset + done, total)) if progress else None

    result = evaluate(bot, items, step(0), run=info)
    if baseline:
        from bot.evaluation.baseline import NaiveBaseline

        result.baseline = evaluate(
            bot,
            items,
            step(len(items)),
            answerer=NaiveBaseline(bot),
            answerer_name=NaiveBaseline.name,
            run=info,
        )
    if out is not None:
        from bot.evaluation.report import write_report

        write_report(result, Path(out))
    return result
