"""The risks that travel with a document's claims, from its front matter: a one-line cited summary to show
under an answer that states a benefit, and the full cited list for a "Show all risks" disclosure."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bot.corpus.documents import Passage
from bot.corpus.library import Library

FOOTER = (
    "This is education about the documents shown, not medical advice. Talk to your neurologist about your own care."
)

Cite = Callable[[Passage, str], str]


def summary_lines(library: Library, doc_ids: Iterable[str], cite: Cite) -> tuple[str, ...]:
    """Each cited document's one-line risk summary, its markers citing the caveats it names."""
    lines = []
    for doc_id in dict.fromkeys(doc_ids):
        doc = library.documents[doc_id]
        summary = doc.meta.risk_summary
        if summary is None:
            continue
        grounded = {g.id: g for g in library.caveats[doc_id]}
        markers = " ".join(dict.fromkeys(cite(p, s) for c in summary.cites for p, s in grounded[c].evidence))
        lines.append(f"{summary.text} {markers}")
    return tuple(lines)


def full_list(library: Library, doc_ids: Iterable[str], cite: Cite) -> tuple[str, ...]:
    """Every caveat of each cited document, each with markers to its verbatim evidence."""
    lines = []
    for doc_id in dict.fromkeys(doc_ids):
        for g in library.caveats[doc_id]:
            markers = " ".join(dict.fromkeys(cite(p, s) for p, s in g.evidence))
            lines.append(f"{g.text} {markers}")
    return tuple(lines)
