"""The urgent-item webhook: a JSON post per urgent item to a receiver on loopback, sent in the background so a slow
or dead receiver never delays the answer."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bot.reply import Category, Reply
from bot.triage.alert import WebhookAlerter
from bot.triage.store import Store

pytestmark = pytest.mark.slow  # starts a loopback HTTP server


class _SlowReceiver(BaseHTTPRequestHandler):
    posts: ClassVar[list[dict[str, Any]]] = []
    delay_s: ClassVar[float] = 0.0

    def do_POST(self) -> None:
        time.sleep(_SlowReceiver.delay_s)
        _SlowReceiver.posts.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _SlowReceiver.posts = []
    server = HTTPServer(("127.0.0.1", 0), _SlowReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    finally:
        server.shutdown()


def _wait_for(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_slow_receiver_gets_the_post_without_delaying_the_answer(receiver: str, tmp_path: Path) -> None:
    _SlowReceiver.delay_s = 1.5
    store = Store(tmp_path / "bot.sqlite3")
    alerter = WebhookAlerter(receiver, console_url="https://triage.example/staff/")
    store.on_urgent(alerter)
    try:
        started = time.monotonic()
        store.log_turn("s", "not urgent", Reply("The article does not say.", Category.NOT_IN_ARTICLE))
        turn = store.log_turn("s", "my wife collapsed", Reply("Call 911 now.", Category.EMERGENCY))
        assert time.monotonic() - started < 0.5, "logging the turn does not wait for the webhook"
        _wait_for(lambda: _SlowReceiver.posts)
    finally:
        _SlowReceiver.delay_s = 0.0
        alerter.close()
    [post] = _SlowReceiver.posts
    assert post["event"] == "urgent_triage_item" and post["turn_id"] == turn and post["category"] == "emergency"
    assert post["console_url"] == "https://triage.example/staff/" and "collapsed" not in json.dumps(post)


def test_a_dead_receiver_is_logged_and_costs_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = Store(tmp_path / "bot.sqlite3")
    alerter = WebhookAlerter(f"http://127.0.0.1:{port}/hook", timeout_s=0.5, attempts=2)
    store.on_urgent(alerter)
    with caplog.at_level(logging.ERROR, logger="bot.triage"):
        started = time.monotonic()
        store.log_turn("s", "chest pain", Reply("Call 911 now.", Category.EMERGENCY))
        assert time.monotonic() - started < 0.5
        _wait_for(lambda: any("urgent webhook failed" in r.getMessage() for r in caplog.records))
        alerter.close()
    assert any("after 2 attempts" in r.getMessage() for r in caplog.records)
    assert len(store.list_items()) == 1
