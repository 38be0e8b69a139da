"""Hybrid retrieval finds numbers, names, paraphrases, misspellings and follow-ups, embedded and over a server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from bot.chat import ChatBot
from bot.settings import Settings
from tests.conftest import KNOWLEDGE

pytestmark = pytest.mark.slow

CASES = [
    ("69%", "p4"),
    ("24", "p6"),
    ("Nash", "p10"),
    ("Rotrosen", "p12"),
    ("remision", "p9"),
    ("what did fauci say", "p5"),
    ("did anybody pass away", "p8"),
    ("can people walk better afterwards", "p9"),
    ("how common is ms in america", "p11"),
    ("wat jornal publishd it", "p3"),
    ("why do they want a bigger randomised trial", "p5"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server on a loopback port, stopped after the module."""
    exe = shutil.which("chroma") or str(Path(__import__("sys").executable).with_name("chroma"))
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma server did not start within 60 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server_bot(chroma_server: str, embeddings: Embeddings, tmp_path_factory: pytest.TempPathFactory) -> ChatBot:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("server-bot"),
        knowledge_dir=KNOWLEDGE,
        chroma_url=chroma_server,
        log_conversations=False,
    )
    return ChatBot.from_settings(settings, embeddings=embeddings)


@pytest.fixture(params=["embedded", "server"])
def any_bot(request: pytest.FixtureRequest) -> ChatBot:
    chosen: ChatBot = request.getfixturevalue("bot" if request.param == "embedded" else "server_bot")
    return chosen


def _anchors(bot: ChatBot, question: str, k: int = 3) -> list[str]:
    query = bot.analyzer.analyse(question)
    return [h.passage.anchor.split("#")[1] for h in bot.retriever.retrieve(query, k=k)]


@pytest.mark.parametrize(("query", "paragraph"), CASES)
def test_finds_the_passage(any_bot: ChatBot, query: str, paragraph: str) -> None:
    assert paragraph in _anchors(any_bot, query, k=6), _anchors(any_bot, query, k=6)


def test_server_mode_really_uses_the_server(server_bot: ChatBot) -> None:
    assert type(server_bot.index.client).__name__ != "Client" or server_bot.settings.chroma_url
    reply = server_bot.ask("How old were the volunteers?")
    assert any("aged 26 to 52" in c.quote for c in reply.citations)


def test_follow_up_leans_on_the_earlier_question(any_bot: ChatBot) -> None:
    history = [
        {"role": "user", "content": "Who took part in the HALT-MS study?"},
        {"role": "assistant", "content": "24 volunteers [1]"},
    ]
    assert any_bot.analyzer.analyse("How old were they?", history).context.startswith("Who took part")
    reply = any_bot.ask("How old were they?", history)
    assert "26 to 52" in reply.answer.replace("**", "")


def test_standalone_question_ignores_history(bot: ChatBot) -> None:
    history = [{"role": "user", "content": "How many died?"}]
    assert bot.analyzer.analyse("What journal published the HALT-MS study results?", history).context == ""
    assert bot.analyzer.analyse("Who led the study?", []).context == ""


def test_a_question_naming_a_document_is_routed_to_it(two_doc_bot: ChatBot) -> None:
    query = two_doc_bot.analyzer.analyse("According to the ITN news release, what were the side effects?")
    hits = two_doc_bot.retriever.retrieve(query, k=6)
    assert hits and {h.passage.doc_id for h in hits} == {"itn-halt-ms-5yr"}
    both = two_doc_bot.retriever.retrieve(two_doc_bot.analyzer.analyse("What were the side effects?"), k=12)
    assert {h.passage.doc_id for h in both} == {"halt-ms-news", "itn-halt-ms-5yr"}
