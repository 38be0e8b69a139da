"""SQLite conversation log and staff triage queue: redacted turns, feedback, triage items, exports, retention.

Every write runs in its own `BEGIN IMMEDIATE` transaction, so threads, processes and a process killed mid-write
never leave half a turn behind (a turn and its triage item commit together). Each thread keeps one connection:
opening and closing one per turn cost more than the write (closing the last connection checkpoints the WAL).
Free text is passed through `bot.redact.redact` before it reaches the file.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from bot.reply import Category, Reply
from bot.triage.redact import redact

if TYPE_CHECKING:
    from bot.settings import Settings

BUSY_TIMEOUT_S = 30.0
SOURCES = ("ui", "cli", "api")


class Priority(StrEnum):
    """How soon staff should look: emergencies are urgent, everything else normal."""

    URGENT = "urgent"
    NORMAL = "normal"


class Status(StrEnum):
    """Where a triage item is in its life; any status may be set again (reopening is allowed)."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"


class Rating(StrEnum):
    """A patient's verdict on one reply; `report` is for replies that are wrong or harmful."""

    UP = "up"
    DOWN = "down"
    REPORT = "report"


class TriageCategory(StrEnum):
    """Why an item is in the queue: the reply categories that need a human, or a patient's complaint."""

    EMERGENCY = Category.EMERGENCY.value
    MEDICAL_ADVICE = Category.MEDICAL_ADVICE.value
    NOT_IN_ARTICLE = Category.NOT_IN_ARTICLE.value
    INJECTION = Category.INJECTION.value
    LANGUAGE = Category.LANGUAGE.value
    NEGATIVE_FEEDBACK = "negative_feedback"
    #: Answered, not escalated, but the message showed distress or a possible crisis (the reply ends with where to
    #: find help): urgent, because most real emergencies the safety layer misses land here.
    DISTRESS = "distress"


# Reply categories a member of staff should look at, and how soon.
QUEUED: dict[str, Priority] = {
    TriageCategory.EMERGENCY: Priority.URGENT,
    TriageCategory.MEDICAL_ADVICE: Priority.NORMAL,
    TriageCategory.NOT_IN_ARTICLE: Priority.NORMAL,
    TriageCategory.INJECTION: Priority.NORMAL,
    # A message the bot could not answer for its language: staff may reply in it. (A non-English emergency is
    # an EMERGENCY reply, urgent like any other.)
    TriageCategory.LANGUAGE: Priority.NORMAL,
}
TRIAGE_CATEGORIES: tuple[str, ...] = tuple(TriageCategory)


class StoreError(RuntimeError):
    """The database file cannot be used (newer schema, not a database)."""


class NotFoundError(LookupError, ValueError):
    """An unknown turn or triage item id: a LookupError and a ValueError, so either `except` catches it."""


# ------------------------------------------------------------------------------------------- returned rows


@dataclass(frozen=True)
class StoredCitation:
    """The part of a `Citation` kept in the log: enough to find and re-check the quoted passage."""

    n: int
    passage_id: str
    quote: str
    anchor: str


@dataclass(frozen=True)
class Turn:
    """One logged question and the bot's reply, as stored (redacted)."""

    id: int
    session_id: str
    created_at: datetime
    question: str
    answer: str
    category: str
    citations: tuple[StoredCitation, ...]
    caveats: tuple[str, ...]
    latency_ms: float
    source: str


@dataclass(frozen=True)
class Note:
    """One append-only, timestamped staff or system note on a triage item."""

    created_at: datetime
    text: str


@dataclass(frozen=True)
class Event:
    """One line of an item's audit trail: who did what, and when (assign, status, note, resolve)."""

    created_at: datetime
    actor: str
    action: str
    detail: str


@dataclass(frozen=True)
class UrgentAlert:
    """What listeners (the webhook) hear when an urgent item is queued: ids and kinds, never the patient's text."""

    item_id: int
    turn_id: int
    category: str
    priority: str
    created_at: datetime


