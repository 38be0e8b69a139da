"""The web app's handlers and its HTTP surface: limits, faults, feedback, the staff login wall, the console.

Handlers are called directly with the real session bot; the HTTP checks hit the real app served on a loopback
port with plain httpx. Each test gets its own SQLite store, so what staff would see is checked exactly.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

import ui
from bot.chat import ChatBot
from bot.reply import Category, Citation, Reply
from bot.settings import Settings
from bot.triage.staff_auth import (
    DISABLED_MESSAGE,
    CredentialsError,
    LoginGuard,
    StaffCredentials,
    hash_password,
    verify_password,
)
from bot.triage.store import Store
from bot.web.app import build_app
from bot.web.guard import STAFF_PUBLIC_EXACT, STAFF_PUBLIC_PREFIXES
from bot.web.patient import APOLOGY_ERROR, APOLOGY_TIMEOUT, PatientChat
from bot.web.render import highlight, notice_entry, render_reply, render_source_group, reply_entry
from bot.web.server import start_server
from bot.web.staff import STAFF_PATH, StaffConsole
from tests.conftest import DATA

pytestmark = pytest.mark.slow

STAFF_USER = "nurse.jones"
STAFF_PASSWORD = "correct horse battery staple"
SECRET_QUESTION = "What does the SECRETMARKER study cost my family?"
RISKS = "What risks did the article report?"


def staff_settings(bot: ChatBot, **extra: Any) -> Settings:
    update: dict[str, Any] = {
        "staff_user": STAFF_USER,
        "staff_password_hash": hash_password(STAFF_PASSWORD, iterations=2_000),
        "staff_password": None,
        **extra,
    }
    return bot.settings.model_copy(update=update)


def with_store(bot: ChatBot, store: Store) -> ChatBot:
    """The session bot (same model and index) logging to its own store."""
    clone = copy.copy(bot)
    clone.store = store
    return clone


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "ui.sqlite3")


@pytest.fixture
def chat(bot: ChatBot, store: Store) -> Iterator[PatientChat]:
    patient = PatientChat(with_store(bot, store), bot.settings, store)
    yield patient
    patient.close()


def request(session: str = "sess-1", username: str | None = None) -> gr.Request:
    return gr.Request(username=username, session_hash=session)


# ------------------------------------------------------------------------------------------- patient handlers


def test_api_text_has_markers_caveats_and_sources_and_is_logged(chat: PatientChat, store: Store) -> None:
    text = chat.respond(RISKS, None, request())
    assert re.search(r"infections", text, re.I)
    assert "[1]" in text and "> ⚠️" in text and "\nSources:\n[1] " in text
    (turn,) = store.turns()
    assert turn.question == RISKS and turn.source == "api" and turn.category == "answered"


def test_page_entry_is_the_cited_answer_at_once_with_a_short_caveat_summary(chat: PatientChat) -> None:
    entry = chat.ask_entry(RISKS, [], "web:sess-entry-1", "10.0.0.1", 0)
    assert entry["kind"] == "answer" and entry["category"] == "answered" and entry["turn_id"] is not None
    assert '<a href="#src-0-1" class="cite" aria-label="Source 1, paragraph' in entry["html"]
    assert 'id="src-0-1"' in entry["sources"] and "<mark>" in entry["sources"]
    assert entry["citations"][0]["where"].startswith("paragraph ")
    assert entry["text"] and "**" not in entry["text"]


def test_emergency_entry_is_an_alert(chat: PatientChat, store: Store) -> None:
    text = "My husband suddenly can't move his left side and his face is drooping"
    entry = chat.ask_entry(text, [], "web:sess-emergency", "10.0.0.2")
    assert 'role="alert"' in entry["html"] and "911" in entry["html"]
    assert entry["could_not_answer"] is False
    assert [i.category for i in store.list_items()] == ["emergency"]


def test_rate_limit_per_session_with_a_friendly_message(bot: ChatBot, store: Store) -> None:
    settings = bot.settings.model_copy(update={"rate_limit_per_minute": 2})
    chat = PatientChat(with_store(bot, store), settings, store)
    try:
        answers = [chat.respond("How many volunteers took part?", None, request("busy")) for _ in range(3)]
        other = chat.respond("How many volunteers took part?", None, request("calm"))
    finally:
        chat.close()
    assert all("24 volunteers aged 26 to 52" in a for a in answers[:2])
    assert "limit is 2 a minute" in answers[2] and "try again" in answers[2]
    assert "24 volunteers aged 26 to 52" in other, "another session is not slowed down"
    assert len(store.turns()) == 3


def test_rate_limit_per_client_address_catches_a_new_session_per_message(bot: ChatBot, store: Store) -> None:
    settings = bot.settings.model_copy(update={"rate_limit_per_ip_per_minute": 3})
    chat = PatientChat(with_store(bot, store), settings, store)
    try:
        texts = [
            chat.answer("hello", session_id=f"s:new-{i}", client="203.0.113.9", source="api").text for i in range(4)
        ]
        elsewhere = chat.answer("hello", session_id="s:other", client="198.51.100.7", source="api")
        page = chat.ask_entry("hello", [], "web:fresh-session", "203.0.113.9")
    finally:
        chat.close()
    assert "limit is" not in " ".join(texts[:3]) and "limit is 20 a minute" in texts[3]
    assert elsewhere.kind == "answer"
    assert page["kind"] == "rate_limited" and "try again" in page["html"]


def test_too_long_and_bad_messages_get_a_clear_reason_and_are_not_logged(chat: PatientChat, store: Store) -> None:
    limit = chat.settings.max_message_chars
    long_text = chat.respond("a" * (limit + 1), None, request())
    assert f"{limit + 1:,} characters" in long_text and f"limit is {limit:,}" in long_text
    assert "Please type a question" in chat.respond("   ", None, request())
    assert "control characters" in chat.respond("hello\x07", None, request())
    assert store.turns() == []
    entry = chat.ask_entry("b" * (limit + 5), [], "web:sess-long", None)
    assert "limit is" in entry["html"] and 'class="notice"' in entry["html"] and entry["turn_id"] is None


def test_a_failure_inside_the_bot_is_an_apology_and_a_full_log_line(
    bot: ChatBot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Store(tmp_path / "broken.sqlite3")
    (tmp_path / "broken.sqlite3").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"broken.sqlite3{suffix}").unlink(missing_ok=True)
    chat = PatientChat(with_store(bot, broken), bot.settings, broken)
    try:
        with caplog.at_level(logging.ERROR, logger="bot.ui"):
            text = chat.respond(RISKS, None, request())
    finally:
        chat.close()
    assert text == APOLOGY_ERROR
    assert "Traceback" not in text and "sqlite" not in text.lower()
    (record,) = [r for r in caplog.records if r.name == "bot.ui"]
    assert record.exc_info is not None and "bot.ask failed" in record.getMessage()


def test_a_slow_answer_times_out_with_an_apology(bot: ChatBot, caplog: pytest.LogCaptureFixture) -> None:
    settings = bot.settings.model_copy(update={"request_timeout_s": 0.001})
    chat = PatientChat(with_store(bot, Store(Path(bot.settings.data_dir) / "timeout.sqlite3")), settings)
    try:
        with caplog.at_level(logging.ERROR, logger="bot.ui"):
            text = chat.respond(RISKS, None, request())
    finally:
        chat.close()
    assert text == APOLOGY_TIMEOUT
    assert any("timed out" in r.getMessage() for r in caplog.records)


def test_feedback_one_record_per_action_only_for_this_conversation(chat: PatientChat, store: Store) -> None:
    entry = chat.ask_entry("How many people took part in the study?", [], "web:sess-fb-1", None)
    turn_id = entry["turn_id"]
    assert chat.record(turn_id, "up", session="web:sess-fb-1") == "Thanks for your feedback."
    assert "recorded" in chat.record(turn_id, "down", "It did not say how old they were", session="web:sess-fb-1")
    assert "recorded" in chat.record(turn_id, "report", "The second paragraph is confusing", session="web:sess-fb-1")
    assert "not part of this conversation" in chat.record(turn_id, "down", session="web:someone-else")
    ratings = [(f.rating, f.comment) for f in store.feedback(turn_id)]
    assert ratings == [
        ("up", None),
        ("down", "It did not say how old they were"),
        ("report", "The second paragraph is confusing"),
    ]
    (item,) = store.list_items()
    assert item.category == "negative_feedback" and item.turn_id == turn_id
    assert any("second paragraph" in n.text for n in item.notes)
    assert "can't be rated" in chat.record(None, "down")


def test_follow_up_uses_the_conversation(chat: PatientChat) -> None:
    first = chat.ask_entry("How many volunteers took part in the study?", [], "web:sess-follow", None, 0)
    history = [{"role": "user", "content": first["question"]}, {"role": "assistant", "content": first["plain"]}]
    second = chat.ask_entry("How old were they?", history, "web:sess-follow", None, 1)
    assert "26" in second["text"] and "52" in second["text"]
    assert 'id="src-1-1"' in second["sources"]


# ------------------------------------------------------------------------------------------- rendering

FOOTER = "This is education about one news article, not medical advice. Talk to your neurologist."
CITATION = Citation(
    1,
    "halt-ms-news-p6",
    quote="Adverse events were minimal and expected.",
    anchor="halt-ms-news#p6",
    title="HALT-MS news",
    score=1.0,
    passage_text="Intro. Adverse events were minimal and expected. More.",
    doc_id="halt-ms-news",
    source_url="https://www.niaid.nih.gov/news-events/halt-ms",
)


def test_caveat_summary_under_the_answer_and_all_risks_behind_a_disclosure() -> None:
    reply = Reply(
        "**24 volunteers** took part [1].",
        Category.ANSWERED,
        (CITATION,),
        caveats=("Infections were reported as expected adverse events [1].", FOOTER),
        all_caveats=("Infections were reported [1].", "Three participants died [1].", "Chemotherapy is harsh [1]."),
    )
    shown = render_reply(reply, 2)
    assert shown.index("<strong>24 volunteers</strong>") < shown.index('class="caveat-summary"')
    assert shown.index('class="caveat-summary"') < shown.index('<details class="risks">')
    assert "<summary>Show all risks (3)</summary>" in shown
    assert shown.rstrip().endswith(f'<p class="footer-note">{FOOTER}</p>')
    assert 'aria-label="Source 1, paragraph 6">[1]</a>' in shown
    card = render_source_group(reply.citations, 2, "Who took part?")
    assert 'href="https://www.niaid.nih.gov/news-events/halt-ms"' in card and "Open the original article" in card
    entry = reply_entry("Who took part?", reply, 2)
    assert entry["summary"] == ["Infections were reported as expected adverse events [1]."]
    assert entry["citations"][0]["source_url"].startswith("https://") and entry["could_not_answer"] is False


def test_does_not_say_shows_only_the_footer_and_unknown_categories_render_generically() -> None:
    gap = Reply("The article does not say what drugs were used.", Category.NOT_IN_ARTICLE, caveats=(FOOTER,))
    shown = render_reply(gap, 0)
    assert "caveat-summary" not in shown and "risks" not in shown and FOOTER in shown
    assert reply_entry("Which drugs?", gap, 0)["could_not_answer"] is True
    odd = Reply("Sorry, I can only answer in English.", "unsupported_language", caveats=(FOOTER,))  # type: ignore[arg-type]
    entry = reply_entry("¿Qué es?", odd, 1)
    assert "only answer in English" in entry["html"] and entry["could_not_answer"] is True
    assert "cat-" not in entry["html"]


def test_an_old_style_long_caveat_list_still_puts_the_answer_first() -> None:
    old = Reply("Answer [1].", Category.ANSWERED, (CITATION,), caveats=("Risk A [1].", "Risk B.", "Risk C.", FOOTER))
    shown = render_reply(old, 0)
    assert shown.count("caveat-summary") == 1 and "Show all risks (3)" in shown
    short = Reply("Answer [1].", Category.ANSWERED, (CITATION,), caveats=("Risk A [1].", FOOTER))
    assert "caveat-summary" in render_reply(short, 0) and "<details" not in render_reply(short, 0)


def test_everything_shown_is_escaped() -> None:
    evil = "<img src=x onerror=alert(1)>"
    citation = Citation(1, "p", quote=evil, anchor="doc#p2", title=evil, score=1.0, passage_text=f"Intro. {evil}")
    reply = Reply(f"{evil} [1] [7]", Category.ANSWERED, (citation,), (f"{evil} [1]", FOOTER))
    shown = render_reply(reply, 0) + render_source_group(reply.citations, 0, evil)
    assert "<img" not in shown and "&lt;img" in shown
    assert '<a href="#src-0-1"' in shown and "[7]" in shown and "#src-0-7" not in shown
    assert "<mark>&lt;img src=x onerror=alert(1)&gt;</mark>" in shown
    js = Citation(1, "p", quote="q", anchor="d#p1", title="t", score=1.0, source_url="javascript:alert(1)")
    assert "javascript:" not in render_source_group((js,), 0, "q")
    assert "<img" not in notice_entry(evil, evil, "error")["html"]


def test_highlight_marks_each_quoted_sentence() -> None:
    passage = "One. Two is here. Three follows. Four."
    marked = highlight(passage, "Two is here. Four.")
    assert marked == "One. <mark>Two is here.</mark> Three follows. <mark>Four.</mark>"


# ------------------------------------------------------------------------------------------- staff auth


def test_password_hash_round_trip_and_format() -> None:
    encoded = hash_password("s3cret-passphrase", iterations=1_000, salt="abc")
    assert encoded.startswith("pbkdf2_sha256$1000$abc$") and len(encoded.split("$")[3]) == 64
    assert verify_password("s3cret-passphrase", encoded)
    assert not verify_password("s3cret-passphrasE", encoded)
    with pytest.raises(CredentialsError, match="pbkdf2_sha256"):
        verify_password("x", "md5$1$2$3")


def test_credentials_come_only_from_settings(bot: ChatBot) -> None:
    assert StaffCredentials.from_settings(bot.settings.model_copy(update=_no_staff())) is None
    plain = StaffCredentials.from_settings(
        bot.settings.model_copy(update={**_no_staff(), "staff_user": "a", "staff_password": SecretStr("pw-from-env")})
    )
    assert plain is not None and plain.verify("a", "pw-from-env") and not plain.verify("a", "pw")
    assert "pw-from-env" not in repr(plain)
    hashed = StaffCredentials.from_settings(staff_settings(bot))
    assert hashed is not None and hashed.verify(STAFF_USER, STAFF_PASSWORD)
    assert not hashed.verify("someone", STAFF_PASSWORD) and not hashed.verify(STAFF_USER, "")
    with pytest.raises(CredentialsError, match="BOT_STAFF_USER"):
        StaffCredentials.from_settings(bot.settings.model_copy(update={**_no_staff(), "staff_password_hash": "x"}))
    with pytest.raises(CredentialsError, match="BOT_STAFF_PASSWORD_HASH"):
        StaffCredentials.from_settings(bot.settings.model_copy(update={**_no_staff(), "staff_user": "a"}))


def _no_staff() -> dict[str, Any]:
    return {"staff_user": None, "staff_password": None, "staff_password_hash": None}


def test_login_guard_locks_out_and_backs_off() -> None:
    now = [0.0]
    guard = LoginGuard(max_failures=3, base_lock_s=10, max_lock_s=25, clock=lambda: now[0])
    assert [guard.failure("ip") for _ in range(3)] == [0.0, 0.0, 10.0]
    assert guard.retry_after("ip") == 10.0 and guard.retry_after("other") == 0.0
    now[0] = 11.0
    assert guard.retry_after("ip") == 0.0
    assert guard.failure("ip") == 20.0 and guard.failure("ip") == 25.0
    guard.success("ip")
    assert guard.retry_after("ip") == 0.0 and guard.failure("ip") == 0.0


def test_hash_password_command(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert ui.main(["hash-password", "1000"]) == 0
    encoded = capsys.readouterr().out.strip()
    assert verify_password("a long enough password", encoded)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert ui.main(["hash-password"]) == 1


def test_the_app_that_cannot_start_says_why_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    (knowledge / "doc.md").write_text("---\nid: doc\ntitle: [unclosed\n---\nSome text.\n", encoding="utf-8")
    monkeypatch.setenv("BOT_KNOWLEDGE_DIR", str(knowledge))
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "data"))
    assert ui.main([]) == 2
    printed = capsys.readouterr().err
    assert printed.startswith("error: ") and "doc.md" in printed and "Traceback" not in printed


# ------------------------------------------------------------------------------------------- staff console handlers


@pytest.fixture
def seeded(bot: ChatBot, store: Store) -> dict[str, int]:
    b = with_store(bot, store)
    ids = {
        "advice": b.ask("Should I get this treatment?", session_id="s1", source="ui").turn_id,
        "cost": b.ask(SECRET_QUESTION, session_id="s1", source="ui").turn_id,
        "emergency": b.ask("I can't breathe and my chest hurts", session_id="s2", source="ui").turn_id,
    }
    return {k: int(v or 0) for k, v in ids.items()}


def test_console_queue_detail_assign_resolve_export(bot: ChatBot, store: Store, seeded: dict[str, int]) -> None:
    console = StaffConsole(store, staff_settings(bot), bot)
    staff = request("staff", STAFF_USER)
    with pytest.raises(gr.Error):
        console.queue_table("open", "all", "", 1, "UTC", request("anon"))
    table, summary, _page, label, badge = console.queue_table("open", "all", "", 1, "Europe/Paris", staff)
    assert table["Priority"].iloc[0] == "URGENT" and "3 items" in summary and label == "Page 1 of 1"
    assert 'data-count="1"' in badge and "1 urgent item waiting" in badge
    assert table["Received"].iloc[0].endswith(("CET", "CEST")), "times are in the staff member's zone"
    assert set(table["Category"]) == {"emergency", "medical advice", "not in article"}
    only, *_ = console.queue_table("open", "not_in_article", "", 1, "UTC", staff)
    assert list(only["Question"]) == [SECRET_QUESTION]
    found, summary, *_ = console.queue_table("all", "all", "secretmarker", 1, "UTC", staff)
    assert list(found["Question"]) == [SECRET_QUESTION] and "secretmarker" in summary

    item_id = int(only["ID"][0])
    detail, assignee = console.detail(item_id, "UTC", staff)
    assert assignee == STAFF_USER and "Conversation (2 turns)" in detail and "Should I get this treatment?" in detail
    assert detail.count('class="turn flagged"') == 1 and "Nobody has acted on this item yet" in detail
    assert "assigned to" in console.assign(item_id, "Dr. Lee", staff)
    assert "Note added" in console.note(item_id, "Asked billing", staff)[0]
    message, note = console.resolve(item_id, "Added to the FAQ", staff)
    assert "resolved" in message and note == ""
    item = store.get_item(item_id)
    assert item.status == "resolved" and item.assignee == "Dr. Lee"
    assert [(e.actor, e.action) for e in item.events] == [
        (STAFF_USER, "assign"),
        (STAFF_USER, "status"),
        (STAFF_USER, "note"),
        (STAFF_USER, "resolve"),
    ]
    detail, _ = console.detail(item_id, "UTC", staff)
    assert "Audit trail" in detail and f"<strong>{STAFF_USER}</strong> · resolve: Added to the FAQ" in detail
    with pytest.raises(gr.Error, match="resolution note"):
        console.resolve(item_id, "  ", staff)
    remaining, *_ = console.queue_table("open", "all", "", 1, "UTC", staff)
    assert item_id not in set(remaining["ID"])

    path = console.export_csv(staff)
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    assert {r["category"] for r in rows} == {"emergency", "medical_advice", "not_in_article"}
    assert any(f"{STAFF_USER} resolve: Added to the FAQ" in r["audit_trail"] for r in rows)
    filtered = console.export_csv(staff, "open", "emergency", "")
    rows = list(csv.DictReader(io.StringIO(Path(filtered).read_text(encoding="utf-8"))))
    assert [r["category"] for r in rows] == ["emergency"], "the export follows the filters on screen"


def test_console_pages_and_the_live_tick_redraws_only_on_change(bot: ChatBot, store: Store) -> None:
    reply = Reply("The article does not say.", Category.NOT_IN_ARTICLE)
    for i in range(30):
        store.log_turn(f"p{i}", f"Unanswered question number {i}", reply, source="ui")
    console = StaffConsole(store, staff_settings(bot), bot)
    staff = request("staff", STAFF_USER)
    first, _, page, _label, _ = console.queue_table("open", "all", "", 1, "UTC", staff)
    last, _, page2, label2, _ = console.queue_table("open", "all", "", 9, "UTC", staff)
    assert len(first) == 25 and len(last) == 5 and (page, page2) == (1, 2) and label2 == "Page 2 of 2"
    *out, mark = console.live("open", "all", "", 1, "UTC", "", staff)
    assert len(out[0]) == 25 and mark
    again = console.live("open", "all", "", 1, "UTC", mark, staff)
    assert again[-1] == mark and all(isinstance(v, dict) and v.get("__type__") == "update" for v in again[:-1])
    store.log_turn("urgent", "Chest pain right now", Reply("Call 911.", Category.EMERGENCY), source="ui")
    *out, new_mark = console.live("open", "all", "", 1, "UTC", mark, staff)
    assert new_mark != mark and out[0]["Priority"].iloc[0] == "URGENT" and 'data-count="1"' in out[4]


def test_console_charts_each_with_a_text_table(bot: ChatBot, store: Store, seeded: dict[str, int]) -> None:
    store.add_feedback(seeded["advice"], "up")
    store.add_feedback(seeded["cost"], "down")
    console = StaffConsole(store, staff_settings(bot), bot)
    per_day, per_day_table, unanswered, feedback, feedback_table = console.charts(request("staff", STAFF_USER))
    assert per_day["messages"].sum() == 3 and len(set(per_day["day"])) >= 14
    assert "<table" in per_day_table and "<caption>Messages per day by category</caption>" in per_day_table
    assert "SECRETMARKER" in unanswered and '<div class="bar"' in unanswered and "<table" in unanswered
    assert feedback.groupby("rating")["count"].sum().to_dict() == {"helpful": 1, "not helpful or reported": 1}
    assert '<td class="n">1</td><td class="n">1</td>' in feedback_table


def test_evaluate_tab_runs_the_evaluation_without_logging(bot: ChatBot, store: Store, tmp_path: Path) -> None:
    lines = (DATA / "qa" / "own.dev.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(lines) + "\n", encoding="utf-8")
    console = StaffConsole(store, staff_settings(bot), with_store(bot, store))
    shown, files = console.evaluate(str(qa), request("staff", STAFF_USER), progress=gr.Progress())
    assert "questions passed" in shown and "<iframe" in shown and "sandbox" in shown
    assert files is not None and [Path(f).name for f in files] == ["report.json", "report.html"]
    assert json.loads(Path(files[0]).read_text(encoding="utf-8"))["aggregate"]["n"] == 3
    assert store.turns() == [], "evaluation questions are not logged"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n', encoding="utf-8")
    shown, files = console.evaluate(str(bad), request("staff", STAFF_USER), progress=gr.Progress())
    assert files is None and "cannot be used" in shown


# ------------------------------------------------------------------------------------------- the running app


@pytest.fixture(scope="module")
def served(bot: ChatBot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store = Store(tmp_path_factory.mktemp("served") / "ui.sqlite3")
    app_bot = with_store(bot, store)
    app_bot.ask(SECRET_QUESTION, session_id="seed", source="ui")
    app = build_app(app_bot, store, staff_settings(bot))
    server = start_server(app)
    try:
        yield {"url": server.url, "app": app, "store": store}
    finally:
        app.state.chat.close()
        server.stop()


def staff_routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the mounted staff Gradio app serves, including its included routers."""
    from starlette.routing import Mount

    mounted: Any = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == STAFF_PATH)
    found: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if hasattr(route, "original_router"):
                sub = route.original_router
                walk(sub.routes, prefix + (sub.prefix or ""))
                continue
            path = getattr(route, "path", None)
            if path is None:
                continue
            full = path if prefix and path.startswith(prefix) else prefix + path
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                if method != "HEAD":
                    found.append((method, STAFF_PATH + full))

    walk(list(mounted.routes), "")
    return found


