"""The web app: the patient chat at `/` and the staff console at `/staff`, on one FastAPI server (Gradio 6).

`python ui.py` serves on BOT_HOST:BOT_PORT (default 127.0.0.1:7860); `python ui.py hash-password` prints a
BOT_STAFF_PASSWORD_HASH. `build_app(bot, store, settings)` builds the whole app around an injected bot (tests).

The patient chat is callable through gradio_client: `Client(url).predict(message="...", api_name="/chat")`
returns the answer text with its `[n]` markers, caveats and sources. Every other patient-page event is private
(the browser uses it, the API does not list or serve it to clients), and the staff console is a separate Gradio
app behind its own login: nothing of it is reachable from the patient page.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry calls

import concurrent.futures
import contextlib
import csv
import html
import io
import logging
import math
import re
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import gradio as gr
import pandas as pd
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from bot import policy
from bot.chat import InvalidQuestion
from bot.reply import Category, Citation, Reply
from bot.settings import Settings
from bot.staff_auth import DISABLED_MESSAGE, CredentialsError, LoginGuard, StaffCredentials
from bot.store import TRIAGE_CATEGORIES, NotFoundError, Status, Store, TriageItem, Turn

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from bot.chat import ChatBot

log = logging.getLogger("bot.ui")

STAFF_PATH = "/staff"
TITLE = "HALT-MS article helper"

# ------------------------------------------------------------------------------------------- patient texts

BANNER_HTML = """
<div class="banner" role="note" aria-label="About this chat">
  <p class="banner-long"><strong>Education about one news article on one study</strong> (the HALT-MS trial of
  stem cell transplant for relapsing-remitting MS). <strong>This is not medical advice</strong>: talk to your
  neurologist about your own care.</p>
  <p class="banner-short"><strong>Education about one news article on one study (HALT-MS). Not medical
  advice.</strong></p>
  <p class="banner-emergency"><strong>In an emergency, call 911</strong> or your local emergency number.</p>