@dataclass(frozen=True)
class Feedback:
    """A patient's thumbs up/down or report on one turn."""

    id: int
    turn_id: int
    rating: str
    comment: str | None
    created_at: datetime


@dataclass(frozen=True)
class TriageItem:
    """A turn waiting for (or handled by) staff, with the turn itself for the conversation detail."""

    id: int
    turn_id: int
    category: str
    priority: str
    status: str
    assignee: str | None
    notes: tuple[Note, ...]
    created_at: datetime
    updated_at: datetime
    turn: Turn
    events: tuple[Event, ...] = ()


class DayCount(NamedTuple):
    """Turns logged on one UTC day (YYYY-MM-DD) with one reply category."""

    day: str
    category: str
    messages: int


class QuestionCount(NamedTuple):
    """A question the article could not answer and how often it was asked."""

    question: str
    asked: int


class DayFeedback(NamedTuple):
    """Ratings given on one UTC day; `down` counts reports too."""

    day: str
    up: int
    down: int


# ------------------------------------------------------------------------------------------- schema


def _script(conn: sqlite3.Connection, sql: str) -> None:
    """Run `;`-separated statements in the caller's transaction (`executescript` would commit it first)."""
    for statement in sql.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1(conn: sqlite3.Connection) -> None:
    """Turns and triage items, one free-text note per item."""
    _script(
        conn,
        """
        CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            question TEXT NOT NULL,
            answer TEXT NOT NULL,
            category TEXT NOT NULL,
            citations TEXT NOT NULL DEFAULT '[]',
            caveats TEXT NOT NULL DEFAULT '[]',
            latency_ms REAL NOT NULL DEFAULT 0
        );
        CREATE TABLE triage_items (
            id INTEGER PRIMARY KEY,
            turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
            category TEXT NOT NULL,
            priority TEXT NOT NULL CHECK (priority IN ('urgent', 'normal')),
            status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'in_progress', 'resolved')),
            assignee TEXT,
            note TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX turns_created ON turns(created_at);
        """,
    )


def _v2(conn: sqlite3.Connection) -> None:
    """Where a turn came from, feedback, and append-only notes (the v1 single note becomes the first one)."""
    _script(
        conn,
        """
        ALTER TABLE turns ADD COLUMN source TEXT NOT NULL DEFAULT 'unknown';
        CREATE INDEX turns_session ON turns(session_id, id);
        CREATE INDEX triage_turn ON triage_items(turn_id);
        CREATE INDEX triage_queue ON triage_items(status, priority, created_at);
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
            rating TEXT NOT NULL CHECK (rating IN ('up', 'down', 'report')),
            comment TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX feedback_turn ON feedback(turn_id);
        CREATE TABLE triage_notes (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES triage_items(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX notes_item ON triage_notes(item_id, id);
        INSERT INTO triage_notes (item_id, created_at, text)
            SELECT id, updated_at, note FROM triage_items WHERE note IS NOT NULL AND trim(note) != '';
        ALTER TABLE triage_items DROP COLUMN note;
        """,
    )


def _v3(conn: sqlite3.Connection) -> None:
    """The audit trail: who assigned, changed the status of, noted or resolved an item, and when."""
    _script(
        conn,
        """
        CREATE TABLE triage_events (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES triage_items(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX events_item ON triage_events(item_id, id)
        """,
    )


# Index i brings a database from `PRAGMA user_version` i to i + 1. Append only; never edit a released one.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1, _v2, _v3)
SCHEMA_VERSION = len(MIGRATIONS)

# ------------------------------------------------------------------------------------------- helpers

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width, so text order is time order


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, _TIME_FORMAT).replace(tzinfo=UTC)