def test_every_staff_route_refuses_an_anonymous_caller(served: dict[str, Any]) -> None:
    routes = staff_routes(served["app"])
    assert len(routes) > 60 and ("POST", "/staff/gradio_api/queue/join") in routes
    public = []
    with httpx.Client(base_url=served["url"], timeout=10, follow_redirects=False) as client:
        for method, path in routes:
            url = re.sub(r"\{[^}]+\}", "x", path)
            resp = client.request(method, url, json={} if method == "POST" else None)
            assert "SECRETMARKER" not in resp.text, f"{method} {path} leaked staff data"
            rest = path[len(STAFF_PATH) :]
            if rest.rstrip("/") in STAFF_PUBLIC_EXACT or rest.startswith(STAFF_PUBLIC_PREFIXES):
                public.append(path)
                continue
            assert resp.status_code == 401, f"{method} {path} answered {resp.status_code} to an anonymous caller"
        login = client.get("/staff/")
        assert login.status_code == 200 and '"auth_required":true' in login.text.replace(" ", "")
        assert client.get("/staff/config").status_code == 401
        assert client.get("/staff").status_code == 307
    assert all(not p.startswith("/staff/gradio_api/") or p.endswith("theme.css") for p in public), public


def test_patient_page_has_only_the_chat_api(served: dict[str, Any]) -> None:
    with httpx.Client(base_url=served["url"], timeout=10) as client:
        info = client.get("/gradio_api/info").json()
        config = client.get("/config").text
        page = client.get("/").text
    assert list(info["named_endpoints"]) == ["/chat"] and info["unnamed_endpoints"] == {}
    for word in ("triage", "export_csv", "Resolve", "SECRETMARKER", STAFF_USER):
        assert word not in config and word not in page


