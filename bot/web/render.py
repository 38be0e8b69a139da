"""Rendering replies for the patient page: the answer HTML (bold, paragraphs, `[n]` markers as links named for the
source they open), the one-line caveat summary and footer, the "Show all risks" disclosure, the source cards, the
JSON entry the page keeps for one exchange, and the plain text the `/chat` API returns.

Written against the Reply contract: `caveats` is at most one cited risk summary followed by the footer (the last
item); `all_caveats` is the full cited risk list for the disclosure. Categories the page does not know are shown
like "not in the article"."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from bot.reply import Category, Citation, Reply

_MARKER = re.compile(r"\[(\d+)\]")
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?”\"])\s+")
_PARAGRAPH = re.compile(r"#p(\d+)$")

# Replies that did answer from the article, or need no "ask your neurologist" line on the printout.
_NOT_A_GAP = {Category.ANSWERED, Category.EMERGENCY, Category.OUT_OF_SCOPE, Category.INJECTION, Category.GREETING}


def paragraph_label(anchor: str) -> str:
    """ "paragraph 6" for an anchor like `some-document#p6`; the anchor itself when it has no paragraph number."""
    match = _PARAGRAPH.search(anchor)
    return f"paragraph {match.group(1)}" if match else anchor


def citation_name(citation: Citation) -> str:
    """What a marker link opens, as a screen reader announces it: "Source 1, paragraph 6"."""
    return f"Source {citation.n}, {paragraph_label(citation.anchor)}"


def link_markers(text: str, group: int, citations: Sequence[Citation]) -> str:
    """Escape `text`, keep **bold**, and turn each `[n]` marker with a citation into a link to its source card."""
    by_n = {c.n: c for c in citations}

    def link(match: re.Match[str]) -> str:
        c = by_n.get(int(match.group(1)))
        if c is None:
            return match.group(0)
        return f'<a href="#src-{group}-{c.n}" class="cite" aria-label="{html.escape(citation_name(c))}">[{c.n}]</a>'

    escaped = html.escape(text, quote=False)
    return _MARKER.sub(link, _BOLD.sub(r"<strong>\1</strong>", escaped))


def _paragraphs(text: str, group: int, citations: Sequence[Citation]) -> str:
    parts = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(f"<p>{link_markers(p, group, citations).replace(chr(10), '<br>')}</p>" for p in parts)


def split_caveats(reply: Reply) -> tuple[list[str], str, list[str]]:
    """(summary lines shown under the answer, the footer, the list behind "Show all risks").

    The footer is the last shown caveat. An engine that still hands back a long list in `caveats` (and no
    `all_caveats`) gets its first risk as the summary and the rest behind the disclosure, so the answer stays first.
    """
    shown = list(reply.caveats)
    footer = shown.pop() if shown else ""
    summary, rest = shown[:1], shown[1:]
    full = list(reply.all_caveats) or ([*summary, *rest] if rest else [])
    return summary, footer, full


def render_reply(reply: Reply, group: int) -> str:
    """The assistant message body: the answer, its caveat summary and footer, and the risks disclosure."""
    cites = reply.citations
    if reply.category is Category.EMERGENCY:
        return f'<div class="emergency" role="alert">{_paragraphs(reply.answer, group, cites)}</div>'
    summary, footer, full = split_caveats(reply)
    parts = [f'<div class="answer-text">{_paragraphs(reply.answer, group, cites)}</div>']
    parts += [
        f'<p class="caveat-summary"><span aria-hidden="true">⚠️ </span>{link_markers(s, group, cites)}</p>'
        for s in summary
    ]
    if full:
        items = "".join(f"<li>{link_markers(c, group, cites)}</li>" for c in full)
        parts.append(
            f'<details class="risks"><summary>Show all risks ({len(full)})</summary>'
            f'<ul class="risk-list">{items}</ul></details>'
        )
    if footer:
        parts.append(f'<p class="footer-note">{link_markers(footer, group, cites)}</p>')
    return "".join(parts)


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


def _safe_url(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else ""


def render_source_group(citations: Sequence[Citation], group: int, question: str) -> str:
    """The source cards for one answer; each links to the original article when its document names one."""
    cards = []
    for c in citations:
        url = _safe_url(c.source_url)
        original = (
            f'<a class="src-original" href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">'
            f"Open the original article<span class='visually-hidden'>: {html.escape(c.title)} (new tab)</span></a>"
            if url
            else ""
        )
        cards.append(
            f'<li class="src" id="src-{group}-{c.n}" tabindex="-1" aria-label="{html.escape(citation_name(c))}">'
            f'<p class="src-head">[{c.n}] {html.escape(paragraph_label(c.anchor).capitalize())}</p>'
            f'<p class="src-doc"><cite>{html.escape(c.title)}</cite></p>'
            f'<blockquote class="src-text">{highlight(c.passage_text, c.quote)}</blockquote>'
            f'<p class="src-links">{original}<a class="src-back" href="#question">Back to the question box</a></p></li>'
        )
    short = question if len(question) <= 80 else question[:77] + "…"
    return (
        f'<section class="src-group" data-group="{group}" aria-label="Sources for {html.escape(short)}">'
        f'<h3>Sources for “{html.escape(short)}”</h3><ol class="src-list">{"".join(cards)}</ol></section>'
    )


def plain_answer(text: str) -> str:
    """The answer as plain text (bold markers dropped), for the printout and the live announcement."""
    return _BOLD.sub(r"\1", text).strip()


def could_not_answer(category: str) -> bool:
    """A question for the printout's "ask your neurologist" list: the article did not answer it."""
    try:
        return Category(category) not in _NOT_A_GAP
    except ValueError:
        return True  # an unknown category is shown like "not in the article"


def reply_entry(question: str, reply: Reply, group: int) -> dict[str, Any]:
    """One exchange as the page keeps it (in browser storage): HTML to show, and plain data to print."""
    summary, _, _ = split_caveats(reply)
    category = str(reply.category)
    return {
        "kind": "answer",
        "question": question,
        "category": category,
        "html": render_reply(reply, group),
        "sources": render_source_group(reply.citations, group, question) if reply.citations else "",
        "plain": reply.answer,
        "text": plain_answer(reply.answer),
        "summary": [plain_answer(s) for s in summary],
        "citations": [
            {
                "n": c.n,
                "title": c.title,
                "where": paragraph_label(c.anchor),
                "quote": c.quote,
                "source_url": _safe_url(c.source_url),
            }
            for c in reply.citations
        ],
        "turn_id": reply.turn_id,
        "could_not_answer": could_not_answer(category),
    }


def notice_entry(question: str, notice: str, kind: str) -> dict[str, Any]:
    """An exchange the bot did not answer (a limit, a timeout, a fault): the notice instead of an answer."""
    return {
        "kind": kind,
        "question": question,
        "category": "notice",
        "html": f'<p class="notice">{html.escape(notice)}</p>',
        "sources": "",
        "plain": "",
        "text": notice,
        "summary": [],
        "citations": [],
        "turn_id": None,
        "could_not_answer": False,
    }


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


def bot_history(history: Sequence[Any]) -> list[dict[str, str]]:
    """A clean {role, content} history from what a client sent (anything else dropped), the last 12 messages."""
    clean: list[dict[str, str]] = []
    for turn in history or []:
        if (
            isinstance(turn, dict)
            and turn.get("role") in ("user", "assistant")
            and isinstance(turn.get("content"), str)
        ):
            clean.append({"role": str(turn["role"]), "content": turn["content"][:4000]})
    return clean[-12:]
