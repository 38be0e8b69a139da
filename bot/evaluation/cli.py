"""`python -m bot eval FILE...`: run QA sets through the bot, print metrics, write the reports, check thresholds,
and with `--compare OLD` show what changed question by question. Several sets share one bot; a table gives
each set and all of them together with 95% intervals, and `--compare` one paired test over them all.

Register with `app.command("eval")(eval_command)` in bot/cli.py. Exit codes: 0 all thresholds met, 1 a
`--fail-under` threshold not met, 2 a bad file, an unknown metric or a bot that cannot start.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot.evaluation.qa_format import QAFileError, QAItem, load_items
from bot.evaluation.report import write_report
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
    wilson,
)
from bot.evaluation.scoring import check_references
from bot.settings import Settings
from bot.startup import build_bot, err

if TYPE_CHECKING:
    from bot.chat import ChatBot
    from bot.evaluation.compare import Comparison


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
    files: Annotated[
        list[Path],
        typer.Argument(
            help="QA sets: JSONL (one object per line) or .csv; format in docs/evaluation.md. With several, each "
            "gets its own report folder under --out, and a table gives each set and all of them together.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.json and report.html.")] = Path("eval-report"),
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under",
            help="METRIC=VALUE; exit 1 when not met. Repeatable. For lower-is-better metrics "
            "(fabrication_rate, latency_*) it means 'at most VALUE'. With several sets, each set must meet it.",
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
            "in report.html and in compare.json. With several sets: the --out folder of an earlier run of them.",
        ),
    ] = None,
) -> None:
    """Evaluate QA sets offline (no LLM judge): categories, key facts, citations, fabrication, latency."""
    try:
        thresholds = parse_thresholds(fail_under or [])
    except ValueError as exc:
        _problems("[red]error:[/red] bad --fail-under:", str(exc).splitlines(), markup=True)
        raise typer.Exit(2) from exc
    several = len(files) > 1
    folders = _report_folders(files, out) if several else {files[0]: out}
    old_reports = _old_reports(files, compare, several)
    loaded = {}
    bad = False
    for file in files:  # every bad file is named before the bot starts
        try:
            loaded[file] = load_items(file)
        except QAFileError as exc:
            bad = True
            _problems(f"error: {file} cannot be used ({len(exc.errors)} problem(s)):", exc.errors)
    if bad:
        raise typer.Exit(2)

    bot = make_bot()
    mismatched = {f: problems for f in files if (problems := check_references(loaded[f], bot.passages))}
    for file, problems in mismatched.items():  # every set is checked before any is run
        _problems(f"error: {file} does not match the knowledge base:", problems)
    if mismatched:
        raise typer.Exit(2)
    console = Console()
    runs: dict[Path, EvalRun] = {}
    comparisons = {}
    unmet: list[str] = []
    for file in files:
        run = _evaluate_file(bot, file, loaded[file], baseline)
        runs[file] = run
        comparison = None
        if file in old_reports:
            from bot.evaluation.compare import compare_reports

            label, old = old_reports[file]
            comparison = comparisons[file] = compare_reports(old, run.to_dict(), old_label=label)
        try:
            json_path, html_path = write_report(run, folders[file], thresholds=thresholds, comparison=comparison)
        except OSError as exc:
            where = folders[file]
            err.print(f"error: cannot write the report to {where}: {exc.strerror or exc}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from exc
        unmet += [f"{file.name}: {r}" if several else r for t in thresholds if (r := t.check(run)) is not None]
        if not several:
            _print_one(console, run, thresholds, comparison)
            console.print(f"report: {json_path} and {html_path}", highlight=False, markup=False, soft_wrap=True)
    if several:
        _print_several(console, runs, comparisons, out)
    if unmet:
        _problems("[red]threshold(s) not met:[/red]", unmet, markup=True)
        raise typer.Exit(1)


def _report_folders(files: list[Path], out: Path) -> dict[Path, Path]:
    """One folder per set under `out`, named by the file's stem ("own.dev"); two files of one name are refused."""
    folders = {f: out / f.stem for f in files}
    names = [f.stem for f in files]
    if clash := sorted({n for n in names if names.count(n) > 1}):
        err.print(f"error: two QA sets would share the report folder {out / clash[0]}", markup=False, soft_wrap=True)
        raise typer.Exit(2)
    return folders


