"""The conversation log and triage queue, on real SQLite files: what staff see, and what survives crashes."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.reply import Category, Citation, Reply
from bot.triage.store import (
    QUEUED,
    SCHEMA_VERSION,
    NotFoundError,
    Store,
    StoreError,
    TriageCategory,
)
from tests.conftest import ROOT

PII_MESSAGE = "Hi, I'm Sarah Connor, DOB 04/12/1979, my MRN is 55821934 — should I stop Ocrevus? Call 555-123-4567"
PII_FRAGMENTS = ("Sarah", "Connor", "04/12/1979", "55821934", "555-123-4567")
CITATION = Citation(
    n=1,
    passage_id="halt-ms-news-p4",
    quote="the results showed that 69% had survived without experiencing progression of disability",
    anchor="halt-ms-news#p4",
    title="Immunosuppressive Therapy, Stem Cell Transplant Induces Remission",
    score=0.83,
    passage_text="Five years after patients in the HALT-MS trial received ...",
)


@dataclass
class Clock:
    """A settable UTC clock handed to the store, so "newest first" and retention are exact."""

    now: datetime = field(default_factory=lambda: datetime(2025, 3, 1, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def reply(category: Category, answer: str = "The article says 69% survived [1].", **kw: object) -> Reply:
    return Reply(answer=answer, category=category, **kw)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "nested" / "bot.sqlite3"


@pytest.fixture
def store(db_path: Path, clock: Clock) -> Store:
    return Store(db_path, clock=clock)


def raw(db_path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the file with plain sqlite3, as any other tool would."""
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def assert_consistent(db_path: Path) -> None:
    """Integrity ok, no dangling rows, and every turn whose category is queued has exactly one item for it."""
    assert raw(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert raw(db_path, "PRAGMA foreign_key_check") == []
    queued = tuple(str(c) for c in QUEUED)
    marks = ",".join("?" * len(queued))
    missing = raw(
        db_path,
        f"SELECT t.id FROM turns t WHERE t.category IN ({marks}) AND NOT EXISTS "
        "(SELECT 1 FROM triage_items i WHERE i.turn_id = t.id AND i.category = t.category)",
        queued,
    )
    assert missing == []


# ---------------------------------------------------------------------------------------------- logging


def test_log_turn_round_trips_everything_staff_need(store: Store, db_path: Path, clock: Clock) -> None:
    r = reply(Category.ANSWERED, citations=(CITATION,), caveats=("Five-year data from 24 people.",), latency_ms=42.5)
    turn_id = store.log_turn("session-1", "What share survived?", r, source="ui")

    turn = store.get_turn(turn_id)
    assert turn.session_id == "session-1"
    assert turn.question == "What share survived?"
    assert turn.answer == r.answer
    assert turn.category == "answered"
    assert turn.source == "ui"
    assert turn.latency_ms == 42.5
    assert turn.caveats == ("Five-year data from 24 people.",)
    assert turn.created_at == clock.now
    [cited] = turn.citations
    assert (cited.n, cited.passage_id, cited.quote, cited.anchor) == (
        1,
        CITATION.passage_id,
        CITATION.quote,
        CITATION.anchor,
    )
    # the database file lives where it was asked for, with its folders created, in WAL mode
    assert db_path.exists()
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert raw(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_unknown_source_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="Unknown source 'sms'"):
        store.log_turn("s", "q", reply(Category.ANSWERED), source="sms")


def test_no_personal_data_reaches_the_disk(store: Store, db_path: Path) -> None:
    turn_id = store.log_turn(
        "s1", PII_MESSAGE, reply(Category.MEDICAL_ADVICE, answer="Hello Sarah Connor! Ask Dr. Patel.")
    )
    store.add_feedback(turn_id, "down", "Useless. Write to sarah.connor@example.com or 555-123-4567")
    [item] = store.list_items()
    store.add_note(item.id, "Called Mrs. Connor back on 555-123-4567")
    store.resolve(item.id, "Done, spoke with Sarah Connor")

    conn = sqlite3.connect(db_path)
    dump = "\n".join(conn.iterdump())
    conn.close()
    leaked = [f for f in (*PII_FRAGMENTS, "sarah.connor@example.com", "Patel") if f in dump]
    assert leaked == []
    assert "[NAME]" in dump and "[DOB]" in dump and "[RECORD]" in dump and "[PHONE]" in dump
    # nor in the raw pages of the file or its write-ahead log
    blob = b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p.name.startswith(db_path.name))
    assert [f for f in PII_FRAGMENTS if f.encode() in blob] == []