</div>
"""
APOLOGY_ERROR = (
    "Sorry, something went wrong on our side and I couldn't answer that. Please try again in a moment. "
    "If this is an emergency, call 911 or your local emergency number."
)
APOLOGY_TIMEOUT = (
    "Sorry, that took too long and I had to stop. Please try again in a moment, perhaps with a shorter "
    "question. If this is an emergency, call 911 or your local emergency number."
)
THINKING = "Looking through the article…"
EMPTY_SOURCES = (
    '<div class="sources-empty"><h2 class="sources-title">Sources</h2>'
    "<p>When an answer cites the article, click a marker such as <strong>[1]</strong> to see the passage it "
    "comes from here, with the quoted sentences highlighted.</p></div>"
)
FEEDBACK_DOWN_PROMPT = (
    "**Thanks: your feedback was recorded and a member of staff will look at this answer.** "
    "If you like, tell us what was wrong (please don't include names or contact details)."
)
FEEDBACK_REPORT_PROMPT = (
    "**Report a problem with this answer.** Tell us what was wrong (please don't include names or "
    "contact details); a member of staff will look at it."
)
STREAM_STEPS = 12
STREAM_DELAY_S = 0.02

# ------------------------------------------------------------------------------------------- limits


class RateLimiter:
    """At most `per_minute` events per key in any sliding 60-second window (thread-safe)."""

    WINDOW_S = 60.0

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 50_000):
        self.per_minute = per_minute
        self._clock = clock
        self._max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> float:
        """Record an event for `key` and return 0, or return the seconds to wait (nothing recorded)."""
        now = self._clock()
        with self._lock:
            events = self._events.get(key)
            if events is None:
                if len(self._events) >= self._max_keys:
                    self._prune(now)
                events = self._events[key] = deque()
            while events and now - events[0] >= self.WINDOW_S:
                events.popleft()
            if len(events) >= self.per_minute:
                return max(0.1, self.WINDOW_S - (now - events[0]))
            events.append(now)
            return 0.0

    def _prune(self, now: float) -> None:
        for key in [k for k, ev in self._events.items() if not ev or now - ev[-1] >= self.WINDOW_S]:
            del self._events[key]


def rate_limit_text(wait_s: float, per_minute: int) -> str:
    seconds = max(1, math.ceil(wait_s))
    return (
        f"You're sending messages faster than I can answer (the limit is {per_minute} a minute). "
        f"Please wait about {seconds} second{'s' if seconds != 1 else ''} and try again."
    )


def too_long_text(length: int, limit: int) -> str:
    return (
        f"Your message is {length:,} characters long, and the limit is {limit:,}. "
        "Please shorten it (one question at a time works best) and send it again."
    )


# ------------------------------------------------------------------------------------------- rendering

_MARKER = re.compile(r"\[(\d+)\]")
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?”\"])\s+")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def link_markers(text: str, group: int, known: set[int]) -> str:
    """Escape `text` and turn each `[n]` marker with a citation into a link to its passage in the Sources panel."""

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in known:
            return match.group(0)
        return f'<a href="#src-{group}-{n}" class="cite" title="Show source {n}">[{n}]</a>'

    return _MARKER.sub(link, html.escape(text, quote=False))


def render_reply(reply: Reply, group: int) -> str:
    """The assistant message for the chat: the answer (Markdown, cited markers as links) and a caveat callout."""
    known = {c.n for c in reply.citations}
    body = link_markers(reply.answer, group, known)
    if reply.category is Category.EMERGENCY:
        inner = _BOLD.sub(r"<strong>\1</strong>", body).replace("\n\n", "</p><p>")
        return f'<div class="emergency" role="alert"><p>{inner}</p></div>'
    if not reply.caveats:
        return body
    items = "".join(f"<li>{link_markers(c, group, known)}</li>" for c in reply.caveats)
    callout = (
        '<div class="caveats" role="note" aria-label="Keep in mind">'
        f'<p class="caveats-title">⚠️ Keep in mind</p><ul>{items}</ul></div>'
    )
    return f"{body}\n\n{callout}"


def highlight(passage: str, quote: str) -> str:
    """The passage, escaped, with the quoted sentence(s) wrapped in <mark>."""
    if not passage:
        return f"<mark>{_esc(quote)}</mark>"
    spans: list[tuple[int, int]] = []
    pieces = [quote.strip()] if quote.strip() in passage else [p for p in _SENTENCE_END.split(quote) if p.strip()]
    for piece in pieces:
        start = passage.find(piece.strip())
        if start >= 0:
            spans.append((start, start + len(piece.strip())))
    if not spans:  # quote not found verbatim: show the passage and the quote beneath it
        return f"{_esc(passage)}<br><mark>{_esc(quote)}</mark>"
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        out.append(_esc(passage[pos:start]) + f"<mark>{_esc(passage[start:end])}</mark>")
        pos = end
    out.append(_esc(passage[pos:]))
    return "".join(out)


def _anchor_label(anchor: str) -> str:
    match = re.search(r"#p(\d+)$", anchor)
    return f"paragraph {match.group(1)}" if match else anchor


def render_source_group(citations: Sequence[Citation], group: int, question: str) -> str:
    cards = []
    for c in citations:
        cards.append(
            f'<li class="src" id="src-{group}-{c.n}" tabindex="-1" aria-label="Source {c.n}">'
            f'<div class="src-head">[{c.n}] {_esc(_anchor_label(c.anchor).capitalize())}</div>'
            f'<div class="src-doc"><cite>{_esc(c.title)}</cite> · <code>{_esc(c.anchor)}</code></div>'
            f'<blockquote class="src-text">{highlight(c.passage_text, c.quote)}</blockquote>'
            '<a class="src-back" href="#chat">Back to the conversation</a></li>'
        )
    short = question if len(question) <= 80 else question[:77] + "…"
    return (
        f'<section class="src-group" data-group="{group}"><h3>Sources for “{_esc(short)}”</h3>'
        f'<ol class="src-list">{"".join(cards)}</ol></section>'
    )


def render_sources(entries: Sequence[dict[str, Any]]) -> str:
    """The Sources panel: the newest cited answer open, earlier ones folded (their links still open them)."""
    groups = [e for e in entries if e.get("sources")]
    if not groups:
        return EMPTY_SOURCES
    parts = ['<h2 class="sources-title">Sources</h2>']
    for i, entry in enumerate(reversed(groups)):
        if i == 0:
            parts.append(entry["sources"])
        else:
            short = entry["question"] if len(entry["question"]) <= 60 else entry["question"][:57] + "…"
            parts.append(
                f'<details class="src-older"><summary>Earlier: “{_esc(short)}”</summary>{entry["sources"]}</details>'
            )
    return "".join(parts)


def api_text(reply: Reply) -> str:
    """The plain-text answer for the API: answer, caveats (`> ⚠️`), then the cited passages."""
    text = reply.full_text
    if reply.citations:
        lines = [
            f"[{c.n}] {c.title} ({c.anchor}): " + (c.quote if c.quote[:1] in '“"' else f"“{c.quote}”")
            for c in reply.citations
        ]
        text += "\n\nSources:\n" + "\n".join(lines)
    return text


def chat_messages(entries: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """The Chatbot value (messages format) for the conversation so far."""
    messages: list[dict[str, str]] = []
    for entry in entries:
        messages.append({"role": "user", "content": html.escape(entry["question"], quote=False)})
        messages.append({"role": "assistant", "content": entry["display"]})
    return messages


def bot_history(entries: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """The plain question/answer history the bot uses for follow-ups (answered turns only)."""
    history: list[dict[str, str]] = []
    for entry in entries:
        if entry.get("plain"):
            history += [
                {"role": "user", "content": entry["question"]},
                {"role": "assistant", "content": entry["plain"]},
            ]
    return history[-12:]


# ------------------------------------------------------------------------------------------- the patient chat


@dataclass
class Outcome:
    """What one message produced: a reply from the bot, or a notice (limit, timeout, error) instead of one."""

    reply: Reply | None
    notice: str = ""
    kind: str = "answer"  # answer | empty | too_long | invalid | rate_limited | timeout | error

    @property
    def text(self) -> str:
        return api_text(self.reply) if self.reply is not None else self.notice


def _session_key(request: gr.Request | None) -> str:
    if request is None:
        return "anonymous"
    if request.session_hash:
        return f"s:{request.session_hash}"
    client = getattr(request, "client", None)
    return f"ip:{getattr(client, 'host', 'unknown')}"


class PatientChat:
    """The patient-facing handlers. Tests call them directly; `build_app` wires them to the page and the API."""

    def __init__(self, bot: ChatBot, settings: Settings, store: Store | None = None) -> None:
        self.bot = bot
        self.settings = settings
        self.store = store if store is not None else bot.store
        self.limiter = RateLimiter(settings.rate_limit_per_minute)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(2, settings.concurrency_limit * 2), thread_name_prefix="bot-ask"
        )

    # -- the one pipeline behind the page and the API

    def answer(
        self, message: Any, history: list[dict[str, str]] | None = None, *, session_id: str, source: str = "ui"
    ) -> Outcome:
        """Check the limits, ask the bot in a worker with a timeout, and turn every failure into a kind notice."""
        if not isinstance(message, str) or not message.strip():
            return Outcome(None, "Please type a question about the HALT-MS article.", "empty")
        limit = self.settings.max_message_chars
        if len(message) > limit:
            return Outcome(None, too_long_text(len(message), limit), "too_long")
        wait = self.limiter.check(session_id)
        if wait:
            return Outcome(None, rate_limit_text(wait, self.settings.rate_limit_per_minute), "rate_limited")
        future = self._pool.submit(self.bot.ask, message, history or [], session_id=session_id, source=source)
        try:
            return Outcome(future.result(timeout=self.settings.request_timeout_s))
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

    def respond(self, message: str, history: list[dict[str, str]] | None, request: gr.Request | None) -> str:
        """The `/chat` API: the final answer text (answer, caveats, sources) or a notice, never an exception."""
        try:
            clean = [
                {"role": str(t["role"]), "content": str(t["content"])}
                for t in (history or [])
                if isinstance(t, dict) and t.get("role") in ("user", "assistant")
            ]
        except (KeyError, TypeError):
            clean = []
        session = _session_key(request) if request is not None else f"api:{uuid.uuid4().hex}"
        return self.answer(message, clean, session_id=session, source="api").text

    # -- the page

    def stream(
        self, message: str, entries: list[dict[str, Any]] | None, request: gr.Request | None = None
    ) -> Iterator[tuple[Any, ...]]:
        """Browser handler: show the question at once, then the answer streamed in, then its sources.

        Yields (chat messages, sources html, entries state, textbox value). The answer is computed once;
        streaming is presentation only.
        """
        entries = list(entries or [])
        if not isinstance(message, str) or not message.strip():
            yield chat_messages(entries), render_sources(entries), entries, ""
            return
        pending: dict[str, Any] = {
            "question": message,
            "display": THINKING,
            "plain": "",
            "turn_id": None,
            "sources": "",
        }
        yield chat_messages([*entries, pending]), render_sources(entries), entries, ""
        outcome = self.answer(message, bot_history(entries), session_id=_session_key(request), source="ui")
        try:
            entry = self._entry(message, outcome, len(entries), pending)
        except Exception:  # a rendering fault must not reach the patient as a traceback either
            log.exception("rendering the reply failed (session %s)", _session_key(request))
            entry = self._entry(message, Outcome(None, APOLOGY_ERROR, "error"), len(entries), pending)
        reply = outcome.reply
        if entry["kind"] == "answer" and reply is not None and reply.category is not Category.EMERGENCY:
            words = reply.answer.split(" ")  # an emergency message appears at once, whole
            step = max(1, math.ceil(len(words) / STREAM_STEPS))
            for end in range(step, len(words), step):
                partial = {**pending, "display": html.escape(" ".join(words[:end]), quote=False) + " …"}
                yield chat_messages([*entries, partial]), render_sources(entries), entries, ""
                time.sleep(STREAM_DELAY_S)
        entries.append(entry)
        yield chat_messages(entries), render_sources(entries), entries, ""

    @staticmethod
    def _entry(message: str, outcome: Outcome, group: int, pending: dict[str, Any]) -> dict[str, Any]:
        """One exchange as the page keeps it: what to show, the plain answer for follow-ups, the turn id."""
        reply = outcome.reply
        if reply is None:
            notice = f'<div class="notice" role="status">{_esc(outcome.notice)}</div>'
            return {**pending, "display": notice, "kind": outcome.kind}
        return {
            "question": message,
            "display": render_reply(reply, group),
            "plain": reply.answer,
            "turn_id": reply.turn_id,
            "category": str(reply.category),
            "kind": "answer",
            "sources": render_source_group(reply.citations, group, message) if reply.citations else "",
        }

    def clear(self) -> tuple[Any, ...]:
        return [], EMPTY_SOURCES, [], "", gr.update(visible=False), None, ""

    # -- feedback

    def _turn_at(self, entries: list[dict[str, Any]] | None, index: Any) -> int | None:
        if isinstance(index, list | tuple):
            index = index[0]
        if not isinstance(index, int) or not entries:
            return None
        i = index // 2
        if 0 <= i < len(entries):
            turn = entries[i].get("turn_id")
            return int(turn) if turn is not None else None
        return None

    def record(self, turn_id: int | None, rating: str, comment: str | None = None) -> str:
        """Store a rating for a turn; returns what to tell the patient."""
        if turn_id is None or self.store is None:
            return "This message can't be rated (it wasn't answered by the bot, or conversations aren't logged here)."
        try:
            self.store.add_feedback(turn_id, rating, comment)
        except NotFoundError:
            return "Sorry, that answer is no longer on record, so the feedback couldn't be saved."
        except Exception:
            log.exception("storing feedback failed (turn %s, rating %s)", turn_id, rating)
            return "Sorry, your feedback couldn't be saved just now. Please try again later."
        if rating == "up":
            return "Thanks for your feedback."
        return "Thanks: your feedback was recorded and a member of staff will look at it."

    def on_like(self, entries: list[dict[str, Any]] | None, data: gr.LikeData) -> tuple[Any, ...]:
        """Thumbs up is stored at once; thumbs down is stored and queued, then a comment box opens;
        "Report a problem" opens the comment box (the report is stored when sent)."""
        turn_id = self._turn_at(entries, data.index)
        hidden = (gr.update(visible=False), gr.update(), None, gr.update())
        if data.liked is True:
            gr.Info(self.record(turn_id, "up"))
            return hidden
        if turn_id is None:
            gr.Info(self.record(None, "up"))
            return hidden
        if data.liked is False:
            status = self.record(turn_id, "down")
            if not status.startswith("Thanks"):
                gr.Warning(status)
                return hidden
            return gr.update(visible=True), FEEDBACK_DOWN_PROMPT, {"turn_id": turn_id, "kind": "down"}, ""
        if isinstance(data.liked, str) and data.liked:
            return gr.update(visible=True), FEEDBACK_REPORT_PROMPT, {"turn_id": turn_id, "kind": "report"}, ""
        return hidden

    def send_report(self, target: dict[str, Any] | None, comment: str) -> tuple[Any, ...]:
        """The comment box's Send: a report (with the comment) on the answer the patient flagged."""
        comment = (comment or "").strip()[:2000]
        if not target:
            return gr.update(visible=False), None, ""
        if target.get("kind") == "down" and not comment:
            gr.Info("Thanks for your feedback.")
            return gr.update(visible=False), None, ""
        status = self.record(target.get("turn_id"), "report", comment or None)
        (gr.Info if status.startswith("Thanks") else gr.Warning)(status)
        return gr.update(visible=False), None, ""

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------------------------------------------- page assets

