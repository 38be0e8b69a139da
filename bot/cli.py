"""`python -m bot …`: ingest, ask (one question, JSON, or a JSONL batch), bench, triage, eval."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel

from bot.evaluation.cli import eval_command
from bot.safety.evaluate import safety_eval_command
from bot.settings import Settings
from bot.startup import build_bot, err, reported
from bot.triage.cli import app as triage_app

if TYPE_CHECKING:
    from bot.chat import ChatBot
    from bot.reply import Reply

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Patient-education chatbot about the documents in the knowledge folder.",
)


@app.command()
def ingest() -> None:
    """Sync the index with knowledge/ (only new or changed passages are embedded) and embed the safety examples."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.corpus.documents import all_passages, load_knowledge
    from bot.corpus.embeddings import load_embeddings
    from bot.corpus.index import KnowledgeIndex, connect

    settings = Settings()
    with reported():
        passages = all_passages(load_knowledge(settings.knowledge_dir))
        embeddings = load_embeddings(settings.embedding_model)
        client, notice = connect(settings.data_dir, settings.chroma_url)
    index = KnowledgeIndex(client, embeddings, collection=settings.collection, model_name=settings.embedding_model)
    with Progress(TextColumn("[bold]embedding"), BarColumn(), MofNCompleteColumn(), console=err) as bar:
        task = bar.add_task("embed", total=None)
        report = index.sync(passages, progress=lambda done, total: bar.update(task, completed=done, total=total))
    # The safety layer's example bank, embedded now (once per model and bank version), not at the first start.
    from bot.safety.bank import load_bank

    load_bank(embeddings, settings.data_dir)
    for text in (notice, report.notice):
        if text:
            err.print(f"[yellow]note:[/yellow] {text}")
    typer.echo(
        f"{len(passages)} passages: {report.added} embedded, {report.removed} removed, {report.unchanged} unchanged"
    )


def _render(reply: Reply, console: Console) -> None:
    style = {"emergency": "bold red", "medical_advice": "yellow", "not_in_article": "cyan"}.get(
        str(reply.category), "green"
    )
    console.print(Panel(Markdown(reply.answer), title=str(reply.category), border_style=style))
    for c in reply.citations:
        console.print(f"[bold][{c.n}][/bold] {c.anchor}: “{c.quote}”", highlight=False)
    for caveat in reply.caveats:
        console.print(f"[yellow]⚠ {caveat}[/yellow]", highlight=False)
    console.print(f"[dim]{reply.latency_ms:.0f} ms[/dim]")


def _batch(bot: ChatBot, lines: Any) -> None:
    """One JSON reply per input line, same order and id; a bad line gets an error object, the run goes on."""
    from bot.chat import InvalidQuestion

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item_id: Any = None
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise InvalidQuestion("each line must be a JSON object with id and question")
            item_id = item.get("id", number)
            if "question" not in item:
                raise InvalidQuestion("missing field 'question'")
            reply = bot.ask(item["question"], item.get("history"), source="cli")
            out = {"id": item_id, **reply.to_dict()}
        except json.JSONDecodeError as exc:
            out = {"id": None, "line": number, "error": f"line {number} is not valid JSON: {exc.msg}"}
        except InvalidQuestion as exc:
            out = {"id": item_id, "line": number, "error": str(exc)}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()


@app.command("export-model")
def export_model(
    model: Annotated[str | None, typer.Option(help="The model (default: BOT_EMBEDDING_MODEL).")] = None,
    python: Annotated[
        Path | None, typer.Option(help="The export environment's Python (default: <this venv>-export/bin/python).")
    ] = None,
) -> None:
    """Export the embedding model to ONNX for this environment, once (`make install` runs it)."""
    from bot.corpus.embeddings import ModelError, export_model, exported_path, model_folder

    name = model or Settings().embedding_model
    try:
        before = exported_path(model_folder(name)).is_file()
        target = export_model(name, python=python)
    except ModelError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{name}: {'already exported' if before else 'exported'} to {target}")


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question; omit with --jsonl.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Reply as JSON.")] = False,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Batch: one JSON object per stdin line.")] = False,
) -> None:
    """Ask one question (readable, or --json), or answer a JSONL batch from stdin (--jsonl)."""
    from bot.chat import InvalidQuestion

    if not jsonl and question is None:
        err.print("[red]error:[/red] give a QUESTION, or use --jsonl to read questions from stdin")
        raise typer.Exit(2)
    bot = build_bot(Settings())
    if jsonl:
        _batch(bot, sys.stdin)
        return
    assert question is not None
    try:
        reply = bot.ask(question, source="cli")
    except InvalidQuestion as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(reply.to_dict(), ensure_ascii=False, indent=2))
    else:
        _render(reply, Console())


