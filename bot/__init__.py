"""Patient-education chatbot: grounded, cited answers about the documents in knowledge/, safety first.

`from bot import ChatBot` imports the pipeline lazily, so light modules (store, redact) stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.chat import ChatBot, InvalidQuestion
    from bot.reply import Category, Citation, Reply
    from bot.settings import Settings

__all__ = ["Category", "ChatBot", "Citation", "InvalidQuestion", "Reply", "Settings"]


def __getattr__(name: str) -> Any:
    if name in ("ChatBot", "InvalidQuestion"):
        from bot import chat

        return getattr(chat, name)
    if name in ("Category", "Citation", "Reply"):
        from bot import reply

        return getattr(reply, name)
    if name == "Settings":
        from bot.settings import Settings

        return Settings
    raise AttributeError(name)