PATIENT_CSS = """
.gradio-container { max-width: 1200px !important; overflow: visible !important; }
#banner { position: sticky; top: 0; z-index: 50; }
.banner-short { display: none; }
.banner { background: #fff8e1; border: 2px solid #b26a00; border-radius: 10px; padding: 10px 14px;
  color: #3b2a00; box-shadow: 0 2px 6px rgba(0,0,0,.08); }
.banner p { margin: 0 0 4px 0; font-size: 15px; line-height: 1.4; }
.banner .banner-emergency { margin: 0; color: #8a1c00; }
.banner strong { color: inherit; }
.dark .banner { background: #3b2a00; color: #fff3cd; }
.dark .banner .banner-emergency { color: #ffb4a6; }
#chat .caveats { border-left: 5px solid #b26a00; background: #fff4e0; color: #3b2a00;
  padding: 8px 12px; margin-top: 12px; border-radius: 6px; }
#chat .caveats-title { font-weight: 700; margin: 0 0 4px 0; }
#chat .caveats ul { margin: 0; padding-left: 1.2em; }
#chat .emergency { border: 3px solid #b00020; background: #ffe9ec; color: #5c0011; padding: 10px 12px;
  border-radius: 8px; font-size: 1.05em; }
#chat .notice { border-left: 5px solid #5b6770; background: #f1f3f5; color: #1f2933; padding: 8px 12px;
  border-radius: 6px; }
#chat a.cite, #chat a[href^="#src-"] { font-weight: 700; text-decoration: underline; color: #0b57d0; }
#chat a[href^="#src-"]:focus-visible { outline: 3px solid #0b57d0; outline-offset: 2px; }
#sources { max-height: 680px; overflow-y: auto !important; }
.sources-title { font-size: 1.15em; margin: 0 0 8px 0; }
.sources-empty p { color: #4a5560; }
.src-group h3 { font-size: 0.95em; margin: 8px 0; color: #4a5560; }
.src-list { list-style: none; padding: 0; margin: 0; }
.src { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px 10px; margin-bottom: 8px;
  scroll-margin-top: 120px; transition: background .3s, box-shadow .3s; }
.src.active { background: #e8f0fe; box-shadow: 0 0 0 3px #0b57d0; }
.src:focus { outline: none; }
.src-head { font-weight: 700; }
.src-doc { font-size: 0.82em; color: #4a5560; margin: 2px 0 6px 0; }
.src-doc cite { font-style: normal; }
#sources .src-text { margin: 0; padding: 0 0 0 10px; border-left: 3px solid #d0d7de; line-height: 1.5;
  font-style: normal; }
.src-back { font-size: 0.85em; display: inline-block; margin-top: 6px; }
#sources .src-text + .src-back { margin-top: 6px; }
#sources blockquote.src-text { margin: 0 !important; }
.src-text mark { background: #ffe066; color: #111; padding: 0 2px; }
.src-older summary { cursor: pointer; margin: 6px 0; color: #0b57d0; }
#starters button { white-space: normal; text-align: left; }
#clear { align-self: flex-start; width: auto; }
@media (max-width: 640px) {
  .banner { padding: 6px 10px; }
  .banner p { font-size: 13px; margin-bottom: 2px; }
  .banner .banner-long { display: none; }
  .banner .banner-short { display: block; }
  #sources { max-height: none; overflow-y: visible !important; }
}
"""