@app.command()
def chat() -> None:
    """An interactive terminal chat (Ctrl-D to leave)."""
    bot = build_bot(Settings())
    console = Console()
    history: list[dict[str, str]] = []
    console.print(f"[bold]{bot.library.subject()}[/bold]: education, not medical advice.", highlight=False)
    while True:
        try:
            question = console.input("[bold cyan]you>[/bold cyan] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not question.strip():
            continue
        try:
            reply = bot.ask(question, history, source="cli")
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            continue
        _render(reply, console)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": reply.answer}]


@app.command()
def bench(
    questions: Annotated[int, typer.Option(help="Warm questions to time.")] = 200,
    scale: Annotated[int, typer.Option(help="Copies of knowledge/ for the ingest throughput run.")] = 100,
) -> None:
    """Print warm latency p50/p95, the embedding+query floor, cold start, peak RSS and ingest throughput."""
    from bot.evaluation.bench import run_benchmarks

    run_benchmarks(Settings(), questions=questions, scale=scale)


#: The QA sets about the first article (knowledge/), each split into dev and test halves under tests/data/qa/.
FIRST_ARTICLE_SETS = (
    "own",
    "independent",
    "external",
    "external2",
    "external3",
    "external4",
    "external5",
    "blind",
    "blind2",
)
# What the fit reads: the first article's dev splits. Adding second_doc.dev with its document lowered the first
# article's dev scores when it was tried (91 against 88 of 142 passed); `--add-documents` keeps that choice open.
DEV_SETS = tuple(Path("tests/data/qa") / f"{name}.dev.jsonl" for name in FIRST_ARTICLE_SETS)


def _dev_splits_only(files: Sequence[Path]) -> list[Path]:
    """The files to fit on; a frozen test split among them is refused (exit 2): fits never see one."""
    frozen = [f for f in files if ".test." in f.name]
    if frozen:
        err.print(f"[red]error:[/red] {frozen[0]} is a frozen test split; fit on dev splits only")
        raise typer.Exit(2)
    return list(files)


@app.command()
def fit(
    files: Annotated[list[Path] | None, typer.Argument(help="QA dev files (default: the dev splits).")] = None,
    add_documents: Annotated[
        Path | None, typer.Option(help="A folder of knowledge files to fit alongside knowledge/ (none by default).")
    ] = None,
) -> None:
    """Fit the answerability model on dev QA files and write bot/answer/answerability.json."""
    from bot.answer.answerability import Model
    from bot.answer.fit import fit as fit_model
    from bot.answer.fit import write
    from bot.chat import ChatBot
    from bot.evaluation.qa_format import QAFileError, load_items

    chosen = _dev_splits_only(files or DEV_SETS)
    try:
        items = [item for f in chosen for item in load_items(f)]
    except QAFileError as exc:
        err.print("error: " + "; ".join(exc.errors[:5]), markup=False)
        raise typer.Exit(2) from exc
    import shutil
    import tempfile

    base = Settings(log_conversations=False)
    with tempfile.TemporaryDirectory(prefix="fit-") as tmp:
        knowledge = Path(tmp) / "knowledge"
        shutil.copytree(base.knowledge_dir, knowledge)
        for extra in sorted(add_documents.glob("*.md")) if add_documents else ():
            shutil.copy(extra, knowledge)
        settings = base.model_copy(update={"knowledge_dir": knowledge, "data_dir": Path(tmp) / "data"})
        with reported():
            bot = ChatBot.from_settings(settings, model=Model.untrained())
        result = fit_model(bot, items, chosen)
    write(result)
    typer.echo(json.dumps({k: result[k] for k in ("thresholds", "fitted")}, indent=2))


_REPO = Path(__file__).resolve().parents[1]
#: Every dev split, as paths from the repository's root (like DEV_SETS): what `fit-safety` reads by default.
SAFETY_DEV_SETS = tuple(p.relative_to(_REPO) for p in sorted((_REPO / "tests/data/safety").glob("*.dev.jsonl")))
QA_DEV_SETS = tuple(p.relative_to(_REPO) for p in sorted((_REPO / "tests/data/qa").glob("*.dev.jsonl")))


@app.command("fit-safety")
def fit_safety(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Dev files: safety rows (label) or QA items (default: every *.dev.jsonl of both)."),
    ] = None,
) -> None:
    """Fit the learned emergency score on the bank and dev messages; write bot/safety/data/emergency_model.json."""
    from bot.chat import ChatBot
    from bot.evaluation.qa_format import QAFileError
    from bot.safety.fit import bank_examples, dev_examples, fit, write

    chosen = _dev_splits_only(files or (SAFETY_DEV_SETS + QA_DEV_SETS))
    missing = [f for f in chosen if not f.is_file()]
    if missing:
        err.print(f"[red]error:[/red] no such file: {missing[0]}")
        raise typer.Exit(2)
    qa = [f for f in chosen if f.parent.name == "qa"]
    try:
        examples = bank_examples() + dev_examples([f for f in chosen if f not in qa], qa)
    except (QAFileError, KeyError, ValueError) as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from exc
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fit-safety-") as tmp:
        settings = Settings(log_conversations=False).model_copy(update={"data_dir": Path(tmp)})
        with reported():
            # Without the committed model: the fit reads the rules and the bank alone, and an outdated model file
            # (fitted for other features) must not stop the command that replaces it.
            bot = ChatBot.from_settings(settings, learned_safety=False)
        result = fit(bot, examples, chosen, settings.embedding_model)
    write(result)
    typer.echo(json.dumps(result["fitted"], indent=2))


app.command("eval")(eval_command)
app.command("safety-eval")(safety_eval_command)
app.add_typer(triage_app, name="triage", help="Staff triage queue: list, show, assign, resolve, export, purge.")


def main() -> None:
    app()
