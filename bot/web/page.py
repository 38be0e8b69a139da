"""The patient page's HTML: the document (h1, banner, question box first, the conversation, sources) around
the stylesheet and script in `static/`. Plain HTML and a small script rather than Gradio's Chatbot, because
the page must own what Gradio's component decides for itself: scrolling to the answer's first line, visible
keyboard-operable feedback, one live announcement, browser storage and the printout."""

from __future__ import annotations

import html
from collections.abc import Sequence
from functools import cache
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
TITLE = "Article helper"  # until the knowledge folder names it (ChatBot.title)

EMPTY_SOURCES = (
    "<p>When an answer cites the article, choose a marker such as <strong>[1]</strong> to see the passage it "
    "comes from here, with the quoted sentences highlighted.</p>"
)


@cache
def _asset(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def patient_page(suggestions: Sequence[str], *, max_chars: int, title: str = TITLE, subject: str = "") -> str:
    """The whole patient page, with its CSS and script inline (one request, nothing fetched elsewhere)."""
    starters = "".join(
        f'<li><button type="button" data-question="{html.escape(q)}">{html.escape(q)}</button></li>'
        for q in suggestions
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_asset("patient.css")}</style>
</head>
<body data-title="{html.escape(title)}">
<header class="top">
  <h1>{html.escape(title)}</h1>
  <p class="banner"><span class="long">Education about {html.escape(subject or "the documents it was given")}.
  </span><strong>Not medical advice</strong>: talk to your neurologist
  about your own care. <strong class="emergency-line">In an emergency, call 911</strong> or your local number.</p>
</header>
<main id="main">
  <div class="layout">
    <section class="chat-col" aria-labelledby="chat-heading">
      <h2 id="chat-heading" class="visually-hidden">Conversation</h2>
      <form id="ask" autocomplete="off">
        <label for="question">Your question about the article</label>
        <div class="ask-row">
          <textarea id="question" name="question" rows="1" maxlength="{max_chars}"
            placeholder="Ask about the article" autofocus></textarea>
          <button type="submit" id="send">Send</button>
        </div>
      </form>
      <div id="chat-wrap">
        <div id="chat" role="region" aria-label="Conversation" tabindex="0">
          <div id="starters" class="starters">
            <h2>Try asking</h2>
            <ul>{starters}</ul>
          </div>
          <ol id="log"></ol>
        </div>
        <button type="button" id="new-answer" hidden>New answer below <span aria-hidden="true">↓</span></button>
      </div>
      <div class="tools">
        <button type="button" id="print" class="secondary">Print or save for my neurologist</button>
        <button type="button" id="clear" class="secondary">Clear conversation</button>
      </div>
      <p class="keep-note">This conversation is kept in this browser until you choose “Clear conversation”.</p>
    </section>
    <aside id="sources" aria-labelledby="sources-heading">
      <h2 id="sources-heading">Sources</h2>
      <div id="sources-body">{EMPTY_SOURCES}</div>
    </aside>
  </div>
</main>
<div id="announce" class="visually-hidden" aria-live="polite" aria-atomic="true"></div>
<div id="printable"></div>
<script>{_asset("patient.js")}</script>
</body>
</html>
"""