def _normalise_question(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip("?!. ").casefold()


_WORD = re.compile(r"[^\W\d_]{2,}")
_VOWELS = frozenset("aeiouyàáâãäåèéêëìíîïòóôõöùúûüýÿæœ")


def looks_garbled(text: str) -> bool:
    """True for a message that is not a question a reader would recognise: fewer than two words, mostly
    symbols, or mostly consonant runs and keyboard mashing ("asdfgh jkl", "???", "qwrtz")."""
    compact = re.sub(r"\s+", "", text)
    words = _WORD.findall(text.casefold())
    if len(words) < 2 or not compact:
        return True
    letters = sum(ch.isalpha() for ch in compact)
    if letters / len(compact) < 0.6:
        return True
    junk = sum(1 for w in words if _junk_word(w))
    return junk * 2 > len(words) or (len(words) == 2 and junk == 2)


_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _junk_word(word: str) -> bool:
    """A run of consonants ("jkl") or of one keyboard row ("asdfgh")."""
    if len(word) >= 3 and not (set(word) & _VOWELS):
        return True
    return len(word) >= 5 and any(set(word) <= set(row) for row in _ROWS)


def _enum(kind: type[StrEnum], value: str, what: str) -> str:
    try:
        return str(kind(value))
    except ValueError:
        allowed = ", ".join(str(v) for v in kind)
        raise ValueError(f"Unknown {what} {value!r}; expected one of: {allowed}.") from None


_TURN_COLUMNS = "t.id, t.session_id, t.created_at, t.question, t.answer, t.category, t.citations, t.caveats, "
_TURN_COLUMNS += "t.latency_ms, t.source"


def _turn(row: Sequence[Any]) -> Turn:
    return Turn(
        id=row[0],
        session_id=row[1],
        created_at=_parse(row[2]),
        question=row[3],
        answer=row[4],
        category=row[5],
        citations=tuple(StoredCitation(**c) for c in json.loads(row[6])),
        caveats=tuple(json.loads(row[7])),
        latency_ms=row[8],
        source=row[9],
    )


_ITEM_QUERY = (
    "SELECT i.id, i.turn_id, i.category, i.priority, i.status, i.assignee, i.created_at, i.updated_at, "
    + _TURN_COLUMNS
    + " FROM triage_items i JOIN turns t ON t.id = i.turn_id"
)
_ITEM_ORDER = " ORDER BY CASE i.priority WHEN 'urgent' THEN 0 ELSE 1 END, i.created_at DESC, i.id DESC"


def _turn_dict(turn: Turn) -> dict[str, Any]:
    return {
        "id": turn.id,
        "session_id": turn.session_id,
        "created_at": _stamp(turn.created_at),
        "source": turn.source,
        "category": turn.category,
        "question": turn.question,
        "answer": turn.answer,
        "citations": [asdict(c) for c in turn.citations],
        "caveats": list(turn.caveats),
        "latency_ms": turn.latency_ms,
    }


def item_to_dict(item: TriageItem) -> dict[str, Any]:
    """A triage item as plain JSON-able data (used by the JSONL export and `triage list --json`)."""
    return {
        "id": item.id,
        "turn_id": item.turn_id,
        "category": item.category,
        "priority": item.priority,
        "status": item.status,
        "assignee": item.assignee,
        "created_at": _stamp(item.created_at),
        "updated_at": _stamp(item.updated_at),
        "notes": [{"created_at": _stamp(n.created_at), "text": n.text} for n in item.notes],
        "events": [
            {"created_at": _stamp(e.created_at), "actor": e.actor, "action": e.action, "detail": e.detail}
            for e in item.events
        ],
        "turn": _turn_dict(item.turn),
    }


def _csv_cell(value: Any) -> Any:
    """Defuse spreadsheet formulas: a patient's "=HYPERLINK(...)" must stay text when staff open the CSV."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# ------------------------------------------------------------------------------------------- the store


class Store:
    """The conversation log and triage queue in one SQLite file; safe to share between threads."""

    def __init__(
        self, path: Path, *, clock: Callable[[], datetime] = _utcnow, public_names: frozenset[str] = frozenset()
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        # People the knowledge documents name (lower case): not redacted after a title ("Dr. Smith").
        self.public_names = public_names
        self._urgent_listeners: list[Callable[[UrgentAlert], None]] = []
        self._local = threading.local()  # this thread's connection, and the process that opened it
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._open_and_migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"Cannot open the conversation database {self.path}: {exc}") from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """The store at `settings.db_path`."""
        return cls(settings.db_path)

    # -- connections and transactions

    def _connect(self) -> sqlite3.Connection:
        # timeout= is SQLite's busy_timeout: wait up to that long for another writer's lock before failing.
        # isolation_level=None: no implicit transactions; _write/_read say exactly where each one begins.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable against a killed process, fast
        return conn

    def _thread_connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (a forked child opens its own: SQLite's may not cross)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.conn, local.pid = self._connect(), os.getpid()
        conn: sqlite3.Connection = local.conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (other threads' close when their thread ends); the store stays usable."""
        if getattr(self._local, "pid", None) == os.getpid():
            self._local.conn.close()
        self._local.__dict__.clear()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, locked up front so concurrent writers queue instead of failing."""
        with self._transaction("BEGIN IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the same snapshot."""
        with self._transaction("BEGIN") as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """Committed if the block ends normally, rolled back if it raises; either way the connection is idle after.
        On this thread's connection unless another is given."""
        conn = conn or self._thread_connection()
        conn.execute(begin)
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if conn.in_transaction:
            conn.execute("COMMIT")

    def _open_and_migrate(self) -> None:
        """Create or upgrade the schema one migration per transaction; concurrent openers re-check inside it."""
        conn = self._connect()
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            self._check_version(version)
            self._use_wal(conn)
            while version < SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    self._check_version(version)
                    if version < SCHEMA_VERSION:
                        MIGRATIONS[version](conn)
                        version += 1
                        conn.execute(f"PRAGMA user_version = {version}")
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        finally:
            conn.close()

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL (persistent: readers never block the writer), waiting out other openers.

        The switch needs the file to itself, and SQLite answers "database is locked" at once, without its busy
        handler, when two connections would wait on each other for that. So the wait is done here, up to the
        same timeout every other lock gets.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, but this version of the bot only knows up to "
                f"{SCHEMA_VERSION}. Upgrade the bot, or point BOT_DATA_DIR at a different folder."
            )

    @property
    def schema_version(self) -> int:
        conn = self._connect()
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()

    # -- listeners

    def on_urgent(self, listener: Callable[[UrgentAlert], None]) -> None:
        """Call `listener` after each urgent item is committed (it must not block: the patient is waiting)."""
        if listener not in self._urgent_listeners:
            self._urgent_listeners.append(listener)

    def _announce(self, alert: UrgentAlert) -> None:
        for listener in list(self._urgent_listeners):
            try:
                listener(alert)
            except Exception:  # a broken listener must never cost the patient their answer
                import logging

                logging.getLogger("bot.triage").exception("urgent-item listener failed (item %s)", alert.item_id)

    # -- writing

    def log_turn(self, session_id: str, question: str, reply: Reply, *, source: str = "api") -> int:
        """Store one redacted turn, queue it for staff if its category needs a human (or, urgent, if the reply
        carried the line on where to find help), and return its id."""
        if source not in SOURCES:
            raise ValueError(f"Unknown source {source!r}; expected one of: {', '.join(SOURCES)}.")
        category = str(reply.category)
        citations = [
            {"n": c.n, "passage_id": c.passage_id, "quote": c.quote, "anchor": c.anchor} for c in reply.citations
        ]
        now = _stamp(self._clock())
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO turns (session_id, created_at, question, answer, category, citations, caveats,"
                " latency_ms, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    now,
                    redact(question, self.public_names),
                    redact(reply.answer, self.public_names),
                    category,
                    json.dumps(citations, ensure_ascii=False),
                    json.dumps([redact(c, self.public_names) for c in reply.caveats], ensure_ascii=False),
                    float(reply.latency_ms),
                    source,
                ),
            )
            turn_id = int(cur.lastrowid or 0)
            queued, priority = category, QUEUED.get(category)
            if reply.support:
                queued, priority = TriageCategory.DISTRESS, Priority.URGENT
            item_id = _insert_item(conn, turn_id, queued, priority, now) if priority is not None else None
        if item_id is not None and priority is Priority.URGENT:
            self._announce(UrgentAlert(item_id, turn_id, str(queued), str(priority), _parse(now)))
        return turn_id

    def add_feedback(self, turn_id: int, rating: str, comment: str | None = None) -> int:
        """Record a patient's rating of a turn and return the feedback id.

        "down" and "report" need a human: if the turn already has an open (not resolved) triage item, the
        feedback is added to it as a note, so one turn never sits in the queue twice; otherwise a new
        `negative_feedback` item is queued. "up" is only recorded.
        """
        rating = _enum(Rating, rating, "rating")
        clean = redact(comment, self.public_names).strip() if comment else None
        now = _stamp(self._clock())
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM turns WHERE id = ?", (turn_id,)).fetchone() is None:
                raise NotFoundError(f"No turn with id {turn_id}.")
            cur = conn.execute(
                "INSERT INTO feedback (turn_id, rating, comment, created_at) VALUES (?, ?, ?, ?)",
                (turn_id, rating, clean or None, now),
            )
            feedback_id = int(cur.lastrowid or 0)
            if rating != Rating.UP:
                note = f"Patient feedback: {rating}" + (f" - {clean}" if clean else "")
                row = conn.execute(
                    "SELECT id FROM triage_items WHERE turn_id = ? AND status != 'resolved' ORDER BY id LIMIT 1",
                    (turn_id,),
                ).fetchone()
                if row is None:
                    item_id = _insert_item(conn, turn_id, TriageCategory.NEGATIVE_FEEDBACK, Priority.NORMAL, now)
                else:
                    item_id = row[0]
                    conn.execute("UPDATE triage_items SET updated_at = ? WHERE id = ?", (now, item_id))
                _insert_note(conn, item_id, note, now)
                _insert_event(conn, item_id, now, "patient", "feedback", note)
        return feedback_id

    def assign(self, item_id: int, assignee: str, *, actor: str = "system") -> TriageItem:
        """Give an item to a member of staff; a `new` item moves to `in_progress`. `actor` did it (audit trail)."""
        name = assignee.strip()
        if not name:
            raise ValueError("Assignee must not be empty.")
        now = _stamp(self._clock())
        with self._write() as conn:
            before = self._require_item(conn, item_id)
            conn.execute(
                "UPDATE triage_items SET assignee = ?, updated_at = ?,"
                " status = CASE status WHEN 'new' THEN 'in_progress' ELSE status END WHERE id = ?",
                (name, now, item_id),
            )
            _insert_event(conn, item_id, now, actor, "assign", f"assigned to {name}")
            if before == Status.NEW:
                _insert_event(conn, item_id, now, actor, "status", "new -> in_progress")
        return self.get_item(item_id)

    def set_status(self, item_id: int, status: str, *, actor: str = "system") -> TriageItem:
        """Move an item to `new`, `in_progress` or `resolved`. `actor` did it (audit trail)."""
        status = _enum(Status, status, "status")
        now = _stamp(self._clock())
        with self._write() as conn:
            before = self._require_item(conn, item_id)
            conn.execute("UPDATE triage_items SET status = ?, updated_at = ? WHERE id = ?", (status, now, item_id))
            _insert_event(conn, item_id, now, actor, "status", f"{before} -> {status}")
        return self.get_item(item_id)

    def add_note(self, item_id: int, note: str, *, actor: str = "system") -> TriageItem:
        """Append a (redacted) note to an item. `actor` wrote it (audit trail)."""
        text = redact(note, self.public_names).strip()
        if not text:
            raise ValueError("Note must not be empty.")
        now = _stamp(self._clock())
        with self._write() as conn:
            self._require_item(conn, item_id)
            _insert_note(conn, item_id, text, now)
            _insert_event(conn, item_id, now, actor, "note", text)
            conn.execute("UPDATE triage_items SET updated_at = ? WHERE id = ?", (now, item_id))
        return self.get_item(item_id)

    def resolve(self, item_id: int, note: str, *, actor: str = "system") -> TriageItem:
        """Close an item with a note saying what was done, in one transaction. `actor` did it (audit trail)."""
        text = redact(note, self.public_names).strip()
        if not text:
            raise ValueError("A resolution note is required.")
        now = _stamp(self._clock())
        with self._write() as conn:
            self._require_item(conn, item_id)
            _insert_note(conn, item_id, text, now)
            conn.execute("UPDATE triage_items SET status = 'resolved', updated_at = ? WHERE id = ?", (now, item_id))
            _insert_event(conn, item_id, now, actor, "resolve", text)
        return self.get_item(item_id)

    def purge(self, older_than_days: int) -> int:
        """Delete turns older than the retention window, with their feedback and triage items; count them."""
        if older_than_days < 0:
            raise ValueError("older_than_days must be zero or more.")
        cutoff = _stamp(self._clock() - timedelta(days=older_than_days))
        conn = self._connect()  # its own connection: secure_delete stays with it, off every other write's
        try:
            conn.execute("PRAGMA secure_delete = ON")  # overwrite the freed pages, not just unlink them
            with self._transaction("BEGIN IMMEDIATE", conn):
                removed = conn.execute("DELETE FROM turns WHERE created_at < ?", (cutoff,)).rowcount
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        return int(removed)

    # -- reading

    @staticmethod
    def _require_item(conn: sqlite3.Connection, item_id: int) -> str:
        """The item's current status; NotFoundError if there is no such item."""
        row = conn.execute("SELECT status FROM triage_items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"No triage item with id {item_id}.")
        return str(row[0])

    def _items(
        self, conn: sqlite3.Connection, where: str, params: Sequence[Any], limit: int | None, offset: int = 0
    ) -> list[TriageItem]:
        sql = _ITEM_QUERY + where + _ITEM_ORDER + (" LIMIT ? OFFSET ?" if limit is not None else "")
        rows = conn.execute(sql, [*params, limit, offset] if limit is not None else list(params)).fetchall()
        notes: dict[int, list[Note]] = {}
        events: dict[int, list[Event]] = {}
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for item_id, created, text in conn.execute(
                f"SELECT item_id, created_at, text FROM triage_notes WHERE item_id IN ({marks}) ORDER BY id",
                chunk,
            ):
                notes.setdefault(item_id, []).append(Note(_parse(created), text))
            for item_id, created, actor, action, detail in conn.execute(
                "SELECT item_id, created_at, actor, action, detail FROM triage_events"
                f" WHERE item_id IN ({marks}) ORDER BY id",
                chunk,
            ):
                events.setdefault(item_id, []).append(Event(_parse(created), actor, action, detail))
        return [
            TriageItem(
                id=row[0],
                turn_id=row[1],
                category=row[2],
                priority=row[3],
                status=row[4],
                assignee=row[5],
                notes=tuple(notes.get(row[0], ())),
                created_at=_parse(row[6]),
                updated_at=_parse(row[7]),
                turn=_turn(row[8:]),
                events=tuple(events.get(row[0], ())),
            )
            for row in rows
        ]

    @staticmethod
    def _filter(
        status: str | None, category: str | None, search: str | None, open_only: bool = False
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if status is not None:
            clauses.append("i.status = ?")
            params.append(_enum(Status, status, "status"))
        if open_only:
            clauses.append("i.status != 'resolved'")
        if category is not None:
            clauses.append("i.category = ?")
            params.append(_enum(TriageCategory, category, "triage category"))
        for word in (search or "").split()[:8]:
            like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses.append(
                "(t.question LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM triage_notes n"
                " WHERE n.item_id = i.id AND n.text LIKE ? ESCAPE '\\'))"
            )
            params += [like, like]
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def list_items(
        self,
        status: str | None = None,
        category: str | None = None,
        limit: int | None = 200,
        *,
        search: str | None = None,
        offset: int = 0,
        open_only: bool = False,
    ) -> list[TriageItem]:
        """Triage items, urgent first and then newest first, optionally filtered by status, category and a
        search over the question and the notes (every word must occur, case-insensitive); `offset` pages."""
        where, params = self._filter(status, category, search, open_only)
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1.")
        if offset < 0:
            raise ValueError("offset must be zero or more.")
        with self._read() as conn:
            return self._items(conn, where, params, limit, offset)

    def count_items(
        self,
        status: str | None = None,
        category: str | None = None,
        *,
        search: str | None = None,
        open_only: bool = False,
    ) -> int:
        """How many items `list_items` would return with these filters and no limit."""
        where, params = self._filter(status, category, search, open_only)
        with self._read() as conn:
            sql = "SELECT count(*) FROM triage_items i JOIN turns t ON t.id = i.turn_id" + where
            return int(conn.execute(sql, params).fetchone()[0])

    def queue_mark(self) -> str:
        """A cheap fingerprint of the queue: it changes whenever an item is added, changed, noted or purged."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT count(*), coalesce(max(id), 0), coalesce(max(updated_at), '') FROM triage_items"
            ).fetchone()
        return f"{row[0]}:{row[1]}:{row[2]}"

    def open_urgent_count(self) -> int:
        """Urgent items not yet resolved (the console's badge and tab title)."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT count(*) FROM triage_items WHERE priority = 'urgent' AND status != 'resolved'"
            ).fetchone()
        return int(row[0])

    def get_item(self, item_id: int) -> TriageItem:
        """One triage item with its turn; NotFoundError if there is none."""
        with self._read() as conn:
            items = self._items(conn, " WHERE i.id = ?", [item_id], 1)
        if not items:
            raise NotFoundError(f"No triage item with id {item_id}.")
        return items[0]

    def get_turn(self, turn_id: int) -> Turn:
        """One logged turn; NotFoundError if there is none."""
        with self._read() as conn:
            row = conn.execute(f"SELECT {_TURN_COLUMNS} FROM turns t WHERE t.id = ?", (turn_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"No turn with id {turn_id}.")
        return _turn(row)

    def session_turns(self, session_id: str) -> list[Turn]:
        """The whole conversation of one session, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_TURN_COLUMNS} FROM turns t WHERE t.session_id = ? ORDER BY t.id", (session_id,)
            ).fetchall()
        return [_turn(row) for row in rows]

    def turns(self) -> list[Turn]:
        """Every logged turn, oldest first."""
        with self._read() as conn:
            rows = conn.execute(f"SELECT {_TURN_COLUMNS} FROM turns t ORDER BY t.id").fetchall()
        return [_turn(row) for row in rows]

    def feedback(self, turn_id: int) -> list[Feedback]:
        """The ratings given to one turn, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, turn_id, rating, comment, created_at FROM feedback WHERE turn_id = ? ORDER BY id",
                (turn_id,),
            ).fetchall()
        return [Feedback(r[0], r[1], r[2], r[3], _parse(r[4])) for r in rows]

    # -- export

    def export(
        self,
        fmt: str,
        out: IO[str],
        *,
        what: str = "triage",
        status: str | None = None,
        category: str | None = None,
        search: str | None = None,
        open_only: bool = False,
    ) -> int:
        """Write the triage items (filtered as `list_items`) joined with their turn and audit trail (or with
        what="turns" every turn); return the count.

        Only redacted text is ever stored, so only redacted text is exported. CSV cells that a spreadsheet
        would run as a formula get a leading apostrophe.
        """
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"Unknown export format {fmt!r}; expected csv or jsonl.")
        if what == "triage":
            items = self.list_items(status, category, None, search=search, open_only=open_only)
            records = [item_to_dict(item) for item in items]
        elif what == "turns":
            records = [_turn_dict(turn) for turn in self.turns()]
        else:
            raise ValueError(f"Unknown export {what!r}; expected triage or turns.")
        if fmt == "jsonl":
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            return len(records)
        rows = [_flatten(record) for record in records]
        header = list(rows[0]) if rows else list(_flatten(_EMPTY[what]))
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _csv_cell(value) for key, value in row.items()})
        return len(rows)

    # -- statistics for the staff console

    def messages_per_day(self) -> list[DayCount]:
        """(UTC day, reply category, number of turns), oldest day first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT substr(created_at, 1, 10) AS day, category, count(*) FROM turns"
                " GROUP BY day, category ORDER BY day, category"
            ).fetchall()
        return [DayCount(*row) for row in rows]

    def top_not_in_article(self, limit: int = 10) -> list[QuestionCount]:
        """The questions the article could not answer, most asked first (case, spacing and ?!. ignored).

        Only `not_in_article` turns count (off-topic messages have their own category), and garbled messages
        (keyboard mashing, a stray word) are left out: they are not questions the knowledge base could add."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT question FROM turns WHERE category = ? ORDER BY id DESC",
                (str(Category.NOT_IN_ARTICLE),),
            ).fetchall()
        counts: Counter[str] = Counter()
        shown: dict[str, str] = {}
        for (question,) in rows:
            if looks_garbled(question):
                continue
            key = _normalise_question(question)
            counts[key] += 1
            shown.setdefault(key, question.strip())  # the most recent wording
        return [QuestionCount(shown[key], n) for key, n in counts.most_common(limit)]

    def feedback_over_time(self) -> list[DayFeedback]:
        """(UTC day, thumbs up, thumbs down or reports), oldest day first."""
        with self._read() as conn:
            # One action, one count: a thumbs-down followed by a report on the same answer the same day (the old
            # page stored both for one click) counts once.
            rows = conn.execute(
                "SELECT day, sum(kind = 'up'), sum(kind = 'down') FROM (SELECT DISTINCT turn_id,"
                " substr(created_at, 1, 10) AS day, CASE rating WHEN 'up' THEN 'up' ELSE 'down' END AS kind"
                " FROM feedback) GROUP BY day ORDER BY day"
            ).fetchall()
        return [DayFeedback(day, int(up), int(down)) for day, up, down in rows]


