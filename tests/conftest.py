"""Shared fixtures: the real MiniLM model and a real ChatBot, built once per test session.

Chroma here is real too: an in-memory EphemeralClient for speed, a PersistentClient where a test needs disk,
and a `chroma run` server in test_chroma_server.py. Nothing touches the network (the model loads offline).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromadb.api import ClientAPI
from langchain_core.embeddings import Embeddings

from bot.chat import ChatBot

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("BOT_CONFIG", "/nonexistent/bot.toml")

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"
DATA = Path(__file__).resolve().parent / "data"
# A second real document (a news release on the same trial), for multi-document tests; the product ships one.
SECOND_DOCUMENT = DATA / "documents" / "itn-halt-ms-5yr.md"


@pytest.fixture(scope="session")
def embeddings() -> Embeddings:
    from bot.corpus.embeddings import load_embeddings

    return load_embeddings()


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("botdata")


@pytest.fixture(scope="session")
def ephemeral_client() -> ClientAPI:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))


@pytest.fixture(scope="session")
def bot(embeddings: Embeddings, ephemeral_client: ClientAPI, session_dir: Path, nlp: Any) -> ChatBot:
    """The real pipeline over the shipped knowledge/, logging to a session SQLite file."""
    from bot.settings import Settings

    settings = Settings(data_dir=session_dir, knowledge_dir=KNOWLEDGE, collection="session_passages")
    return ChatBot.from_settings(settings, embeddings=embeddings, client=ephemeral_client, nlp=nlp)


@pytest.fixture(scope="session")
def nlp() -> Any:
    from bot.corpus.nlp import load_nlp

    return load_nlp()


@pytest.fixture(scope="session")
def two_doc_bot(
    embeddings: Embeddings, ephemeral_client: ClientAPI, nlp: Any, tmp_path_factory: pytest.TempPathFactory
) -> ChatBot:
    """The real pipeline over the shipped article plus a second real document (a news release on the same trial)."""
    from bot.settings import Settings

    folder = tmp_path_factory.mktemp("two-docs")
    shutil.copytree(KNOWLEDGE, folder / "knowledge")
    shutil.copy(SECOND_DOCUMENT, folder / "knowledge")
    settings = Settings(data_dir=folder, knowledge_dir=folder / "knowledge", collection="two_doc_passages")
    return ChatBot.from_settings(settings, embeddings=embeddings, client=ephemeral_client, nlp=nlp)


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Path:
    """A private copy of knowledge/ that a test may edit."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


@pytest.fixture
def unique_collection() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def _release_store_locks() -> Iterator[None]:
    yield
    from bot.corpus.index import release_locks

    release_locks()