def test_session_turns_give_the_whole_conversation_in_order(store: Store) -> None:
    a = store.log_turn("alice", "Hello", reply(Category.GREETING, answer="Hi!"))
    store.log_turn("bob", "What is HDIT/HCT?", reply(Category.ANSWERED))
    b = store.log_turn("alice", "Should I stop my meds?", reply(Category.MEDICAL_ADVICE))
    assert [t.id for t in store.session_turns("alice")] == [a, b]
    assert store.session_turns("nobody") == []
    with pytest.raises(LookupError, match="No turn with id 999"):
        store.get_turn(999)


# ---------------------------------------------------------------------------------------------- queueing


@pytest.mark.parametrize("category", list(Category))
def test_only_categories_needing_a_human_are_queued(store: Store, category: Category) -> None:
    turn_id = store.log_turn("s", "a question", reply(category))
    items = store.list_items()
    expected = {
        Category.EMERGENCY: "urgent",
        Category.MEDICAL_ADVICE: "normal",
        Category.NOT_IN_ARTICLE: "normal",
        Category.INJECTION: "normal",
        Category.LANGUAGE: "normal",
    }
    if category in expected:
        [item] = items
        assert (item.turn_id, item.category, item.priority, item.status) == (
            turn_id,
            str(category),
            expected[category],
            "new",
        )
        assert item.assignee is None and item.notes == ()
    else:
        assert items == []


@pytest.mark.parametrize("category", [Category.ANSWERED, Category.NOT_IN_ARTICLE, Category.OUT_OF_SCOPE])
def test_a_reply_that_ended_with_where_to_find_help_is_an_urgent_distress_item(
    store: Store, category: Category
) -> None:
    """Most real emergencies the safety layer misses get the line on where to find help: staff see them first,
    whatever the reply's own category, and the urgent listeners hear of them."""
    heard: list[Any] = []
    store.on_urgent(heard.append)
    store.log_turn("s", "how many took part", reply(Category.ANSWERED))
    turn_id = store.log_turn("s", "I have to think about each breath", reply(category, support=True))
    [item] = store.list_items()
    assert (item.turn_id, item.category, item.priority) == (turn_id, "distress", "urgent")
    assert item.turn.category == str(category)
    [alert] = heard
    assert (alert.turn_id, alert.category, alert.priority) == (turn_id, "distress", "urgent")
    assert [i.turn_id for i in store.list_items(category="distress")] == [turn_id]


def test_queue_lists_urgent_first_then_newest(store: Store, clock: Clock) -> None:
    ids = {}
    for name, category in [
        ("old gap", Category.NOT_IN_ARTICLE),
        ("old emergency", Category.EMERGENCY),
        ("advice", Category.MEDICAL_ADVICE),
        ("new emergency", Category.EMERGENCY),
        ("injection", Category.INJECTION),
    ]:
        clock.tick(minutes=5)
        ids[name] = store.log_turn("s", name, reply(category))
    order = [item.turn.question for item in store.list_items()]
    assert order == ["new emergency", "old emergency", "injection", "advice", "old gap"]
    assert [item.turn.question for item in store.list_items(limit=2)] == ["new emergency", "old emergency"]


def test_filters_by_status_and_category(store: Store) -> None:
    store.log_turn("s", "chest pain", reply(Category.EMERGENCY))
    store.log_turn("s", "cure diabetes?", reply(Category.NOT_IN_ARTICLE))
    store.log_turn("s", "cost in Ohio?", reply(Category.NOT_IN_ARTICLE))
    gap = store.list_items(category="not_in_article")
    assert sorted(i.turn.question for i in gap) == ["cost in Ohio?", "cure diabetes?"]
    store.resolve(gap[0].id, "Added to FAQ backlog")
    assert [i.turn.question for i in store.list_items(status="resolved")] == [gap[0].turn.question]
    assert len(store.list_items(status="new")) == 2
    assert [i.turn.question for i in store.list_items(status="new", category="emergency")] == ["chest pain"]
    with pytest.raises(ValueError, match="Unknown status 'done'"):
        store.list_items(status="done")
    with pytest.raises(ValueError, match="Unknown triage category 'answered'"):
        store.list_items(category="answered")