def _old_reports(files: list[Path], compare: Path | None, several: bool) -> dict[Path, tuple[str, dict[str, Any]]]:
    """The earlier report each set is compared with: `compare` itself for one set; for several, the set's own
    folder in the earlier run's --out (a set the earlier run did not have is not compared)."""
    if compare is None:
        return {}
    from bot.evaluation.compare import CompareError, load_report

    try:
        if not several:
            return {files[0]: (str(compare), load_report(compare))}
        if not compare.is_dir():
            raise CompareError(
                f"{compare} is not a folder: with several QA sets, give the --out folder of an earlier run"
            )
        found = {f: compare / f.stem / "report.json" for f in files}
        if not any(path.exists() for path in found.values()):
            raise CompareError(f"{compare} holds no report of any of these QA sets (looked for <set>/report.json)")
        return {f: (str(path), load_report(path)) for f, path in found.items() if path.exists()}
    except CompareError as exc:
        err.print(f"error: --compare: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc


def _evaluate_file(bot: ChatBot, file: Path, items: list[QAItem], baseline: bool) -> EvalRun:
    import hashlib

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
        task = bar.add_task(f"evaluating {file.name}", total=total)
        # The references were checked before any set was run (eval_command).
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
    return run


def _problems(header: str, lines: Iterable[str], *, markup: bool = False) -> None:
    """An error heading on stderr and each problem under it, indented (problem text is never read as markup)."""
    err.print(header, markup=markup, soft_wrap=True)
    for line in lines:
        err.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


def _print_one(console: Console, run: EvalRun, thresholds: list[Threshold], comparison: Comparison | None) -> None:
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


def _print_several(console: Console, runs: dict[Path, EvalRun], comparisons: dict[Path, Comparison], out: Path) -> None:
    """Each set and all of them together, with 95% intervals; with --compare, one paired test over every shared
    question. Also written to `out`/summary.json."""
    from bot.evaluation.compare import paired_text

    summary = multi_summary(runs, comparisons)
    table = Table(title=f"Evaluation of {len(runs)} QA sets")
    for name in ("set", "passed", "n", "pass rate", "95% interval"):
        table.add_column(name, justify="left" if name == "set" else "right")
    for row in [*summary["sets"], summary["all"]]:
        table.add_row(
            row["set"],
            str(row["passed"]),
            str(row["n"]),
            f"{100 * row['pass_rate']:.1f}%",
            f"{100 * row['low']:.1f}% to {100 * row['high']:.1f}%",
            end_section=row is summary["sets"][-1],
        )
    console.print(table)
    if comparisons:
        console.print(paired_text(summary["paired"]), highlight=False, markup=False, soft_wrap=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    console.print(f"reports: {out}/<set>/report.html; summary: {out / 'summary.json'}", markup=False, soft_wrap=True)


def multi_summary(runs: dict[Path, EvalRun], comparisons: dict[Path, Comparison]) -> dict[str, Any]:
    """Per set and pooled: passed, n, pass rate and its Wilson interval; with comparisons, the paired test on
    every question the old and new runs share, pooled over the sets."""
    from bot.evaluation.compare import paired_test

    def row(name: str, passed: int, n: int) -> dict[str, Any]:
        low, high = wilson(passed, n) or (0.0, 0.0)
        return {"set": name, "passed": passed, "n": n, "pass_rate": round(passed / n, 4) if n else 0.0,
                "low": low, "high": high}  # fmt: skip

    sets = [row(f.stem, int(r.aggregate["passed"]), int(r.aggregate["n"])) for f, r in runs.items()]
    summary: dict[str, Any] = {
        "sets": sets,
        "all": row("all sets", sum(s["passed"] for s in sets), sum(s["n"] for s in sets)),
    }
    if comparisons:
        fixed = sum(c.counts["fixed"] for c in comparisons.values())
        broke = sum(c.counts["broke"] for c in comparisons.values())
        summary["paired"] = paired_test(fixed, broke)
        summary["compared_with"] = {f.stem: c.old_label for f, c in comparisons.items()}
    return summary
