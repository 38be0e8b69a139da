"""Rendering replies: the chat message HTML (cited markers as links, the caveat callout, the emergency alert),
the Sources panel with the quoted sentences highlighted, and the plain text the `/chat` API returns."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from bot.reply import Category, Citation, Reply

EMPTY_SOURCES = (
    '<div class="sources-empty"><h2 class="sources-title">Sources</h2>'
    "<p>When an answer cites the article, click a marker such as <strong>[1]</strong> to see the passage it "
    "comes from here, with the quoted sentences highlighted.</p></div>"
)

_MARKER = re.compile(r"\[(\d+)\]")
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?”\"])\s+")


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
        return f"<mark>{html.escape(quote)}</mark>"
    spans: list[tuple[int, int]] = []
    pieces = [quote.strip()] if quote.strip() in passage else [p for p in _SENTENCE_END.split(quote) if p.strip()]
    for piece in pieces:
        start = passage.find(piece.strip())
        if start >= 0:
            spans.append((start, start + len(piece.strip())))
    if not spans:  # quote not found verbatim: show the passage and the quote beneath it
        return f"{html.escape(passage)}<br><mark>{html.escape(quote)}</mark>"
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        out.append(html.escape(passage[pos:start]) + f"<mark>{html.escape(passage[start:end])}</mark>")
        pos = end
    out.append(html.escape(passage[pos:]))
    return "".join(out)


def _anchor_label(anchor: str) -> str:
    match = re.search(r"#p(\d+)$", anchor)
    return f"paragraph {match.group(1)}" if match else anchor


def render_source_group(citations: Sequence[Citation], group: int, question: str) -> str:
    cards = []
    for c in citations:
        cards.append(
            f'<li class="src" id="src-{group}-{c.n}" tabindex="-1" aria-label="Source {c.n}">'
            f'<div class="src-head">[{c.n}] {html.escape(_anchor_label(c.anchor).capitalize())}</div>'
            f'<div class="src-doc"><cite>{html.escape(c.title)}</cite> · <code>{html.escape(c.anchor)}</code></div>'
            f'<blockquote class="src-text">{highlight(c.passage_text, c.quote)}</blockquote>'
            '<a class="src-back" href="#chat">Back to the conversation</a></li>'
        )
    short = question if len(question) <= 80 else question[:77] + "…"
    return (
        f'<section class="src-group" data-group="{group}"><h3>Sources for “{html.escape(short)}”</h3>'
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
                f'<details class="src-older"><summary>Earlier: “{html.escape(short)}”</summary>'
                f"{entry['sources']}</details>"
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