def test_triage_categories_are_reply_categories_plus_feedback_and_distress() -> None:
    assert {str(c) for c in QUEUED} <= {str(c) for c in Category}
    assert set(TriageCategory) == {*QUEUED, TriageCategory.NEGATIVE_FEEDBACK, TriageCategory.DISTRESS}


# ---------------------------------------------------------------------------------------------- feedback


def test_thumbs_up_is_recorded_but_not_queued(store: Store) -> None:
    turn_id = store.log_turn("s", "What is HALT-MS?", reply(Category.ANSWERED))
    store.add_feedback(turn_id, "up")
    assert store.list_items() == []
    assert [f.rating for f in store.feedback(turn_id)] == ["up"]


def test_thumbs_down_queues_negative_feedback_with_the_redacted_comment(store: Store) -> None:
    turn_id = store.log_turn("s", "What is HALT-MS?", reply(Category.ANSWERED))
    store.add_feedback(turn_id, "down", "Wrong answer. I'm Jane Doe, call 555-123-4567")
    [item] = store.list_items()
    assert (item.turn_id, item.category, item.priority, item.status) == (
        turn_id,
        "negative_feedback",
        "normal",
        "new",
    )
    assert [n.text for n in item.notes] == ["Patient feedback: down - Wrong answer. I'm [NAME], call [PHONE]"]
    assert store.feedback(turn_id)[0].comment == "Wrong answer. I'm [NAME], call [PHONE]"


def test_feedback_on_an_already_queued_turn_becomes_a_note_not_a_duplicate(store: Store, clock: Clock) -> None:
    turn_id = store.log_turn("s", "I can't feel my legs", reply(Category.EMERGENCY))
    [before] = store.list_items()
    clock.tick(minutes=1)
    store.add_feedback(turn_id, "report", "the bot ignored me")
    [after] = store.list_items()
    assert after.id == before.id and after.category == "emergency"
    assert [n.text for n in after.notes] == ["Patient feedback: report - the bot ignored me"]
    assert after.updated_at > before.updated_at
    # once that item is resolved, new complaints open a fresh item
    store.resolve(after.id, "Called back, patient safe")
    store.add_feedback(turn_id, "down")
    assert [(i.category, i.status) for i in store.list_items()] == [
        ("emergency", "resolved"),
        ("negative_feedback", "new"),
    ]


def test_feedback_errors_are_clear(store: Store) -> None:
    turn_id = store.log_turn("s", "q", reply(Category.ANSWERED))
    with pytest.raises(ValueError, match="No turn with id 12345"):
        store.add_feedback(12345, "down")
    with pytest.raises(ValueError, match="Unknown rating 'meh'; expected one of: up, down, report"):
        store.add_feedback(turn_id, "meh")
    assert store.feedback(turn_id) == []


# ---------------------------------------------------------------------------------------------- staff actions


def test_assign_note_and_resolve(store: Store, clock: Clock) -> None:
    store.log_turn("s", "Should I stop Ocrevus?", reply(Category.MEDICAL_ADVICE))
    [item] = store.list_items()

    clock.tick(minutes=3)
    assigned = store.assign(item.id, "  Nurse Kim ")
    assert (assigned.assignee, assigned.status) == ("Nurse Kim", "in_progress")
    assert assigned.updated_at == clock.now and assigned.created_at == item.created_at

    clock.tick(minutes=3)
    store.add_note(item.id, "Left a voicemail on 555-123-4567")
    clock.tick(minutes=3)
    resolved = store.resolve(item.id, "Told them to ask their neurologist")
    assert resolved.status == "resolved"
    assert [(n.text, n.created_at) for n in resolved.notes] == [
        ("Left a voicemail on [PHONE]", clock.now - timedelta(minutes=3)),
        ("Told them to ask their neurologist", clock.now),
    ]
    reopened = store.set_status(item.id, "new")
    assert reopened.status == "new" and len(reopened.notes) == 2  # notes are never lost