PATIENT_HEAD = """
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
/* outside Gradio's CSS scoping: the page margins on a phone */
@media (max-width: 640px) { .main.fillable.app { padding-left: 10px !important; padding-right: 10px !important; } }
</style>
<script>
(function () {
  function showSource(id) {
    var el = document.getElementById(id);
    if (!el) { return false; }
    var details = el.closest('details');
    if (details) { details.open = true; }
    document.querySelectorAll('.src.active').forEach(function (e) { e.classList.remove('active'); });
    el.classList.add('active');
    el.scrollIntoView({behavior: 'smooth', block: 'nearest'});
    el.focus({preventScroll: true});
    return true;
  }
  document.addEventListener('click', function (ev) {
    var a = ev.target && ev.target.closest ? ev.target.closest('a[href^="#src-"], a.src-back') : null;
    if (!a) { return; }
    ev.preventDefault();
    ev.stopPropagation();
    if (a.classList.contains('src-back')) {
      var box = document.querySelector('#question textarea');
      var chat = document.getElementById('chat');
      if (chat) { chat.scrollIntoView({behavior: 'smooth', block: 'start'}); }
      if (box) { box.focus({preventScroll: true}); }
      return;
    }
    showSource(a.getAttribute('href').slice(1));
  }, true);
  // Gradio labels each bot message with its raw Markdown/HTML source; let screen readers read the text.
  function relabel(root) {
    (root.querySelectorAll ? root.querySelectorAll('[data-testid="bot"][aria-label]') : []).forEach(
      function (el) { el.removeAttribute('aria-label'); });
  }
  new MutationObserver(function (records) {
    records.forEach(function (r) { relabel(r.target.parentElement || document); });
  }).observe(document.documentElement, {subtree: true, childList: true, attributes: true,
                                        attributeFilter: ['aria-label']});
  window.haltShowSource = showSource;
})();
</script>
"""

STAFF_CSS = """
.gradio-container { max-width: 1400px !important; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: .85em; font-weight: 600;
  background: #e8eaed; color: #1f2933; margin-right: 4px; }
.badge.urgent { background: #b00020; color: #fff; }
.badge.resolved { background: #1e7d32; color: #fff; }
.turn { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px 12px; margin: 8px 0; }
.turn.flagged { border: 2px solid #b26a00; background: #fff8e1; }
.dark .turn.flagged { background: #3b2a00; }
.turn .meta { font-size: .85em; color: #5b6770; }
.turn .q, .turn .a { white-space: pre-wrap; margin: 4px 0; }
.turn .q::before { content: "Patient: "; font-weight: 700; }
.turn .a::before { content: "Bot: "; font-weight: 700; }
.notes li, .feedback li { margin: 2px 0; }
.hbar { display: grid; grid-template-columns: minmax(180px, 3fr) 4fr 3em; gap: 8px; align-items: center;
  margin: 6px 0; }
.hbar .bar { background: #0b57d0; height: 16px; border-radius: 4px; min-width: 4px; }
.hbar .n { font-weight: 700; text-align: right; }
"""


def _theme() -> gr.themes.Base:
    """Gradio's default look with system fonts: the page must not fetch fonts from the internet."""
    return gr.themes.Default(
        font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )


def _starter_handler(chat: PatientChat, question: str) -> Callable[..., Iterator[tuple[Any, ...]]]:
    def ask_starter(entries: list[dict[str, Any]] | None, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        yield from chat.stream(question, entries, request)

    return ask_starter


def build_patient_blocks(chat: PatientChat) -> gr.Blocks:
    """The patient page: banner, chat, starters, feedback, sources panel, and the `/chat` API."""
    with gr.Blocks(title=TITLE, analytics_enabled=False) as page:
        gr.HTML(BANNER_HTML, elem_id="banner", js_on_load=None)
        entries = gr.State([])
        target = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=340):
                chatbot = gr.Chatbot(
                    label="Conversation about the HALT-MS article",
                    show_label=False,
                    elem_id="chat",
                    height=520,
                    layout="bubble",
                    buttons=["copy"],
                    feedback_options=("Like", "Dislike", "Report a problem"),
                    placeholder=(
                        "**Ask about the HALT-MS news article.** Answers quote the article and cite it; "
                        "the risks it reports come with every answer."
                    ),
                    group_consecutive_messages=False,
                    allow_tags=False,
                )
                with gr.Row(equal_height=True):
                    box = gr.Textbox(
                        label="Your question",
                        placeholder="Ask about the article",
                        elem_id="question",
                        lines=1,
                        max_lines=6,
                        scale=5,
                        autofocus=True,
                    )
                    send = gr.Button("Send", variant="primary", elem_id="send", scale=1, min_width=72)
                with gr.Column(visible=False, elem_id="feedback-panel", variant="panel") as panel:
                    prompt = gr.Markdown(FEEDBACK_REPORT_PROMPT)
                    comment = gr.Textbox(
                        label="What was wrong? (optional)",
                        lines=2,
                        max_lines=6,
                        max_length=2000,
                        elem_id="feedback-text",
                    )
                    with gr.Row():
                        fb_send = gr.Button("Send", variant="primary", elem_id="feedback-send", size="sm")
                        fb_cancel = gr.Button("Cancel", elem_id="feedback-cancel", size="sm")
                gr.Markdown("**Try asking:**")
                with gr.Row(elem_id="starters"):
                    starters = [gr.Button(q, size="sm", variant="secondary") for q in policy.SUGGESTIONS]
                clear = gr.Button("Clear conversation", elem_id="clear", size="sm", variant="secondary")
            with gr.Column(scale=2, min_width=300):
                sources = gr.HTML(EMPTY_SOURCES, elem_id="sources", js_on_load=None, padding=True)

        outputs = [chatbot, sources, entries, box]
        private: dict[str, Any] = {"api_visibility": "private"}
        # Every event that runs the bot shares one concurrency group, so BOT_CONCURRENCY_LIMIT bounds them all
        # together (page and API); the rest wait in the queue, at most BOT_QUEUE_MAX_SIZE of them.
        asking: dict[str, Any] = {
            **private,
            "concurrency_id": "bot",
            "concurrency_limit": chat.settings.concurrency_limit,
        }
        box.submit(chat.stream, [box, entries], outputs, **asking)
        send.click(chat.stream, [box, entries], outputs, **asking)
        for button, question in zip(starters, policy.SUGGESTIONS, strict=True):
            button.click(_starter_handler(chat, question), [entries], outputs, **asking)
        chatbot.like(chat.on_like, [entries], [panel, prompt, target, comment], **private)
        fb_send.click(chat.send_report, [target, comment], [panel, target, comment], **private)
        fb_cancel.click(lambda: (gr.update(visible=False), None, ""), None, [panel, target, comment], **private)
        cleared = [chatbot, sources, entries, box, panel, target, comment]
        clear.click(chat.clear, None, cleared, **private)
        chatbot.clear(chat.clear, None, cleared, **private)

        def chat_api(message: str, history: list[dict[str, str]] | None = None, request: gr.Request = None) -> str:  # type: ignore[assignment]
            """Ask about the HALT-MS news article. Returns the answer with [n] citation markers, the caveats
            (lines starting with '> ⚠️') and the cited passages. `history`: earlier {role, content} messages."""
            return chat.respond(message, history, request)

        gr.api(chat_api, api_name="chat", concurrency_id="bot", concurrency_limit=chat.settings.concurrency_limit)
    return page