def test_page_calls_ask_and_feedback_over_http(served: dict[str, Any]) -> None:
    store: Store = served["store"]
    with httpx.Client(base_url=served["url"], timeout=30) as client:
        page = client.get("/").text
        assert "<h1>HALT-MS article helper</h1>" in page and 'id="question"' in page
        assert page.index('id="question"') < page.index('id="chat"'), "the question box comes first"
        assert client.post("/api/ask", content="message=hi").status_code == 400  # JSON only
        assert client.post("/api/ask", json={"message": "hi", "session": "x"}).status_code == 400  # bad session id
        huge = {"message": "hi", "session": "page-session-1", "history": [{"role": "user", "content": "x" * 300_000}]}
        assert client.post("/api/ask", json=huge).status_code == 400
        entry = client.post(
            "/api/ask", json={"message": "How old were the volunteers?", "session": "page-session-1", "group": 3}
        ).json()
        assert entry["kind"] == "answer" and 'href="#src-3-1"' in entry["html"] and entry["turn_id"]
        turn = store.get_turn(entry["turn_id"])
        assert turn.session_id == "web:page-session-1" and turn.source == "ui"

        def feedback(session: str, rating: str, comment: str = "") -> Any:
            body = {"session": session, "turn_id": entry["turn_id"], "rating": rating, "comment": comment}
            return client.post("/api/feedback", json=body)

        assert feedback("someone-else-1", "down").json()["ok"] is False
        assert feedback("page-session-1", "nonsense").status_code == 400
        assert feedback("page-session-1", "down", "Too vague").json() == {
            "ok": True,
            "message": "Thanks: your feedback was recorded and a member of staff will look at this answer.",
        }
    assert [(f.rating, f.comment) for f in store.feedback(entry["turn_id"])] == [("down", "Too vague")]