def test_unknown_ids_and_bad_values_raise_clear_errors(store: Store) -> None:
    store.log_turn("s", "q", reply(Category.EMERGENCY))
    [item] = store.list_items()
    for action in (
        lambda: store.get_item(404),
        lambda: store.assign(404, "Kim"),
        lambda: store.set_status(404, "resolved"),
        lambda: store.add_note(404, "x"),
        lambda: store.resolve(404, "x"),
    ):
        with pytest.raises(LookupError, match="No triage item with id 404"):
            action()
    with pytest.raises(NotFoundError):  # also a ValueError, for callers that catch that
        store.get_item(404)
    with pytest.raises(ValueError, match="Unknown status 'closed'; expected one of: new, in_progress, resolved"):
        store.set_status(item.id, "closed")
    with pytest.raises(ValueError, match="resolution note is required"):
        store.resolve(item.id, "   ")
    with pytest.raises(ValueError, match="Assignee must not be empty"):
        store.assign(item.id, " ")
    assert store.get_item(item.id).status == "new"


# ---------------------------------------------------------------------------------------------- retention


def test_purge_removes_old_turns_with_their_items_and_feedback(store: Store, db_path: Path, clock: Clock) -> None:
    old = store.log_turn("old", "chest pain", reply(Category.EMERGENCY))
    store.add_feedback(old, "down", "slow")
    clock.tick(days=300)
    recent = store.log_turn("new", "cure diabetes?", reply(Category.NOT_IN_ARTICLE))
    clock.tick(days=100)

    assert store.purge(365) == 1
    assert [t.id for t in store.turns()] == [recent]
    assert [i.turn_id for i in store.list_items()] == [recent]
    assert raw(db_path, "SELECT count(*) FROM feedback") == [(0,)]
    assert raw(db_path, "SELECT count(*) FROM triage_notes") == [(0,)]
    assert store.purge(365) == 0
    assert store.purge(0) == 1
    assert store.turns() == []
    with pytest.raises(ValueError):
        store.purge(-1)


# ---------------------------------------------------------------------------------------------- export


def _seed_for_export(store: Store, clock: Clock) -> None:
    store.log_turn("s1", "What is HALT-MS?", reply(Category.ANSWERED, citations=(CITATION,)))
    clock.tick(minutes=1)
    store.log_turn("s1", "I'm Jane, my chest hurts", reply(Category.EMERGENCY, answer="Call 911 now."))
    clock.tick(minutes=1)
    store.log_turn(
        "s2", '=HYPERLINK("http://evil")', reply(Category.INJECTION, answer="I can only discuss the article.")
    )
    [_, injection] = store.list_items()
    store.resolve(injection.id, "Ignored")


def test_export_csv_parses_back_to_the_queue(store: Store, clock: Clock) -> None:
    _seed_for_export(store, clock)
    out = io.StringIO()
    assert store.export("csv", out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["category"], r["priority"], r["status"]) for r in rows] == [
        ("emergency", "urgent", "new"),
        ("injection", "normal", "resolved"),
    ]
    assert rows[0]["turn_question"] == "I'm [NAME], my chest hurts"
    assert rows[0]["turn_answer"] == "Call 911 now."
    assert rows[0]["turn_session_id"] == "s1"
    assert rows[1]["notes"].endswith(" Ignored")
    # a formula typed by a patient stays inert text in a spreadsheet
    assert rows[1]["turn_question"] == '\'=HYPERLINK("http://evil")'


def test_export_jsonl_carries_nested_turns_and_the_turn_log(store: Store, clock: Clock) -> None:
    _seed_for_export(store, clock)
    out = io.StringIO()
    assert store.export("jsonl", out) == 2
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["turn"]["question"] for r in records] == [
        "I'm [NAME], my chest hurts",
        '=HYPERLINK("http://evil")',
    ]
    assert records[1]["notes"][0]["text"] == "Ignored"

    turns_out = io.StringIO()
    assert store.export("jsonl", turns_out, what="turns") == 3
    turns = [json.loads(line) for line in turns_out.getvalue().splitlines()]
    assert turns[0]["citations"] == [
        {"n": 1, "passage_id": CITATION.passage_id, "quote": CITATION.quote, "anchor": CITATION.anchor}
    ]
    csv_out = io.StringIO()
    assert store.export("csv", csv_out, what="turns") == 3
    assert len(list(csv.DictReader(io.StringIO(csv_out.getvalue())))) == 3


def test_export_of_an_empty_queue_still_has_a_header(store: Store) -> None:
    out = io.StringIO()
    assert store.export("csv", out) == 0
    assert out.getvalue().startswith("id,turn_id,category,priority,status,")
    with pytest.raises(ValueError, match="Unknown export format 'xlsx'"):
        store.export("xlsx", io.StringIO())


