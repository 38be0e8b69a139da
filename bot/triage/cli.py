"""`python -m bot triage ...`, the staff view of the triage queue: list, show, assign, resolve, export, purge.

Settings come from the typer context when the parent CLI put a `Settings` there (as `ctx.obj` or
`ctx.obj["settings"]`), otherwise `Settings()` is read when a command runs, never at import.
Expected failures (unknown id, bad status, unreadable database) print one line on stderr and exit with 1.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.settings import Settings
from bot.triage.store import Status, Store, StoreError, TriageCategory, TriageItem, Turn, item_to_dict

app = typer.Typer(
    help="Staff triage queue: list, show, assign, resolve, export and purge logged conversations.",
    no_args_is_help=True,
    add_completion=False,
)


class ExportFormat(StrEnum):
    """File formats `export` writes."""

    CSV = "csv"
    JSONL = "jsonl"


class ExportWhat(StrEnum):
    """What `export` writes: the triage queue or the whole turn log."""

    TRIAGE = "triage"
    TURNS = "turns"


def _settings(ctx: typer.Context) -> Settings:
    found = ctx.find_object(Settings)
    if found is not None:
        return found
    root = ctx.find_root().obj
    if isinstance(root, dict) and isinstance(root.get("settings"), Settings):
        return root["settings"]
    return Settings()


def _store(ctx: typer.Context) -> Store:
    return Store(_settings(ctx).db_path)


@contextmanager
def _friendly_errors() -> Iterator[None]:
    """Turn the errors a staff member can cause into `Error: ...` on stderr and exit code 1."""
    try:
        yield
    except (LookupError, ValueError, StoreError, OSError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        typer.echo(f"Error: {message}", err=True)
        raise typer.Exit(1) from None


def _actor() -> str:
    """Who is acting, for the audit trail: the operating-system account running the command."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _when(item_or_turn: TriageItem | Turn) -> str:
    return item_or_turn.created_at.strftime("%Y-%m-%d %H:%M")


def _one_line(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@app.command("list")
def list_items(
    ctx: typer.Context,
    status: Annotated[Status | None, typer.Option(help="Only items with this status.")] = None,
    category: Annotated[TriageCategory | None, typer.Option(help="Only items of this category.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many items.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array instead of a table.")] = False,
) -> None:
    """Triage items, urgent first, then newest first."""
    with _friendly_errors():
        items = _store(ctx).list_items(status=status, category=category, limit=limit)
    if as_json:
        typer.echo(json.dumps([item_to_dict(item) for item in items], indent=2, ensure_ascii=False))
        return
    console = _console()
    if not items:
        console.print("No triage items.")
        return
    console.print(_queue_table(items, wide=console.width >= 110))


def _queue_table(items: list[TriageItem], *, wide: bool) -> Table:
    """One row per item; on a narrow terminal the item's facts stack in one column to leave room for text."""
    table = Table(title=f"Triage queue ({len(items)}), urgent first, then newest", box=box.SIMPLE_HEAD)
    table.add_column("ID", no_wrap=True, justify="right")
    facts = ("Priority", "Status", "Category", "Assignee", "Created (UTC)") if wide else ("Item",)
    for column in facts:
        table.add_column(column, no_wrap=True)
    table.add_column("Question", overflow="fold", ratio=1)
    for item in items:
        priority = Text(item.priority, style="bold red" if item.priority == "urgent" else "")
        if wide:
            cells = [
                priority,
                Text(item.status),
                Text(item.category),
                Text(item.assignee or "-"),
                Text(_when(item)),
            ]
        else:
            stacked = Text.assemble(priority, f" · {item.status}\n{item.category}\n{_when(item)}")
            stacked.append(f" · {item.assignee}" if item.assignee else "")
            cells = [stacked]
        table.add_row(str(item.id), *cells, Text(_one_line(item.turn.question, 200)))
    return table


def _print_turn(console: Console, turn: Turn, *, marker: str = "") -> None:
    console.print(
        Text(f"{marker}Turn #{turn.id}  {_when(turn)} UTC  [{turn.category}]  via {turn.source}", style="bold")
    )
    console.print(Text("  Patient: " + turn.question))
    console.print(Text("  Bot:     " + turn.answer))


@app.command()
def show(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(metavar="ID", help="Triage item id.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
) -> None:
    """One item with its question, answer, citations, feedback and the whole conversation."""
    with _friendly_errors():
        store = _store(ctx)
        item = store.get_item(item_id)
        conversation = store.session_turns(item.turn.session_id)
        feedback = store.feedback(item.turn_id)
    if as_json:
        data = item_to_dict(item)
        data["conversation"] = [{"id": t.id, "question": t.question, "answer": t.answer} for t in conversation]
        data["feedback"] = [{"rating": f.rating, "comment": f.comment} for f in feedback]
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    console = _console()
    head = Text(f"Triage item #{item.id}  ", style="bold")
    head.append(item.priority.upper(), style="bold red" if item.priority == "urgent" else "bold")
    head.append(f"  {item.category}  status: {item.status}  assignee: {item.assignee or '-'}")
    console.print(head)
    console.print(Text(f"Created {_when(item)} UTC, updated {item.updated_at:%Y-%m-%d %H:%M} UTC"))
    turn = item.turn
    console.print()
    console.print(Text(f"Question (turn #{turn.id}, session {turn.session_id}, via {turn.source}):", style="bold"))
    console.print(Text(turn.question))
    console.print(Text(f"Answer [{turn.category}]:", style="bold"))
    console.print(Text(turn.answer))
    for citation in turn.citations:
        console.print(Text(f"  [{citation.n}] {citation.anchor} ({citation.passage_id}): “{citation.quote}”"))
    for caveat in turn.caveats:
        console.print(Text(f"  ! {caveat}"))
    if feedback:
        console.print(Text("Feedback:", style="bold"))
        for f in feedback:
            console.print(Text(f"  {f.created_at:%Y-%m-%d %H:%M} {f.rating}" + (f": {f.comment}" if f.comment else "")))
    if item.notes:
        console.print(Text("Notes:", style="bold"))
        for note in item.notes:
            console.print(Text(f"  {note.created_at:%Y-%m-%d %H:%M} {note.text}"))
    if item.events:
        console.print(Text("Audit trail:", style="bold"))
        for event in item.events:
            line = f"  {event.created_at:%Y-%m-%d %H:%M} {event.actor} {event.action}: {event.detail}"
            console.print(Text(line))
    console.print()
    console.print(Text(f"Conversation ({len(conversation)} turns):", style="bold underline"))
    for other in conversation:
        _print_turn(console, other, marker="> " if other.id == turn.id else "  ")


@app.command()
def assign(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(metavar="ID")],
    name: Annotated[str, typer.Argument(help="Who takes it.")],
) -> None:
    """Give an item to someone (a new item moves to in_progress)."""
    with _friendly_errors():
        item = _store(ctx).assign(item_id, name, actor=_actor())
    typer.echo(f"Item #{item.id} assigned to {item.assignee} (status: {item.status}).")


@app.command("status")
def set_status(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(metavar="ID")],
    status: Annotated[Status, typer.Argument(help="new, in_progress or resolved.")],
) -> None:
    """Move an item to another status (e.g. reopen it)."""
    with _friendly_errors():
        item = _store(ctx).set_status(item_id, status, actor=_actor())
    typer.echo(f"Item #{item.id} is now {item.status}.")