def test_answers_at_once_are_bounded_and_the_overflow_is_told_kindly(bot: ChatBot, store: Store) -> None:
    settings = bot.settings.model_copy(update={"concurrency_limit": 1, "queue_max_size": 1, "request_timeout_s": 5})
    gate = threading.Event()
    slow = with_store(bot, store)
    real_ask = slow.ask

    def held_ask(*args: Any, **kwargs: Any) -> Reply:
        gate.wait(10)
        return real_ask(*args, **kwargs)

    slow.ask = held_ask  # type: ignore[method-assign]
    chat = PatientChat(slow, settings, store)
    try:
        results: dict[str, Any] = {}
        first = threading.Thread(target=lambda: results.update(a=chat.answer("hello", session_id="s1", client="a")))
        first.start()
        time.sleep(0.3)
        second = threading.Thread(target=lambda: results.update(b=chat.answer("hello", session_id="s2", client="b")))
        second.start()
        time.sleep(0.3)
        third = chat.answer("hello", session_id="s3", client="c")  # one answering, one waiting: no room
        gate.set()
        first.join(10)
        second.join(10)
    finally:
        chat.close()
    assert third.kind == "busy" and "try again" in third.text
    assert results["a"].kind == "answer" and results["b"].kind == "answer"


def _login(client: httpx.Client, password: str = STAFF_PASSWORD) -> httpx.Response:
    return client.post("/staff/login", data={"username": STAFF_USER, "password": password})


