"""`python -m bot eval FILE`: run a QA set through the bot, print metrics, write the report, check thresholds,
and with `--compare OLD/report.json` show what changed question by question.

Register with `app.command("eval")(eval_command)` in bot/cli.py. Exit codes: 0 all thresholds met, 1 a
`--fail-under` threshold not met, 2 a bad file, an unknown metric or a bot that cannot start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.evaluation.qa_format import QAFileError, load_items
from bot.evaluation.runner import (
    ADDITIONAL_KEYS,
    AGGREGATE_KEYS,
    COUNTS_KEYS,
    LOWER_IS_BETTER,
    EvalRun,
    Threshold,
    evaluate,
    interval_lines,
    intervals,
    parse_thresholds,
)
from bot.settings import Settings
from bot.startup import build_bot, err

if TYPE_CHECKING:
    from bot.chat import ChatBot


def make_bot() -> ChatBot:
    """The same ChatBot the UI uses, from Settings (BOT_* environment, bot.toml). Tests replace this."""
    return build_bot(Settings())


def _fmt(name: str, value: float | None) -> str:
    if value is None:
        return "—"
    if name in COUNTS_KEYS:
        return str(int(value))
    if name.startswith("latency"):
        return f"{value:.1f} ms"
    return f"{value:.3f}"


def summary_table(run: EvalRun, thresholds: list[Threshold]) -> Table:
    by_metric = {t.metric: t for t in thresholds}
    table = Table(title=f"Evaluation: {run.aggregate['passed']} of {run.aggregate['n']} questions passed")
    table.add_column("metric")
    table.add_column("bot", justify="right")
    if run.baseline is not None:
        table.add_column("naive baseline", justify="right")
    table.add_column("threshold", justify="right")
    shown = list(AGGREGATE_KEYS) + [k for k in ADDITIONAL_KEYS if k in by_metric]
    for name in shown:
        value = run.metric(name)
        row = [name + (" ↓" if name in LOWER_IS_BETTER else ""), _fmt(name, value)]
        if run.baseline is not None:
            row.append(_fmt(name, run.baseline.metric(name)))
        t = by_metric.get(name)
        if t is None:
            row.append("")
        else:
            mark = "[green]ok[/green]" if t.check(run) is None else "[red]NOT MET[/red]"
            row.append(f"{'≤' if t.at_most else '≥'} {t.value:g} {mark}")
        table.add_row(*row)
    return table


def eval_command(
    file: Annotated[
        Path,
        typer.Argument(help="QA set: JSONL (one object per line) or .csv; format in docs/evaluation.md."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.json and report.html.")] = Path("eval-report"),
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under",
            help="METRIC=VALUE; exit 1 when not met. Repeatable. For lower-is-better metrics "
            "(fabrication_rate, latency_*) it means 'at most VALUE'.",
        ),
    ] = None,
    baseline: Annotated[
        bool,
        typer.Option("--baseline", help="Also run the naive peer (Chroma top-4, top passage) side by side."),
    ] = False,
    compare: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            help="An earlier report.json (or its folder): show what changed, question by question, in the terminal, "
            "in report.html and in compare.json.",
        ),
    ] = None,
) -> None:
    """Evaluate a QA set offline (no LLM judge): categories, key facts, citations, fabrication, latency."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.evaluation.report import write_report

    try:
        thresholds = parse_thresholds(fail_under or [])
    except ValueError as exc:
        err.print("[red]error:[/red] bad --fail-under:")
        for line in str(exc).splitlines():
            err.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    old_report = None
    if compare is not None:
        from bot.evaluation.compare import CompareError, load_report

        try:
            old_report = load_report(compare)
        except CompareError as exc:
            err.print(f"error: --compare: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from exc
    try:
        items = load_items(file)
    except QAFileError as exc:
        err.print(f"error: {file} cannot be used ({len(exc.errors)} problem(s)):", markup=False, soft_wrap=True)
        for line in exc.errors:
            err.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc

    bot = make_bot()
    import hashlib

    info = {"file": file.name, "file_sha256": hashlib.sha256(file.read_bytes()).hexdigest()}
    total = len(items) * (2 if baseline else 1)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("evaluating", total=total)
        try:
            run = evaluate(bot, items, lambda done, _n: bar.update(task, completed=done), run=info)
            if baseline:
                from bot.evaluation.baseline import NaiveBaseline

                bar.update(task, description="baseline")
                run.baseline = evaluate(
                    bot,
                    items,
                    lambda done, _n: bar.update(task, completed=len(items) + done),
                    answerer=NaiveBaseline(bot),
                    answerer_name=NaiveBaseline.name,
                    run=info,
                )
        except QAFileError as exc:
            err.print(f"error: {file} does not match the knowledge base:", markup=False, soft_wrap=True)
            for line in exc.errors:
                err.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(2) from exc

    comparison = None
    if old_report is not None and compare is not None:
        from bot.evaluation.compare import compare_reports

        comparison = compare_reports(old_report, run.to_dict(), old_label=str(compare))
    try:
        json_path, html_path = write_report(run, out, thresholds=thresholds, comparison=comparison)
    except OSError as exc:
        err.print(f"error: cannot write the report to {out}: {exc.strerror or exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    console = Console()
    console.print(summary_table(run, thresholds))
    for line in interval_lines(intervals(run.results)):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    failed = [r for r in run.results if not r.passed]
    if failed:
        console.print(f"[bold]{len(failed)} failed question(s):[/bold]")
        for r in failed:
            console.print(f"  {r.item.id}: {', '.join(r.failures)}", highlight=False, markup=False, soft_wrap=True)
    if comparison is not None:
        from bot.evaluation.compare import comparison_text

        for line in comparison_text(comparison):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(f"report: {json_path} and {html_path}", highlight=False, markup=False, soft_wrap=True)
    unmet = [reason for t in thresholds if (reason := t.check(run)) is not None]
    if unmet:
        err.print("[red]threshold(s) not met:[/red]")
        for reason in unmet:
            err.print(f"  {reason}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)