# ---------------------------------------------------------------------------------------------- statistics


def test_statistics_for_the_staff_console(store: Store, clock: Clock) -> None:
    t1 = store.log_turn("s", "Does it cure diabetes?", reply(Category.NOT_IN_ARTICLE))
    store.log_turn("s", "does it cure  DIABETES", reply(Category.NOT_IN_ARTICLE))
    store.log_turn("s", "What does it cost?", reply(Category.NOT_IN_ARTICLE))
    store.log_turn("s", "What is HALT-MS?", reply(Category.ANSWERED))
    store.add_feedback(t1, "up")
    store.add_feedback(t1, "down")
    clock.tick(days=1)
    t2 = store.log_turn("s", "What is HALT-MS?", reply(Category.ANSWERED))
    store.add_feedback(t2, "report")

    assert store.messages_per_day() == [
        ("2025-03-01", "answered", 1),
        ("2025-03-01", "not_in_article", 3),
        ("2025-03-02", "answered", 1),
    ]
    assert store.top_not_in_article() == [("does it cure  DIABETES", 2), ("What does it cost?", 1)]
    assert store.top_not_in_article(limit=1)[0].asked == 2
    assert store.feedback_over_time() == [("2025-03-01", 1, 1), ("2025-03-02", 0, 1)]


# ---------------------------------------------------------------------------------------------- migrations

V1_SQL = """
CREATE TABLE turns (
    id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, created_at TEXT NOT NULL, question TEXT NOT NULL,
    answer TEXT NOT NULL, category TEXT NOT NULL, citations TEXT NOT NULL DEFAULT '[]',
    caveats TEXT NOT NULL DEFAULT '[]', latency_ms REAL NOT NULL DEFAULT 0
);
CREATE TABLE triage_items (
    id INTEGER PRIMARY KEY, turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
    category TEXT NOT NULL, priority TEXT NOT NULL CHECK (priority IN ('urgent', 'normal')),
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'in_progress', 'resolved')),
    assignee TEXT, note TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX turns_created ON turns(created_at);
INSERT INTO turns VALUES (1, 'old-session', '2025-01-02T03:04:05.000000Z', 'chest pain', 'Call 911',
    'emergency', '[]', '[]', 12.0);
INSERT INTO triage_items VALUES (1, 1, 'emergency', 'urgent', 'in_progress', 'Kim', 'called back',
    '2025-01-02T03:04:05.000000Z', '2025-01-02T04:00:00.000000Z');
PRAGMA user_version = 1;
"""