def _insert_item(conn: sqlite3.Connection, turn_id: int, category: str, priority: str, now: str) -> int:
    cur = conn.execute(
        "INSERT INTO triage_items (turn_id, category, priority, status, created_at, updated_at)"
        " VALUES (?, ?, ?, 'new', ?, ?)",
        (turn_id, category, str(priority), now, now),
    )
    return int(cur.lastrowid or 0)


def _insert_event(conn: sqlite3.Connection, item_id: int, now: str, actor: str, action: str, detail: str) -> None:
    conn.execute(
        "INSERT INTO triage_events (item_id, created_at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
        (item_id, now, (actor or "system").strip() or "system", action, detail),
    )


def _insert_note(conn: sqlite3.Connection, item_id: int, text: str, now: str) -> None:
    conn.execute("INSERT INTO triage_notes (item_id, created_at, text) VALUES (?, ?, ?)", (item_id, now, text))


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One CSV row: nested turn fields prefixed `turn_`, lists as JSON (notes as "time text" lines)."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "turn":
            for tkey, tvalue in _flatten(value).items():
                flat[f"turn_{tkey}"] = tvalue
        elif key == "notes":
            flat[key] = "\n".join(f"{n['created_at']} {n['text']}" for n in value)
        elif key == "events":
            flat["audit_trail"] = "\n".join(
                f"{e['created_at']} {e['actor']} {e['action']}: {e['detail']}" for e in value
            )
        elif isinstance(value, list | dict):
            flat[key] = json.dumps(value, ensure_ascii=False)
        else:
            flat[key] = value
    return flat


_EMPTY_TURN = Turn(0, "", datetime.fromtimestamp(0, UTC), "", "", "", (), (), 0.0, "")
_EMPTY: dict[str, dict[str, Any]] = {
    "turns": _turn_dict(_EMPTY_TURN),
    "triage": item_to_dict(
        TriageItem(0, 0, "", "", "", None, (), _EMPTY_TURN.created_at, _EMPTY_TURN.created_at, _EMPTY_TURN)
    ),
}