def _call(client: httpx.Client, api: str, data: list[Any]) -> Any:
    event = client.post(f"/staff/gradio_api/call/{api}", json={"data": data}).json()["event_id"]
    stream = client.get(f"/staff/gradio_api/call/{api}/{event}").text
    (payload,) = [line[6:] for line in stream.splitlines() if line.startswith("data: ") and line[6:] != "null"][-1:]
    return json.loads(payload)


def test_staff_login_then_console_api_and_exports_stay_private(served: dict[str, Any]) -> None:
    with httpx.Client(base_url=served["url"], timeout=30) as client:
        assert _login(client, "wrong password").status_code == 400
        assert client.get("/staff/config").status_code == 401
        assert _login(client).status_code == 200
        assert client.get("/staff/config").status_code == 200
        api = client.get("/staff/gradio_api/info").json()["named_endpoints"]
        assert {"/queue", "/item", "/export_csv"} <= set(api)
        table, *_ = _call(client, "queue", ["open", "all", "", "UTC"])
        assert any("SECRETMARKER" in str(row) for row in table["data"])
        (update,) = _call(client, "export_csv", ["open", "all", ""])
        export = update.get("value", update)
        assert client.get(export["url"]).status_code == 200 and "SECRETMARKER" in client.get(export["url"]).text
    with httpx.Client(timeout=10) as anonymous:
        assert anonymous.get(export["url"]).status_code == 401
        patient_copy = anonymous.get(f"{served['url']}/gradio_api/file={export['path']}")
        assert patient_copy.status_code in (403, 404) and "SECRETMARKER" not in patient_copy.text


