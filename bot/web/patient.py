"""The patient chat: the handlers behind the page and the `/chat` API (limits, timeout, faults turned into kind
notices, streaming, feedback), and the Gradio page that wires them."""

from __future__ import annotations

import concurrent.futures
import html
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from bot.chat import InvalidQuestion
from bot.reply import Category, Reply
from bot.settings import Settings
from bot.triage.store import NotFoundError, Store
from bot.web.limits import RateLimiter, rate_limit_text, too_long_text
from bot.web.render import (
    EMPTY_SOURCES,
    api_text,
    bot_history,
    chat_messages,
    render_reply,
    render_source_group,
    render_sources,
)

if TYPE_CHECKING:
    from bot.chat import ChatBot

log = logging.getLogger("bot.ui")

TITLE = "HALT-MS article helper"

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
            notice = f'<div class="notice" role="status">{html.escape(outcome.notice)}</div>'
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
                    starters = [gr.Button(q, size="sm", variant="secondary") for q in chat.bot.suggestions]
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
        for button, question in zip(starters, chat.bot.suggestions, strict=True):
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
