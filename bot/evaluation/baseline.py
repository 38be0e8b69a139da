"""The naive peer for evaluation: LangChain's Chroma retriever, top 4, same model; answer = the top passage.

No policy (no emergency, advice or scope handling), no composition, no caveats: it shows what the design adds.
It returns `Reply` objects so the same metrics apply to it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from langchain_chroma import Chroma

from bot.chat import validate
from bot.reply import Category, Citation, Reply

if TYPE_CHECKING:
    from bot.chat import ChatBot

K = 4


class NaiveBaseline:
    """Retrieve the top 4 passages for the question alone (history ignored); answer with the first, cited."""

    name = "naive-baseline"

    def __init__(self, bot: ChatBot) -> None:
        self.max_chars = bot.settings.max_message_chars
        self.passages = {p.id: p for p in bot.passages}
        self.store = Chroma(
            client=bot.index.client,
            collection_name=bot.index.names[0],
            embedding_function=bot.embeddings,
        )
        self.retriever = self.store.as_retriever(search_kwargs={"k": K})

    def ask(self, question: str, history: list[dict[str, str]] | None = None) -> Reply:
        """Same input rules as the bot (raises InvalidQuestion); answer = the top passage's text and `[1]`."""
        started = time.perf_counter()
        question, _ = validate(question, history, self.max_chars)
        docs = self.retriever.invoke(question)
        if not docs:
            return Reply("", Category.ANSWERED, latency_ms=(time.perf_counter() - started) * 1000)
        top = docs[0]
        pid = str(top.id)
        passage = self.passages.get(pid)
        text = top.page_content
        citation = Citation(
            n=1,
            passage_id=pid,
            quote=text,
            anchor=passage.anchor if passage else str(top.metadata.get("anchor", "")),
            title=passage.title if passage else str(top.metadata.get("title", "")),
            score=1.0,
            passage_text=text,
        )
        return Reply(
            f"{text} [1]",
            Category.ANSWERED,
            (citation,),
            (),
            latency_ms=(time.perf_counter() - started) * 1000,
        )