# ------------------------------------------------------------------------------------------- staff console


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _badge(text: str, kind: str = "") -> str:
    return f'<span class="badge {kind}">{_esc(text.replace("_", " "))}</span>'


STATUS_CHOICES = [
    ("Open (new and in progress)", "open"),
    ("New", "new"),
    ("In progress", "in_progress"),
    ("Resolved", "resolved"),
    ("All", "all"),
]
CATEGORY_CHOICES = [("All categories", "all")] + [(c.replace("_", " ").capitalize(), c) for c in TRIAGE_CATEGORIES]
CATEGORY_COLORS = {
    "answered": "#2b6cb0",
    "not in article": "#2c9d8f",
    "medical advice": "#7b4fb8",
    "emergency": "#c62828",
    "out of scope": "#8a939b",
    "injection": "#3d4852",
    "greeting": "#e0a800",
}


def _day_range(days: Sequence[str], *, at_least: int = 14, at_most: int = 90) -> list[str]:
    """Every UTC day from the first day with data (or `at_least` days ago) to today, so quiet days show as 0."""
    from datetime import date, timedelta

    today = datetime.now(UTC).date()
    first = today - timedelta(days=at_least - 1)
    if days:
        with contextlib.suppress(ValueError):
            first = min(first, date.fromisoformat(min(days)))
    first = max(first, today - timedelta(days=at_most - 1))
    return [(first + timedelta(days=i)).isoformat() for i in range((today - first).days + 1)]


QUEUE_COLUMNS = ["ID", "Priority", "Status", "Category", "Received", "Question", "Assignee"]


