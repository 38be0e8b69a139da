"""Building the bot for a command-line run: a progress bar for any embedding work, clear errors, notices."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.chat import ChatBot

err = Console(stderr=True)


def setup_errors() -> tuple[type[Exception], ...]:
    """What setting up can fail with (a knowledge file, the model, the store), each with a message that says
    what to do: shown as one line, not a traceback."""
    from bot.corpus.documents import KnowledgeError
    from bot.corpus.embeddings import ModelError
    from bot.corpus.index import StoreBusyError

    return (KnowledgeError, ModelError, StoreBusyError)


@contextmanager
def reported() -> Iterator[None]:
    """Run a command's setup; a setup error is printed in one line and the command exits 2."""
    try:
        yield
    except setup_errors() as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc


def build_bot(settings: Settings) -> ChatBot:
    """Build the bot with a progress bar for any embedding work; exits with a clear message if setup fails."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.chat import ChatBot

    with Progress(
        TextColumn("[bold]embedding passages"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("embed", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        with reported():
            bot = ChatBot.from_settings(settings, progress=progress)
    for notice in bot.startup.notices:
        err.print(f"[yellow]note:[/yellow] {notice}")
    return bot