def test_failed_logins_are_locked_out(bot: ChatBot, store: Store) -> None:
    app = build_app(with_store(bot, store), store, staff_settings(bot), login_guard=LoginGuard(max_failures=2))
    client = TestClient(app)
    wrong = {"username": STAFF_USER, "password": "nope"}
    assert [client.post("/staff/login", data=wrong).status_code for _ in range(2)] == [400, 400]
    locked = client.post("/staff/login", data={"username": STAFF_USER, "password": STAFF_PASSWORD})
    assert locked.status_code == 429 and "Too many failed sign-in attempts" in locked.json()["detail"]
    assert int(locked.headers["Retry-After"]) > 0
    app.state.chat.close()


@pytest.mark.parametrize("extra", [_no_staff(), {**_no_staff(), "staff_password_hash": "not-a-hash"}])
def test_without_credentials_the_console_is_disabled_with_a_clear_message(
    bot: ChatBot, store: Store, extra: dict[str, Any]
) -> None:
    settings = bot.settings.model_copy(update=extra)
    app = build_app(with_store(bot, store), store, settings)
    client = TestClient(app)
    page = client.get("/staff")
    assert page.status_code == 503 and "Staff console disabled" in page.text
    if not extra["staff_password_hash"]:
        assert "BOT_STAFF_USER" in page.text and "BOT_STAFF_PASSWORD_HASH" in page.text
        assert DISABLED_MESSAGE.split(":")[0] in page.text
    for path in ("/staff/", "/staff/config", "/staff/gradio_api/info", "/staff/login"):
        assert client.get(path).status_code == 503
    assert client.post("/staff/gradio_api/queue/join", json={}).status_code == 503
    assert client.post("/staff/login", data={"username": "admin", "password": "admin"}).status_code == 503
    app.state.chat.close()