class StaffConsole:
    """The staff handlers: queue, conversation detail, assign, resolve, export, charts, evaluation."""

    def __init__(self, store: Store, settings: Settings, bot: ChatBot | None = None) -> None:
        self.store = store
        self.settings = settings
        self.bot = bot
        self._exports = tempfile.mkdtemp(prefix="halt-ms-staff-")

    @staticmethod
    def _user(request: gr.Request | None) -> str:
        user = getattr(request, "username", None)
        if not user:
            raise gr.Error("Please sign in to the staff console.")
        return str(user)

    # -- queue

    def items(self, status: str, category: str) -> list[TriageItem]:
        wanted = None if status in ("open", "all", None) else status
        cat = None if category in ("all", None, "") else category
        items = self.store.list_items(status=wanted, category=cat, limit=500)
        if status == "open":
            items = [i for i in items if i.status != Status.RESOLVED]
        return items

    def queue_table(self, status: str, category: str, request: gr.Request) -> tuple[pd.DataFrame, str]:
        self._user(request)
        items = self.items(status, category)
        rows = [
            [
                item.id,
                ("URGENT" if item.priority == "urgent" else "normal"),
                item.status.replace("_", " "),
                item.category.replace("_", " "),
                _when(item.created_at),
                item.turn.question if len(item.turn.question) <= 90 else item.turn.question[:87] + "…",
                item.assignee or "",
            ]
            for item in items
        ]
        urgent = sum(1 for i in items if i.priority == "urgent" and i.status != Status.RESOLVED)
        summary = f"**{len(items)} item{'s' if len(items) != 1 else ''}** shown"
        if urgent:
            summary += f" · **{urgent} urgent and not resolved**: handle these first."
        return pd.DataFrame(rows, columns=QUEUE_COLUMNS), summary

    def select_row(self, event: gr.SelectData, request: gr.Request) -> Any:
        self._user(request)
        row = event.row_value or []
        try:
            return int(row[0])
        except (IndexError, TypeError, ValueError):
            return gr.update()

    def detail(self, item_id: Any, request: gr.Request) -> tuple[str, str]:
        """The item, the whole conversation it came from (its turn highlighted), feedback and notes."""
        user = self._user(request)
        if item_id in (None, ""):
            return "<p>Choose an item in the queue (click its row) or type its ID.</p>", user
        try:
            item = self.store.get_item(int(item_id))
        except (NotFoundError, ValueError, TypeError):
            return f"<p>No triage item with ID {_esc(str(item_id))}.</p>", user
        turns = self.store.session_turns(item.turn.session_id)
        feedback = self.store.feedback(item.turn_id)
        head = (
            f"<h3>Item #{item.id} {_badge(item.priority, 'urgent' if item.priority == 'urgent' else '')}"
            f"{_badge(item.status, 'resolved' if item.status == Status.RESOLVED else '')}{_badge(item.category)}</h3>"
            f"<p>Received {_when(item.created_at)} · updated {_when(item.updated_at)} · "
            f"assigned to <strong>{_esc(item.assignee or 'nobody')}</strong> · "
            f"session <code>{_esc(item.turn.session_id[:12])}</code> · source {_esc(item.turn.source)}</p>"
        )
        convo = "".join(self._turn_html(t, flagged=t.id == item.turn_id) for t in turns)
        fb = (
            "<ul class='feedback'>"
            + "".join(
                f"<li>{_when(f.created_at)}: <strong>{_esc(f.rating)}</strong>"
                + (f": {_esc(f.comment)}" if f.comment else "")
                + "</li>"
                for f in feedback
            )
            + "</ul>"
            if feedback
            else "<p>No patient feedback on this answer.</p>"
        )
        notes = (
            "<ul class='notes'>"
            + "".join(f"<li>{_when(n.created_at)}: {_esc(n.text)}</li>" for n in item.notes)
            + "</ul>"
            if item.notes
            else "<p>No notes yet.</p>"
        )
        body = (
            f"{head}<h4>Conversation ({len(turns)} turn{'s' if len(turns) != 1 else ''})</h4>{convo}"
            f"<h4>Patient feedback</h4>{fb}<h4>Notes</h4>{notes}"
        )
        return f'<div class="item-detail" data-item="{item.id}">{body}</div>', item.assignee or user

    @staticmethod
    def _turn_html(turn: Turn, *, flagged: bool) -> str:
        cites = "".join(f"<li>[{c.n}] <code>{_esc(c.anchor)}</code>: “{_esc(c.quote)}”</li>" for c in turn.citations)
        caveats = "".join(f"<li>{_esc(c)}</li>" for c in turn.caveats)
        return (
            f'<div class="turn{" flagged" if flagged else ""}" data-turn="{turn.id}">'
            f'<div class="meta">{_when(turn.created_at)} · {_badge(turn.category)} · {turn.latency_ms:.0f} ms'
            f"{' · <strong>this item</strong>' if flagged else ''}</div>"
            f'<div class="q">{_esc(turn.question)}</div><div class="a">{_esc(turn.answer)}</div>'
            + (f"<details><summary>Citations</summary><ul>{cites}</ul></details>" if cites else "")
            + (f"<details><summary>Caveats</summary><ul>{caveats}</ul></details>" if caveats else "")
            + "</div>"
        )

    def assign(self, item_id: Any, assignee: str, request: gr.Request) -> str:
        user = self._user(request)
        try:
            item = self.store.assign(int(item_id), (assignee or user).strip() or user)
        except (NotFoundError, ValueError, TypeError) as exc:
            raise gr.Error(f"Could not assign: {exc}") from None
        log.info("staff %s assigned item %s to %s", user, item.id, item.assignee)
        return f"Item #{item.id} assigned to {item.assignee} ({item.status.replace('_', ' ')})."

    def resolve(self, item_id: Any, note: str, request: gr.Request) -> tuple[str, str]:
        user = self._user(request)
        if not (note or "").strip():
            raise gr.Error("Write a resolution note: what was done about this item.")
        try:
            item = self.store.resolve(int(item_id), f"{note.strip()} (resolved by {user})")
        except (NotFoundError, ValueError, TypeError) as exc:
            raise gr.Error(f"Could not resolve: {exc}") from None
        log.info("staff %s resolved item %s", user, item.id)
        return f"Item #{item.id} resolved.", ""

    def export_csv(self, request: gr.Request) -> str:
        self._user(request)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = Path(self._exports) / f"triage-{stamp}-{uuid.uuid4().hex[:6]}.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            self.store.export("csv", out, what="triage")
        return str(path)

    def export_download(self, request: gr.Request) -> Any:
        """The export button: write the CSV and show it as a download."""
        return gr.update(value=self.export_csv(request), visible=True)

    # -- charts

    def charts(self, request: gr.Request) -> tuple[pd.DataFrame, str, pd.DataFrame]:
        self._user(request)
        counts = self.store.messages_per_day()
        days = _day_range([d.day for d in counts])
        seen = {d.day for d in counts}
        per_day = pd.DataFrame(
            [(d.day, d.category.replace("_", " "), d.messages) for d in counts]
            + [(day, "answered", 0) for day in days if day not in seen],
            columns=["day", "category", "messages"],
        ).sort_values("day", kind="stable")
        questions = self.store.top_not_in_article(limit=10)
        if questions:
            top = max(q.asked for q in questions)
            bars = "".join(
                f'<div class="hbar"><div class="label">{_esc(q.question)}</div>'
                f'<div class="bar" style="width:{100 * q.asked / top:.0f}%" aria-hidden="true"></div>'
                f'<div class="n">{q.asked}</div></div>'
                for q in questions
            )
            unanswered = (
                "<h3>Most asked questions the article could not answer</h3>"
                "<p>Candidates for the knowledge base, most frequent first.</p>" + bars
            )
        else:
            unanswered = "<h3>Most asked questions the article could not answer</h3><p>None yet.</p>"
        rows: list[tuple[str, str, int]] = []
        for day in self.store.feedback_over_time():
            rows += [(day.day, "helpful", day.up), (day.day, "not helpful or reported", day.down)]
        rated = {r[0] for r in rows}
        rows += [(day, "helpful", 0) for day in _day_range(sorted(rated)) if day not in rated]
        feedback = pd.DataFrame(rows, columns=["day", "rating", "count"]).sort_values("day", kind="stable")
        return per_day, unanswered, feedback

    # -- evaluation

    def evaluate(
        self,
        upload: Any,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, list[str] | None]:
        user = self._user(request)
        log.info("staff %s started an evaluation run", user)
        return run_evaluation(
            self.bot, upload, Path(self._exports), lambda done, total: progress((done, total), desc="questions")
        )


def run_evaluation(
    bot: ChatBot | None, upload: Any, out_dir: Path, progress: Callable[[int, int], None] | None = None
) -> tuple[str, list[str] | None]:
    """Run the evaluation runner (bot.evaluation) on an uploaded QA file (JSONL or CSV) and write its report
    (bot.report): the HTML report to show inline, and report.json / report.html to download."""
    import copy
    import hashlib

    from bot.evaluation import QAFileError, evaluate, load_items
    from bot.report import write_report

    if bot is None:
        return "<p>No bot is loaded in this console.</p>", None
    path = getattr(upload, "name", upload)
    if not path:
        return "<p>Upload a QA file (JSONL or CSV) first.</p>", None
    source = Path(str(path))
    try:
        items = load_items(source)
    except QAFileError as exc:
        problems = "".join(f"<li>{_esc(e)}</li>" for e in exc.errors[:50])
        return (
            f"<p><strong>The QA file cannot be used ({len(exc.errors)} problem(s)):</strong></p><ul>{problems}</ul>",
            None,
        )
    except (OSError, ValueError) as exc:
        return f"<p><strong>The QA file could not be read:</strong> {_esc(str(exc))}</p>", None
    quiet = copy.copy(bot)
    quiet.store = None  # evaluation questions must not land in the conversation log or the triage queue
    info = {"file": source.name, "file_sha256": hashlib.sha256(source.read_bytes()).hexdigest(), "via": "staff console"}
    try:
        run = evaluate(quiet, items, progress, run=info)
    except QAFileError as exc:
        problems = "".join(f"<li>{_esc(e)}</li>" for e in exc.errors[:50])
        return f"<p><strong>The QA file does not match the knowledge base:</strong></p><ul>{problems}</ul>", None
    target = out_dir / f"eval-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    json_path, html_path = write_report(run, target)
    srcdoc = html.escape(html_path.read_text(encoding="utf-8"), quote=True)
    agg = run.aggregate
    frame = (
        f"<p><strong>{agg['passed']} of {agg['n']} questions passed.</strong></p>"
        f'<iframe class="eval-report" title="Evaluation report" sandbox srcdoc="{srcdoc}" '
        'style="width:100%;height:760px;border:1px solid #d0d7de;border-radius:8px;"></iframe>'
    )
    return frame, [str(json_path), str(html_path)]


