"""Every turn asked through ChatBot lands in SQLite, redacted, and the right ones reach the staff queue."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
from chromadb.api import ClientAPI
from langchain_core.embeddings import Embeddings

from bot.chat import ChatBot
from bot.settings import Settings
from tests.conftest import KNOWLEDGE

pytestmark = pytest.mark.slow


def test_turns_are_logged_redacted_and_flags_are_queued(bot: ChatBot) -> None:
    assert bot.store is not None
    session = uuid.uuid4().hex
    advice = bot.ask(
        "Hi, I'm Jane Doe (jane.doe@example.com, 555-123-4567), DOB 04/12/1979. Should I stop my Ocrevus?",
        session_id=session,
    )
    plain = bot.ask("How old were the volunteers?", session_id=session)
    gap = bot.ask("What chemotherapy drugs were used?", session_id=session)
    urgent = bot.ask("my husband just collapsed and is not breathing", session_id=session)

    turns = bot.store.session_turns(session)
    assert [t.id for t in turns] == [advice.turn_id, plain.turn_id, gap.turn_id, urgent.turn_id]
    assert [t.category for t in turns] == ["medical_advice", "answered", "not_in_article", "emergency"]
    assert turns[1].citations[0].quote == plain.citations[0].quote
    assert turns[0].source == "api"

    with sqlite3.connect(bot.settings.db_path) as conn:
        dump = "\n".join(conn.iterdump())
    for secret in ("Jane", "Doe", "jane.doe@example.com", "555-123-4567", "04/12/1979"):
        assert secret not in dump

    queued = {item.turn_id: item for item in bot.store.list_items() if item.turn_id in {t.id for t in turns}}
    assert set(queued) == {advice.turn_id, gap.turn_id, urgent.turn_id}, "ordinary answers are not queued"
    assert urgent.turn_id is not None and queued[urgent.turn_id].priority == "urgent"
    first = bot.store.list_items()[0]
    assert first.priority == "urgent", "urgent items come first"


def test_logging_can_be_switched_off(bot: ChatBot) -> None:
    quiet = ChatBot(
        settings=bot.settings.model_copy(update={"log_conversations": False}),
        embeddings=bot.embeddings,
        index=bot.index,
        documents=bot.documents,
        nlp=bot.nlp,
        safety=bot.safety,
        model=bot.model,
        store=bot.store,
    )
    assert bot.store is not None
    before = len(bot.store.turns())
    reply = quiet.ask("Who is Richard Nash?")
    assert reply.turn_id is None
    assert len(bot.store.turns()) == before


def test_settings_without_logging_open_no_database(
    tmp_path: Path, embeddings: Embeddings, ephemeral_client: ClientAPI
) -> None:
    settings = Settings(
        data_dir=tmp_path, knowledge_dir=KNOWLEDGE, log_conversations=False, collection="nolog_passages"
    )
    quiet = ChatBot.from_settings(settings, embeddings=embeddings, client=ephemeral_client)
    assert quiet.store is None
    quiet.ask("hello")
    assert not settings.db_path.exists()
