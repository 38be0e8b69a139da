"""Building the bot for a command-line run: a progress bar for any embedding work, clear errors, notices."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.chat import ChatBot

err = Console(stderr=True)


def build_bot(settings: Settings) -> ChatBot:
    """Build the bot with a progress bar for any embedding work; exits with a clear message if setup fails."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.chat import ChatBot
    from bot.corpus.documents import KnowledgeError
    from bot.corpus.embeddings import ModelError
    from bot.corpus.index import StoreBusyError

    with Progress(
        TextColumn("[bold]embedding passages"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("embed", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            bot = ChatBot.from_settings(settings, progress=progress)
        except (StoreBusyError, KnowledgeError, ModelError) as exc:
            err.print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from exc
    for notice in bot.startup.notices:
        err.print(f"[yellow]note:[/yellow] {notice}")
    return bot