def build_staff_blocks(console: StaffConsole) -> gr.Blocks:
    """The staff console: triage queue and detail, charts, evaluation. Mounted behind a login."""
    with gr.Blocks(title="HALT-MS staff console", analytics_enabled=False, delete_cache=(3600, 3600)) as page:
        gr.Markdown(f"# HALT-MS staff console\n[Sign out]({STAFF_PATH}/logout)")
        with gr.Tabs():
            with gr.Tab("Triage queue", id="queue"):
                with gr.Row():
                    status = gr.Dropdown(STATUS_CHOICES, value="open", label="Status", elem_id="filter-status")
                    category = gr.Dropdown(CATEGORY_CHOICES, value="all", label="Category", elem_id="filter-category")
                    refresh = gr.Button("Refresh", elem_id="refresh", scale=0, min_width=100)
                summary = gr.Markdown(elem_id="queue-summary")
                table = gr.Dataframe(
                    headers=QUEUE_COLUMNS,
                    interactive=False,
                    wrap=True,
                    elem_id="queue-table",
                    max_height=420,
                    column_widths=["6%", "10%", "10%", "14%", "15%", "33%", "12%"],
                )
                with gr.Row(equal_height=False):
                    item_id = gr.Number(label="Item ID", precision=0, elem_id="item-id", scale=1)
                    open_btn = gr.Button("Open item", elem_id="open-item", scale=0, min_width=140)
                detail = gr.HTML(
                    "<p>Choose an item in the queue (click its row) or type its ID.</p>",
                    elem_id="item-detail",
                    js_on_load=None,
                    padding=True,
                )
                with gr.Row(equal_height=False):
                    assignee = gr.Textbox(label="Assign to", elem_id="assignee", scale=3)
                    assign_btn = gr.Button("Assign", elem_id="assign", scale=0, min_width=140)
                with gr.Row(equal_height=False):
                    note = gr.Textbox(label="Resolution note (required)", elem_id="resolve-note", lines=2, scale=3)
                    resolve_btn = gr.Button("Resolve", variant="primary", elem_id="resolve", scale=0, min_width=140)
                action = gr.Markdown(elem_id="action-status")
                gr.Markdown("### Export")
                with gr.Row(equal_height=False):
                    export_btn = gr.Button("Export the queue as CSV", elem_id="export", scale=0, min_width=240)
                    export_file = gr.File(label="CSV export", elem_id="export-file", interactive=False, visible=False)
            with gr.Tab("Insights", id="insights") as insights:
                charts_btn = gr.Button("Refresh charts", elem_id="refresh-charts", scale=0)
                per_day = gr.BarPlot(
                    x="day",
                    y="messages",
                    color="category",
                    title="Messages per day by category",
                    color_map=CATEGORY_COLORS,
                    x_title="Day (UTC)",
                    y_title="Messages",
                    elem_id="chart-messages",
                    height=320,
                )
                unanswered = gr.HTML(elem_id="chart-unanswered", js_on_load=None, padding=True)
                feedback = gr.BarPlot(
                    x="day",
                    y="count",
                    color="rating",
                    title="Patient feedback over time",
                    x_title="Day (UTC)",
                    y_title="Ratings",
                    color_map={"helpful": "#1e7d32", "not helpful or reported": "#b00020"},
                    elem_id="chart-feedback",
                    height=280,
                )
            with gr.Tab("Evaluate", id="evaluate"):
                gr.Markdown(
                    "Upload a QA test file (JSONL or CSV, the format in `docs/evaluation.md`); the bot answers every "
                    "question (nothing is logged) and the report appears below, with report.json and report.html "
                    "to download."
                )
                qa_file = gr.File(label="QA file", file_types=[".jsonl", ".csv"], elem_id="qa-file")
                run_btn = gr.Button("Run evaluation", variant="primary", elem_id="run-eval", scale=0)
                report = gr.HTML(elem_id="eval-report", js_on_load=None)
                report_files = gr.File(label="Report files", file_count="multiple", interactive=False)

        filters, listing = [status, category], [table, summary]
        page.load(console.queue_table, filters, listing)
        refresh.click(console.queue_table, filters, listing, api_name="queue")
        status.change(console.queue_table, filters, listing)
        category.change(console.queue_table, filters, listing)
        table.select(console.select_row, None, item_id).then(console.detail, [item_id], [detail, assignee])
        open_btn.click(console.detail, [item_id], [detail, assignee], api_name="item")
        item_id.submit(console.detail, [item_id], [detail, assignee])
        assign_btn.click(console.assign, [item_id, assignee], [action]).success(
            console.detail, [item_id], [detail, assignee]
        ).then(console.queue_table, filters, listing)
        resolve_btn.click(console.resolve, [item_id, note], [action, note]).success(
            console.detail, [item_id], [detail, assignee]
        ).then(console.queue_table, filters, listing)
        export_btn.click(console.export_download, None, export_file, api_name="export_csv")
        chart_outputs = [per_day, unanswered, feedback]
        insights.select(console.charts, None, chart_outputs)
        charts_btn.click(console.charts, None, chart_outputs)
        run_btn.click(console.evaluate, [qa_file], [report, report_files])
    return page


# ------------------------------------------------------------------------------------------- the server


# Paths under /staff an anonymous browser needs to draw the login form: static files and the form itself.
STAFF_PUBLIC_EXACT = frozenset(
    {"", "/", "/login", "/logout", "/favicon.ico", "/theme.css", "/robots.txt", "/manifest.json"}
    | {"/gradio_api/theme.css"}
)
STAFF_PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")


