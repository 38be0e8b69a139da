"""The patient chat through gradio_client, against the real app on a loopback port (as the README shows)."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gradio_client import Client

from bot.chat import ChatBot
from bot.triage.store import Store
from bot.web.app import build_app
from bot.web.server import start_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(bot: ChatBot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store]]:
    store = Store(tmp_path_factory.mktemp("client") / "ui.sqlite3")
    app_bot = copy.copy(bot)
    app_bot.store = store
    app = build_app(app_bot, store, bot.settings.model_copy(update={"staff_user": None}))
    server = start_server(app)
    try:
        yield server.url, store
    finally:
        app.state.chat.close()
        server.stop()


@pytest.fixture(scope="module")
def client(served: tuple[str, Store]) -> Client:
    return Client(served[0], verbose=False, download_files=False)


def test_chat_returns_the_cited_answer_with_caveats(client: Client, served: tuple[str, Store]) -> None:
    text = client.predict(message="What risks did the article report?", api_name="/chat")
    assert isinstance(text, str)
    assert "infections" in text and "[1]" in text
    assert "> ⚠️" in text and "not medical advice" in text
    assert "\nSources:\n[1] Immunosuppressive Therapy" in text and "(halt-ms-news#p8)" in text
    last = served[1].turns()[-1]
    assert last.source == "api" and last.question == "What risks did the article report?"


def test_chat_follow_up_with_history(client: Client) -> None:
    first = client.predict(message="How many volunteers took part in the study?", api_name="/chat")
    history = [
        {"role": "user", "content": "How many volunteers took part in the study?"},
        {"role": "assistant", "content": first.split("\n\n> ")[0]},
    ]
    text = client.predict(message="How old were they?", history=history, api_name="/chat")
    assert "26" in text and "52" in text


def test_emergency_and_limits_are_plain_answers_not_errors(client: Client) -> None:
    urgent = client.predict(message="I can't breathe and my chest hurts", api_name="/chat")
    assert "911" in urgent and "emergency" in urgent.lower()
    too_long = client.predict(message="word " * 1000, api_name="/chat")
    assert "5,000 characters" in too_long and "limit is 2,000" in too_long


def test_only_the_chat_endpoint_is_public(client: Client, served: tuple[str, Store]) -> None:
    api = client.view_api(print_info=False, return_format="dict")
    assert isinstance(api, dict)
    assert list(api["named_endpoints"]) == ["/chat"] and not api["unnamed_endpoints"]
    params = [p["parameter_name"] for p in api["named_endpoints"]["/chat"]["parameters"]]
    assert params == ["message", "history"]
    for index in (1, 2):  # there is nothing else to call
        with pytest.raises(ValueError, match="Invalid function index"):
            client.predict([], fn_index=index)


def test_staff_console_is_off_without_credentials(served: tuple[str, Store]) -> None:
    with pytest.raises(ValueError, match="Could not fetch config"):
        Client(served[0] + "/staff/", verbose=False)


def _raw_call(client: httpx.Client, message: str) -> str:
    """One `/chat` call over plain HTTP with no session id at all, as a script would make it."""
    event = client.post("/gradio_api/call/chat", json={"data": [message, None]}).json()["event_id"]
    stream = client.get(f"/gradio_api/call/chat/{event}").text
    data = [line[6:] for line in stream.splitlines() if line.startswith("data: ")]
    return str(json.loads(data[-1])[0])


def test_fifty_rapid_api_calls_without_a_session_from_one_address_are_limited(
    bot: ChatBot, tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = Store(tmp_path_factory.mktemp("flood") / "ui.sqlite3")
    app_bot = copy.copy(bot)
    app_bot.store = store
    settings = bot.settings.model_copy(update={"staff_user": None})
    app = build_app(app_bot, store, settings)
    server = start_server(app)
    replies: list[str] = []
    lock = threading.Lock()

    def caller(n: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for _ in range(n):
                text = _raw_call(http, "How many volunteers took part?")
                with lock:
                    replies.append(text)

    try:
        started = time.monotonic()
        threads = [threading.Thread(target=caller, args=(10,)) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.monotonic() - started
        # A new gradio_client per message (a fresh session each time) is limited by address as well.
        fresh: Any = Client(server.url, verbose=False, download_files=False)
        also_limited = fresh.predict(message="How many volunteers took part?", api_name="/chat")
        page = httpx.post(
            server.url + "/api/ask", json={"message": "Hi", "session": "brand-new-session-1"}, timeout=30
        ).json()
    finally:
        app.state.chat.close()
        server.stop()
    limited = [r for r in replies if "faster than I can answer" in r]
    answered = [r for r in replies if "24 volunteers" in r]
    assert len(replies) == 50 and elapsed < 60
    assert len(answered) == settings.rate_limit_per_ip_per_minute and len(limited) == 50 - len(answered)
    assert "Please wait about" in limited[0]
    assert "faster than I can answer" in also_limited
    assert page["kind"] == "rate_limited" and "faster than I can answer" in page["html"]
    assert len(store.turns()) == settings.rate_limit_per_ip_per_minute
