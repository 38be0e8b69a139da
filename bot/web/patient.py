"""The patient chat: the one answering path behind the page and the `/chat` API (limits per session and per
client address, timeout, faults turned into kind notices), feedback, and the routes that serve the page."""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from bot.chat import InvalidQuestion
from bot.reply import Reply
from bot.settings import Settings
from bot.triage.store import NotFoundError, Store
from bot.web.limits import RateLimiter, rate_limit_text, too_long_text
from bot.web.page import patient_page
from bot.web.render import api_text, bot_history, notice_entry, reply_entry

if TYPE_CHECKING:
    from bot.chat import ChatBot

log = logging.getLogger("bot.ui")

__all__ = ["Outcome", "PatientChat", "add_patient_routes", "build_patient_blocks"]

APOLOGY_ERROR = (
    "Sorry, something went wrong on our side and I couldn't answer that. Please try again in a moment. "
    "If this is an emergency, call 911 or your local emergency number."
)
APOLOGY_TIMEOUT = (
    "Sorry, that took too long and I had to stop. Please try again in a moment, perhaps with a shorter "
    "question. If this is an emergency, call 911 or your local emergency number."
)
APOLOGY_BUSY = (
    "Sorry, a lot of people are asking right now and I couldn't get to your question. Please try again in a "
    "minute. If this is an emergency, call 911 or your local emergency number."
)
_SESSION = re.compile(r"^[A-Za-z0-9-]{8,64}$")
RATINGS = ("up", "down", "report")
MAX_BODY_BYTES = 256 * 1024  # a question, a dozen earlier messages and a comment fit many times over


@dataclass
class Outcome:
    """What one message produced: a reply from the bot, or a notice (limit, timeout, error) instead of one."""

    reply: Reply | None
    notice: str = ""
    kind: str = "answer"  # answer | empty | too_long | invalid | rate_limited | busy | timeout | error

    @property
    def text(self) -> str:
        return api_text(self.reply) if self.reply is not None else self.notice


def _session_key(request: gr.Request | None) -> str:
    if request is None:
        return "anonymous"
    if request.session_hash:
        return f"s:{request.session_hash}"
    return f"ip:{_client_host(request)}"


def _client_host(request: Any) -> str:
    client = getattr(request, "client", None)
    return str(getattr(client, "host", None) or "unknown")


class PatientChat:
    """The patient-facing handlers. Tests call them directly; `build_app` wires them to the page and the API."""

    def __init__(self, bot: ChatBot, settings: Settings, store: Store | None = None) -> None:
        self.bot = bot
        self.settings = settings
        self.store = store if store is not None else bot.store
        self.limiter = RateLimiter(settings.rate_limit_per_minute)
        self.address_limiter = RateLimiter(settings.rate_limit_per_ip_per_minute)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(2, settings.concurrency_limit * 2), thread_name_prefix="bot-ask"
        )
        # BOT_CONCURRENCY_LIMIT answers at once, page and API together (a slot is held while the bot works, even
        # past a timeout), and at most BOT_QUEUE_MAX_SIZE messages waiting for a slot.
        self._slots = threading.BoundedSemaphore(settings.concurrency_limit)
        self._waiting = 0
        self._waiting_lock = threading.Lock()

    # -- the one pipeline behind the page and the API

    def _limited(self, session_id: str, client: str | None) -> str:
        """The rate-limit notice, or "" when this message may go ahead (it is then counted for both keys)."""
        if client is not None:
            wait = self.address_limiter.check(f"ip:{client}")
            if wait:
                log.warning("rate limit: address %s is over %s a minute", client, self.address_limiter.per_minute)
                return rate_limit_text(wait, self.settings.rate_limit_per_minute)
        wait = self.limiter.check(session_id)
        if wait:
            return rate_limit_text(wait, self.settings.rate_limit_per_minute)
        return ""

    def answer(
        self,
        message: Any,
        history: list[dict[str, str]] | None = None,
        *,
        session_id: str,
        source: str = "ui",
        client: str | None = None,
    ) -> Outcome:
        """Check the limits (per session, and per client address when known), ask the bot in a worker with a
        timeout, and turn every failure into a kind notice."""
        if not isinstance(message, str) or not message.strip():
            return Outcome(None, "Please type a question about the article.", "empty")
        limit = self.settings.max_message_chars
        if len(message) > limit:
            return Outcome(None, too_long_text(len(message), limit), "too_long")
        notice = self._limited(session_id, client)
        if notice:
            return Outcome(None, notice, "rate_limited")
        started = time.monotonic()
        if not self._take_slot():
            return Outcome(None, APOLOGY_BUSY, "busy")

        def ask() -> Reply:
            try:
                return self.bot.ask(message, history or [], session_id=session_id, source=source)
            finally:
                self._slots.release()

        try:
            future = self._pool.submit(ask)
        except RuntimeError:  # shutting down
            self._slots.release()
            return Outcome(None, APOLOGY_ERROR, "error")
        remaining = max(0.001, self.settings.request_timeout_s - (time.monotonic() - started))
        try:
            return Outcome(future.result(timeout=remaining))
        except InvalidQuestion as exc:
            return Outcome(None, f"Sorry, I can't answer that message as sent: {exc}.", "invalid")
        except concurrent.futures.TimeoutError:
            future.cancel()
            log.error(
                "bot.ask timed out after %.1fs (session %s, %d chars)",
                self.settings.request_timeout_s,
                session_id,
                len(message),
            )
            return Outcome(None, APOLOGY_TIMEOUT, "timeout")
        except Exception:
            log.exception("bot.ask failed (session %s, %d chars)", session_id, len(message))
            return Outcome(None, APOLOGY_ERROR, "error")

    def _take_slot(self) -> bool:
        """Wait (up to the request timeout) for one of the answering slots; False when too many are waiting."""
        with self._waiting_lock:
            if self._waiting >= self.settings.queue_max_size:
                return False
            self._waiting += 1
        try:
            return self._slots.acquire(timeout=self.settings.request_timeout_s)
        finally:
            with self._waiting_lock:
                self._waiting -= 1

    def respond(self, message: str, history: list[dict[str, str]] | None, request: gr.Request | None) -> str:
        """The `/chat` API: the final answer text (answer, caveats, sources) or a notice, never an exception.

        Limited per Gradio session and per client address, so a script that sends no session id (or opens a new
        client for every message) is limited too."""
        session = _session_key(request) if request is not None else f"api:{uuid.uuid4().hex}"
        client = _client_host(request) if request is not None else None
        return self.answer(message, bot_history(history or []), session_id=session, source="api", client=client).text

    # -- the page

    def ask_entry(self, message: Any, history: Any, session: str, client: str | None, group: int = 0) -> dict[str, Any]:
        """The page's `api/ask`: one exchange as the page shows and keeps it (see `render.reply_entry`)."""
        question = message if isinstance(message, str) else ""
        outcome = self.answer(
            question, bot_history(history if isinstance(history, list) else []), session_id=session, client=client
        )
        if outcome.reply is None:
            return notice_entry(question, outcome.notice, outcome.kind)
        try:
            return reply_entry(question, outcome.reply, group)
        except Exception:  # a rendering fault must not reach the patient as a traceback either
            log.exception("rendering the reply failed (session %s)", session)
            return notice_entry(question, APOLOGY_ERROR, "error")

    # -- feedback

    def record(self, turn_id: int | None, rating: str, comment: str | None = None, *, session: str = "") -> str:
        """Store one rating for a turn of this session (one action, one record); returns what to tell the patient."""
        if turn_id is None or self.store is None:
            return "This message can't be rated (it wasn't answered by the bot, or conversations aren't logged here)."
        try:
            if session and self.store.get_turn(turn_id).session_id != session:
                return "Sorry, that answer is not part of this conversation, so the feedback couldn't be saved."
            self.store.add_feedback(turn_id, rating, comment)
        except NotFoundError:
            return "Sorry, that answer is no longer on record, so the feedback couldn't be saved."
        except Exception:
            log.exception("storing feedback failed (turn %s, rating %s)", turn_id, rating)
            return "Sorry, your feedback couldn't be saved just now. Please try again later."
        if rating == "up":
            return "Thanks for your feedback."
        return "Thanks: your feedback was recorded and a member of staff will look at this answer."

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _page_session(value: Any) -> str | None:
    return f"web:{value}" if isinstance(value, str) and _SESSION.match(value) else None