def _make_v1(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(V1_SQL)
    conn.close()


def test_a_version_1_database_is_migrated_without_losing_data(db_path: Path) -> None:
    _make_v1(db_path)
    store = Store(db_path)
    assert store.schema_version == SCHEMA_VERSION == 3
    item = store.get_item(1)
    assert (item.status, item.assignee, item.turn.question, item.turn.source) == (
        "in_progress",
        "Kim",
        "chest pain",
        "unknown",
    )
    assert [(n.text, n.created_at) for n in item.notes] == [("called back", datetime(2025, 1, 2, 4, tzinfo=UTC))]
    assert "note" not in {row[1] for row in raw(db_path, "PRAGMA table_info(triage_items)")}
    new = store.log_turn("s", "hello", reply(Category.EMERGENCY), source="cli")
    store.add_feedback(new, "down")
    assert len(store.list_items()) == 2
    assert_consistent(db_path)


def test_a_failed_migration_leaves_the_old_schema_untouched(db_path: Path) -> None:
    _make_v1(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE feedback (something_else TEXT)")  # makes the v2 migration fail half-way
    conn.close()
    with pytest.raises(StoreError, match="table feedback already exists"):
        Store(db_path)
    assert raw(db_path, "PRAGMA user_version") == [(1,)]
    assert "note" in {row[1] for row in raw(db_path, "PRAGMA table_info(triage_items)")}
    assert "source" not in {row[1] for row in raw(db_path, "PRAGMA table_info(turns)")}
    assert raw(db_path, "SELECT name FROM sqlite_master WHERE name = 'triage_notes'") == []


def test_concurrent_openers_migrate_exactly_once(db_path: Path) -> None:
    _make_v1(db_path)
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            Store(db_path)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert raw(db_path, "SELECT text FROM triage_notes") == [("called back",)]
    assert raw(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_opening_waits_for_another_writer_instead_of_failing(db_path: Path) -> None:
    # Another process mid-write holds the file's write lock while the bot starts. Switching the file to WAL
    # then fails at once in SQLite (no busy wait), which is how six openers at a time failed under CI load.
    _make_v1(db_path)
    writer = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE triage_items SET assignee = 'Ana' WHERE id = 1")
    release = threading.Timer(0.3, lambda: writer.execute("COMMIT"))
    release.start()
    try:
        store = Store(db_path)
    finally:
        release.join()
        writer.close()
    assert store.schema_version == SCHEMA_VERSION
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert store.get_item(1).assignee == "Ana"  # the other writer's change is kept, then migrated


def test_a_database_from_a_newer_version_is_refused(db_path: Path) -> None:
    Store(db_path).log_turn("s", "q", reply(Category.ANSWERED))
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match=r"schema version 99, but this version of the bot only knows up to 3"):
        Store(db_path)
    assert raw(db_path, "PRAGMA user_version") == [(99,)]
    assert raw(db_path, "SELECT count(*) FROM turns") == [(1,)]


def test_a_file_that_is_not_a_database_is_refused_clearly(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_text("these are my notes, not a database" * 100)
    with pytest.raises(StoreError, match=r"Cannot open the conversation database .*bot\.sqlite3"):
        Store(db_path)


# ---------------------------------------------------------------------------------------------- concurrency

CATEGORIES = [Category.ANSWERED, Category.EMERGENCY, Category.NOT_IN_ARTICLE, Category.GREETING]
PER_WRITER = 50

WRITER = f"""
import sys
from pathlib import Path
from bot.reply import Category, Reply
from bot.triage.store import Store

path, tag = Path(sys.argv[1]), sys.argv[2]
categories = [Category(c) for c in {[str(c) for c in CATEGORIES]!r}]
store = Store(path)
print("ready", flush=True)
sys.stdin.readline()
for i in range({PER_WRITER}):
    answer = Reply("answer", categories[i % len(categories)])
    store.log_turn(tag, f"question {{i}} from {{tag}}", answer, source="cli")
"""


def _python(script: str, *args: str, stdin: int | None = None, stdout: int | None = None) -> subprocess.Popen[str]:
    """A separate Python process running `script` against this checkout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], env=env, cwd=ROOT, text=True, stdin=stdin, stdout=stdout
    )


def test_threads_and_processes_writing_at_once_lose_nothing(db_path: Path) -> None:
    store = Store(db_path)
    procs = [
        _python(WRITER, str(db_path), f"proc-{n}", stdin=subprocess.PIPE, stdout=subprocess.PIPE) for n in range(3)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    errors: list[BaseException] = []
    start = threading.Barrier(8 + 1)

    def thread_writer(tag: str) -> None:
        start.wait()
        try:
            for i in range(PER_WRITER):
                category = CATEGORIES[i % len(CATEGORIES)]
                store.log_turn(tag, f"question {i} from {tag}", reply(category), source="api")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=thread_writer, args=(f"thread-{n}",)) for n in range(8)]
    for t in threads:
        t.start()
    for proc in procs:  # release the processes and the threads together
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    start.wait()
    for t in threads:
        t.join(timeout=60)
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    assert errors == []

    writers = [f"thread-{n}" for n in range(8)] + [f"proc-{n}" for n in range(3)]
    rows = raw(db_path, "SELECT session_id, question FROM turns")
    assert len(rows) == len(writers) * PER_WRITER
    assert set(rows) == {(w, f"question {i} from {w}") for w in writers for i in range(PER_WRITER)}
    queued_per_writer = sum(1 for i in range(PER_WRITER) if CATEGORIES[i % len(CATEGORIES)] in QUEUED)
    assert raw(db_path, "SELECT count(*) FROM triage_items") == [(len(writers) * queued_per_writer,)]
    assert_consistent(db_path)


def test_a_forked_child_and_a_closed_connection_still_write_through_the_same_store(store: Store, db_path: Path) -> None:
    """Each thread keeps its connection; a forked child must open its own (SQLite's may not cross a fork), and
    `close()` leaves the store usable."""
    store.log_turn("parent", "before the fork", reply(Category.ANSWERED))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            store.log_turn("child", "in the child", reply(Category.EMERGENCY))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.close()
    store.log_turn("parent", "after the fork", reply(Category.ANSWERED))
    assert sorted(raw(db_path, "SELECT session_id, question FROM turns")) == [
        ("child", "in the child"),
        ("parent", "after the fork"),
        ("parent", "before the fork"),
    ]
    assert raw(db_path, "SELECT count(*) FROM triage_items") == [(1,)]
    assert_consistent(db_path)


# ---------------------------------------------------------------------------------------------- crashes

CRASH_MID_TRANSACTION = """
import os, signal, sys
from pathlib import Path
import bot.triage.store as store_module
from bot.reply import Category, Reply

store = store_module.Store(Path(sys.argv[1]))
for i in range(20):
    store.log_turn("committed", f"question {i}", Reply("answer", Category.EMERGENCY))

def die_before_commit(conn, *args):
    # The turn row is already written in this transaction; make the transaction long and large enough to
    # spill into the write-ahead log, then die before the triage item or the COMMIT.
    for j in range(3000):
        conn.execute(
            "INSERT INTO turns (session_id, created_at, question, answer, category) VALUES (?, ?, ?, ?, ?)",
            ("doomed", "2025-01-01T00:00:00.000000Z", "x" * 2000, "y", "emergency"),
        )
    os.kill(os.getpid(), signal.SIGKILL)

store_module._insert_item = die_before_commit
store.log_turn("doomed", "never committed", Reply("answer", Category.EMERGENCY))
print("not reached", flush=True)
"""


def test_a_process_killed_inside_a_write_transaction_leaves_a_consistent_db(db_path: Path) -> None:
    Store(db_path)
    proc = _python(CRASH_MID_TRANSACTION, str(db_path), stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert "not reached" not in out
    wal = db_path.with_name(db_path.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 1_000_000  # the dead transaction really reached the disk

    store = Store(db_path)
    assert_consistent(db_path)
    assert raw(db_path, "SELECT DISTINCT session_id FROM turns") == [("committed",)]
    assert len(store.list_items()) == 20
    new = store.log_turn("after", "still works?", reply(Category.EMERGENCY))
    assert store.list_items()[0].turn_id == new


LOOP_WRITER = """
import sys
from pathlib import Path
from bot.reply import Category, Reply
from bot.triage.store import Store

store = Store(Path(sys.argv[1]))
categories = [Category.EMERGENCY, Category.ANSWERED, Category.MEDICAL_ADVICE]
i = 0
while True:
    turn = store.log_turn(sys.argv[2], f"q{i}", Reply("a" * 500, categories[i % 3]), source="cli")
    if i % 2:
        store.add_feedback(turn, "down", "not helpful")
    i += 1
"""


def test_processes_killed_at_random_moments_leave_a_consistent_db(db_path: Path) -> None:
    Store(db_path)
    for round_, wait in enumerate((0.15, 0.35, 0.6)):
        procs = [_python(LOOP_WRITER, str(db_path), f"r{round_}-{n}") for n in range(2)]
        deadline = time.monotonic() + 30
        while raw(db_path, "SELECT count(*) FROM turns WHERE session_id LIKE ?", (f"r{round_}-%",))[0][0] < 20:
            assert time.monotonic() < deadline, "writers did not start"
            time.sleep(0.02)
        time.sleep(wait)
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert_consistent(db_path)
    store = Store(db_path)
    turns = store.turns()
    assert len(turns) >= 3 * 20
    # every thumbs-down that committed is in the queue, as an item or a note on one
    downs = raw(db_path, "SELECT count(*) FROM feedback WHERE rating = 'down'")[0][0]
    notes = raw(db_path, "SELECT count(*) FROM triage_notes WHERE text LIKE 'Patient feedback: down%'")[0][0]
    assert downs == notes


# ------------------------------------------------------------------------------------------- v2 console


def test_every_staff_action_leaves_an_audit_trail_shown_on_the_item_and_exported(store: Store, clock: Clock) -> None:
    store.log_turn("s1", "Is it covered by insurance?", reply(Category.NOT_IN_ARTICLE))
    [item] = store.list_items()
    clock.tick(minutes=1)
    store.assign(item.id, "Nurse Kim", actor="nurse.jones")
    clock.tick(minutes=1)
    store.add_note(item.id, "Looking into it", actor="nurse.kim")
    store.set_status(item.id, "new", actor="nurse.kim")
    clock.tick(minutes=1)
    done = store.resolve(item.id, "Added to the FAQ backlog", actor="nurse.kim")
    trail = [(e.actor, e.action, e.detail) for e in done.events]
    assert trail == [
        ("nurse.jones", "assign", "assigned to Nurse Kim"),
        ("nurse.jones", "status", "new -> in_progress"),
        ("nurse.kim", "note", "Looking into it"),
        ("nurse.kim", "status", "in_progress -> new"),
        ("nurse.kim", "resolve", "Added to the FAQ backlog"),
    ]
    assert done.events[0].created_at == datetime(2025, 3, 1, 9, 1, tzinfo=UTC)
    out = io.StringIO()
    store.export("csv", out)
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert "nurse.jones assign: assigned to Nurse Kim" in row["audit_trail"]
    assert "nurse.kim resolve: Added to the FAQ backlog" in row["audit_trail"]
    jsonl = io.StringIO()
    store.export("jsonl", jsonl)
    assert [e["actor"] for e in json.loads(jsonl.getvalue())["events"]][-1] == "nurse.kim"


def test_search_paging_and_an_export_that_respects_the_filters(store: Store, clock: Clock) -> None:
    for i in range(7):
        clock.tick(minutes=1)
        store.log_turn(f"s{i}", f"Question number {i} about insurance", reply(Category.NOT_IN_ARTICLE))
    store.log_turn("e", "chest pain and 100% sure", reply(Category.EMERGENCY))
    first = store.list_items(search="number 3")
    assert [i.turn.question for i in first] == ["Question number 3 about insurance"]
    store.add_note(first[0].id, "Callback booked with the billing office")
    assert [i.id for i in store.list_items(search="BILLING")] == [first[0].id]
    assert store.list_items(search="100%")[0].category == "emergency"  # LIKE wildcards are literal
    assert store.list_items(search="_") == []
    assert store.count_items(category="not_in_article") == 7
    page1 = store.list_items(category="not_in_article", limit=3)
    page3 = store.list_items(category="not_in_article", limit=3, offset=6)
    assert len(page1) == 3 and len(page3) == 1
    assert {i.id for i in page1}.isdisjoint(i.id for i in page3)
    store.resolve(page1[0].id, "done")
    assert store.count_items(open_only=True) == 7
    assert store.open_urgent_count() == 1
    out = io.StringIO()
    assert store.export("csv", out, category="not_in_article", search="insurance", open_only=True) == 6
    assert all(r["category"] == "not_in_article" for r in csv.DictReader(io.StringIO(out.getvalue())))


def test_urgent_items_are_announced_to_listeners_and_a_broken_listener_costs_nothing(store: Store) -> None:
    heard: list[Any] = []

    def broken(alert: Any) -> None:
        raise RuntimeError("webhook down")

    store.on_urgent(broken)
    store.on_urgent(heard.append)
    store.log_turn("s", "what is HALT-MS", reply(Category.NOT_IN_ARTICLE))
    turn_id = store.log_turn("s", "my husband collapsed", reply(Category.EMERGENCY))
    [alert] = heard
    assert (alert.turn_id, alert.category, alert.priority) == (turn_id, "emergency", "urgent")
    assert store.get_item(alert.item_id).turn_id == turn_id


def test_insights_leave_out_garbled_messages_and_count_each_feedback_action_once(store: Store) -> None:
    for text in ("Is it covered by insurance?", "is it covered by insurance", "asdfgh jkl", "???", "qwrtz"):
        store.log_turn("s", text, reply(Category.NOT_IN_ARTICLE))
    assert [(q.question, q.asked) for q in store.top_not_in_article()] == [("is it covered by insurance", 2)]
    turn = store.log_turn("s", "Did anyone die?", reply(Category.ANSWERED))
    store.add_feedback(turn, "down")
    store.add_feedback(turn, "report", "wrong")  # the old page stored both for one thumbs-down with a comment
    other = store.log_turn("s", "How old were they?", reply(Category.ANSWERED))
    store.add_feedback(other, "up")
    [day] = store.feedback_over_time()
    assert (day.up, day.down) == (1, 1)