@app.command()
def note(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(metavar="ID")],
    text: Annotated[str, typer.Argument(help="The note (personal details are redacted).")],
) -> None:
    """Append a note to an item."""
    with _friendly_errors():
        item = _store(ctx).add_note(item_id, text, actor=_actor())
    typer.echo(f"Note added to item #{item.id} ({len(item.notes)} notes).")


@app.command()
def resolve(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(metavar="ID")],
    note: Annotated[str, typer.Option("--note", "-n", help="What was done (required).")],
) -> None:
    """Close an item with a note."""
    with _friendly_errors():
        item = _store(ctx).resolve(item_id, note, actor=_actor())
    typer.echo(f"Item #{item.id} resolved.")


@app.command()
def export(
    ctx: typer.Context,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="csv or jsonl.")] = ExportFormat.CSV,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write; stdout when omitted.")] = None,
    what: Annotated[ExportWhat, typer.Option(help="Triage items (with their turn) or every turn.")] = (
        ExportWhat.TRIAGE
    ),
) -> None:
    """Export triage items (or the turn log) as CSV or JSON lines; only redacted text is ever stored."""
    with _friendly_errors():
        store = _store(ctx)
        if out is None:
            store.export(fmt, sys.stdout, what=what)
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as tmp:
                count = store.export(fmt, tmp, what=what)
            os.replace(tmp_name, out)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    typer.echo(f"Exported {count} {'items' if what == ExportWhat.TRIAGE else 'turns'} to {out}.", err=True)


@app.command()
def purge(
    ctx: typer.Context,
    days: Annotated[
        int | None,
        typer.Option(min=0, help="Delete turns older than this; default: settings retention_days."),
    ] = None,
) -> None:
    """Delete logged turns (and their triage items and feedback) older than the retention window."""
    with _friendly_errors():
        settings = _settings(ctx)
        keep = settings.retention_days if days is None else days
        removed = Store(settings.db_path).purge(keep)
    typer.echo(f"Purged {removed} turns older than {keep} days.")