def add_patient_routes(app: FastAPI, chat: PatientChat) -> None:
    """The page at `/` and its two JSON calls, `api/ask` and `api/feedback` (JSON bodies only)."""
    page = patient_page(
        chat.bot.suggestions, max_chars=chat.settings.max_message_chars, title=chat.bot.title, subject=chat.bot.subject
    )

    @app.get("/", include_in_schema=False)
    def patient() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    async def _body(request: Request) -> dict[str, Any] | None:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return None
        try:
            if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
                return None
        except ValueError:
            return None
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    @app.post("/api/ask", include_in_schema=False)
    async def api_ask(request: Request) -> JSONResponse:
        import anyio

        body = await _body(request)
        session = _page_session(body.get("session")) if body else None
        if body is None or session is None:
            return JSONResponse({"detail": "Send JSON with a message and a session id."}, status_code=400)
        group = body.get("group")
        count = group if isinstance(group, int) and 0 <= group < 100_000 else 0
        entry = await anyio.to_thread.run_sync(
            chat.ask_entry, body.get("message"), body.get("history"), session, _client_host(request), count
        )
        return JSONResponse(entry)

    @app.post("/api/feedback", include_in_schema=False)
    async def api_feedback(request: Request) -> JSONResponse:
        import anyio

        body = await _body(request)
        session = _page_session(body.get("session")) if body else None
        turn_id, rating = (body or {}).get("turn_id"), (body or {}).get("rating")
        if body is None or session is None or not isinstance(turn_id, int) or rating not in RATINGS:
            return JSONResponse({"ok": False, "message": "That feedback could not be read."}, status_code=400)
        comment = str(body.get("comment") or "").strip()[:2000] or None
        message = await anyio.to_thread.run_sync(lambda: chat.record(turn_id, rating, comment, session=session))
        return JSONResponse({"ok": message.startswith("Thanks"), "message": message})


def build_patient_blocks(chat: PatientChat) -> gr.Blocks:
    """The Gradio app behind the public `/chat` API (gradio_client); the page itself is `add_patient_routes`."""
    with gr.Blocks(title=chat.bot.title, analytics_enabled=False) as blocks:

        def chat_api(message: str, history: list[dict[str, str]] | None = None, request: gr.Request = None) -> str:  # type: ignore[assignment]
            """Ask about the news article the helper explains. Returns the answer with [n] citation markers, the caveats
            (lines starting with '> ⚠️') and the cited passages. `history`: earlier {role, content} messages."""
            return chat.respond(message, history, request)

        gr.api(chat_api, api_name="chat", concurrency_id="bot", concurrency_limit=chat.settings.concurrency_limit)
    return blocks