class StaffGuard:
    """ASGI middleware in front of the staff console.

    Gradio checks the login on its data routes but leaves a few framework routes open (user, token, app_id,
    reset, cancel, openapi.json...). Here every `/staff/...` request except the login form and its static
    files must carry a valid staff session, and failed logins are locked out per address (Gradio has no
    lockout)."""

    def __init__(self, app: ASGIApp, guard: LoginGuard, prefix: str, sessions: Callable[[Scope], bool]) -> None:
        self.app = app
        self.guard = guard
        self.prefix = prefix.rstrip("/")
        self.signed_in = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] in ("http", "websocket") else ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        rest = path[len(self.prefix) :]
        if scope["type"] == "http" and scope["method"] == "POST" and rest.rstrip("/") == "/login":
            await self._login(scope, receive, send)
            return
        public = rest.rstrip("/") in STAFF_PUBLIC_EXACT or rest.startswith(STAFF_PUBLIC_PREFIXES)
        if public or self.signed_in(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = JSONResponse({"detail": "Not authenticated: sign in to the staff console."}, status_code=401)
        await response(scope, receive, send)

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        key = client[0] if client else "unknown"
        wait = self.guard.retry_after(key)
        if wait:
            log.warning("staff login refused: %s is locked out for %.0fs more", key, wait)
            response = JSONResponse(
                {"detail": f"Too many failed sign-in attempts. Try again in {math.ceil(wait)} seconds."},
                status_code=429,
                headers={"Retry-After": str(math.ceil(wait))},
            )
            await response(scope, receive, send)
            return
        status: list[int] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, capture)
        if status and status[0] == 200:
            self.guard.success(key)
        elif status and status[0] in (400, 401, 403):
            locked = self.guard.failure(key)
            log.warning("staff login failed from %s%s", key, f"; locked for {locked:.0f}s" if locked else "")


def _session_checker(gradio_app: Any) -> Callable[[Scope], bool]:
    """True when the request carries a session cookie the staff Gradio app issued at login."""
    from starlette.requests import HTTPConnection

    def signed_in(scope: Scope) -> bool:
        cookies = HTTPConnection(scope).cookies
        tokens = getattr(gradio_app, "tokens", {})
        cookie_id = getattr(gradio_app, "cookie_id", "")
        for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
            token = cookies.get(name)
            if token and token in tokens:
                return True
        return False

    return signed_in


def _disabled_page(message: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Staff console disabled</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
        "<body style='font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em'>"
        f"<h1>Staff console disabled</h1><p id='staff-disabled'>{_esc(message)}</p></body></html>"
    )


def build_app(
    bot: ChatBot,
    store: Store | None,
    settings: Settings,
    *,
    login_guard: LoginGuard | None = None,
) -> FastAPI:
    """The whole app: the patient chat at `/`, the staff console at `/staff` (or its disabled notice)."""
    store = store if store is not None else (bot.store or Store.from_settings(settings))
    app = FastAPI(title=TITLE, docs_url=None, redoc_url=None, openapi_url=None)
    chat = PatientChat(bot, settings, store)
    app.state.chat = chat
    app.state.settings = settings

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    queue = {"max_size": settings.queue_max_size, "default_concurrency_limit": settings.concurrency_limit}
    common: dict[str, Any] = {"footer_links": ["api"], "run_history": False, "show_error": False, "ssr_mode": False}
    try:
        credentials = StaffCredentials.from_settings(settings)
        disabled = DISABLED_MESSAGE if credentials is None else ""
    except CredentialsError as exc:
        credentials, disabled = None, f"The staff console is disabled: {exc}"
        log.error("%s", disabled)
    app.state.staff_enabled = credentials is not None
    if credentials is None:

        @app.api_route(STAFF_PATH, methods=["GET", "POST", "HEAD"], include_in_schema=False)
        @app.api_route(STAFF_PATH + "/{rest:path}", methods=["GET", "POST", "HEAD"], include_in_schema=False)
        def staff_disabled() -> HTMLResponse:
            return HTMLResponse(_disabled_page(disabled), status_code=503)

    else:
        creds = credentials

        async def check(username: str, password: str) -> bool:
            ok = await anyio.to_thread.run_sync(creds.verify, username, password)
            if ok:
                log.info("staff user %s signed in", username)
            return bool(ok)

        @app.get(STAFF_PATH, include_in_schema=False)
        def staff_slash() -> RedirectResponse:  # a Mount only matches "/staff/..."
            return RedirectResponse(STAFF_PATH + "/", status_code=307)

        console = StaffConsole(store, settings, bot)
        app.state.staff = console
        staff = build_staff_blocks(console).queue(**queue)
        gr.mount_gradio_app(
            app,
            staff,
            path=STAFF_PATH,
            auth=check,
            auth_message="HALT-MS staff console: sign in with the staff account.",
            theme=_theme(),
            css=STAFF_CSS,
            **common,
        )
        from starlette.routing import Mount

        mounted = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == STAFF_PATH)
        guard = login_guard or LoginGuard()
        app.state.login_guard = guard
        app.add_middleware(StaffGuard, guard=guard, prefix=STAFF_PATH, sessions=_session_checker(mounted))

    # The patient page serves no files. Gradio lets any app in the process serve any file in its shared upload
    # and cache folders, which is where the staff console's CSV exports land: block them for the patient app.
    from gradio.utils import get_cache_folder, get_upload_folder

    private = [get_upload_folder(), str(get_cache_folder()), str(settings.data_dir)]
    private += [app.state.staff._exports] if credentials is not None else []
    patient = build_patient_blocks(chat).queue(**queue)
    gr.mount_gradio_app(
        app,
        patient,
        path="/",
        theme=_theme(),
        css=PATIENT_CSS,
        head=PATIENT_HEAD,
        blocked_paths=[str(Path(p).resolve()) for p in private],
        max_file_size="64kb",
        **common,
    )
    return app


@dataclass
class RunningServer:
    """A uvicorn server on a background thread (tests, the load script)."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.server.should_exit = True
            self.thread.join(timeout=15)


def start_server(app: FastAPI, host: str = "127.0.0.1", port: int = 0, *, timeout_s: float = 60.0) -> RunningServer:
    """Serve `app` on a background thread; port 0 picks a free one. Returns once the server accepts requests."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn")
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    return RunningServer(server, thread, f"http://{host}:{sock.getsockname()[1]}")


def export_rows(store: Store) -> list[dict[str, str]]:
    """The triage CSV export as rows (used by tests and the staff console's download)."""
    out = io.StringIO()
    store.export("csv", out, what="triage")
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def main(argv: list[str] | None = None) -> int:
    """`python ui.py` serves the app; `python ui.py hash-password` prints a staff password hash."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["hash-password"]:
        from bot.staff_auth import main as hash_main

        return hash_main(args[1:])
    if args:
        print("usage: python ui.py [hash-password [iterations]]", file=sys.stderr)
        return 2
    import uvicorn

    from bot.chat import ChatBot

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    bot = ChatBot.from_settings(settings)
    store = bot.store or Store.from_settings(settings)
    app = build_app(bot, store, settings)
    if not app.state.staff_enabled:
        log.warning("staff console disabled: set BOT_STAFF_USER and BOT_STAFF_PASSWORD_HASH to enable /staff")
    log.info("patient chat on http://%s:%s/  staff console on /staff", settings.host, settings.port)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
