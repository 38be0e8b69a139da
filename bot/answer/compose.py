"""The extractive answerer: the documents' own sentences, cited and led by the one that answers; or "does not
say"; with the risks sized to the answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.answer.answerability import Answerability, Scored
from bot.answer.caveats import FOOTER, full_list, summary_lines
from bot.corpus.documents import Passage
from bot.corpus.library import Library, SentenceFacts
from bot.query import Query
from bot.reply import Citation

MOST = 3  # sentences in an answer; a how-does-it-work answer may tell up to MOST + 1 steps


@dataclass(frozen=True)
class Composition:
    answer: str
    supported: bool
    citations: tuple[Citation, ...]
    caveats: tuple[str, ...]
    all_caveats: tuple[str, ...]


class _Citations:
    """Numbers citations in order of first use; the same sentence keeps its number."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.items: list[Citation] = []
        self._by_quote: dict[tuple[str, str], int] = {}

    def cite(self, passage: Passage, sentence: str, score: float = 1.0) -> str:
        key = (passage.id, sentence)
        if key not in self._by_quote:
            doc = self.library.documents[passage.doc_id]
            self._by_quote[key] = n = len(self.items) + 1
            self.items.append(
                Citation(
                    n=n,
                    passage_id=passage.id,
                    quote=sentence,
                    anchor=passage.anchor,
                    title=passage.title,
                    score=round(score, 4),
                    passage_text=passage.text,
                    doc_id=passage.doc_id,
                    source_url=doc.meta.source_url or "",
                )
            )
        return f"[{self._by_quote[key]}]"


def _bold(fact: SentenceFacts, query: Query) -> str:
    """The sentence with the entities of the kind asked for in bold (the answering words): the kind the question's
    cue prefers when the sentence has one, else any other kind asked for but a bare number ("5" of "5 years" is
    not a success rate)."""
    labels = query.preferred_labels & fact.labels or query.answer_labels - {"NUMBER"}
    spans = sorted({(s, e) for s, e, label in fact.entities if label in labels})

    def counts_asked(end: int) -> bool:  # "how many people": the number followed by people, not an age
        return any(w.strip(",.;:()").lower().removesuffix("s") in query.counted for w in fact.text[end:].split()[:2])

    if query.counted and any(counts_asked(e) for _, e in spans):
        spans = [(s, e) for s, e in spans if counts_asked(e)]
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        # Touching, a space or a hyphen apart: "3 thousand", "Twenty-five" (spaCy may tag each half).
        if merged and fact.text[merged[-1][1] : s].strip() in ("", "-", "\u2010", "\u2011"):
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    text = fact.text
    for s, e in reversed(merged):
        text = f"{text[:s]}**{text[s:e]}**{text[e:]}"
    return text


class Composer:
    """Builds answers only from document sentences; the answerability model decides what answers."""

    def __init__(self, library: Library, answerability: Answerability) -> None:
        self.library = library
        self.answerability = answerability
        self.model = answerability.model
        # How the replies speak of the knowledge folder: one article, or several documents.
        one = len(library.documents) == 1
        self._does_not = "The article does not" if one else "The documents do not"
        self._reports = "it reports" if one else "they report"
        self._does_report = "it does report" if one else "they do report"
        self._it_does_not = "It does not" if one else "They do not"

    def _gap(self, query: Query) -> str:
        text = f"{self._does_not} say."
        unstated = [f"“{w}”" for w in query.unstated]
        if unstated:
            text += f" {self._it_does_not} mention " + ", ".join(unstated) + "."
        return text

    def choose(self, query: Query, scored: Sequence[Scored], *, most: int | None = None) -> list[Scored]:
        """What each answering document says (at most `most` sentences each), the document with the best
        sentence first. A document's part is what it would say alone: adding a document takes nothing away."""
        docs = self.answerability.answering_documents(query, scored) or [scored[0].fact.passage.doc_id]
        parts = [self._choose_one(query, [s for s in scored if s.fact.passage.doc_id == d])[:most] for d in docs]
        return [s for part in parts for s in part]

    def _choose_one(self, query: Query, scored: Sequence[Scored]) -> list[Scored]:
        """One document's best sentence and those that also answer; for risk, benefit and cure questions the
        sentences with those facts; for how-it-works and definitions, the steps in the document's order."""
        # How it works is told by the steps: when steps answer, a step leads, not a remark that scores higher.
        steps_found = [s for s in scored if s.fact.sequence and s.p >= self.model.answer]
        process = "process" in query.intents and "definition" not in query.intents and steps_found
        best = self._definition(query, scored) or (steps_found[0] if process else scored[0])
        scored = [best, *[s for s in scored if s is not best]]
        steps = bool(query.intents & {"process", "definition"})
        most = MOST + 1 if steps else MOST
        # Steps of a procedure are each a partial answer: they join at the answer threshold, other facts at `extra`.
        bar = self.model.answer if steps else self.model.extra
        chosen = [best, *[s for s in scored[1:] if s.p >= bar and (not steps or s.fact.sequence or s is best)]][:most]
        if steps:  # the steps in the document's order; a risk or benefit asked for besides comes after them
            chosen = sorted(chosen, key=self._order)
        keys = {s.fact.key for s in chosen}
        wanted: list[Scored] = []
        if "risk" in query.intents:  # the two strongest harms
            wanted += [s for s in scored if s.fact.key in self.library.risk_keys][:2]
        if query.intents & {"benefit", "cure"}:
            wanted += [s for s in scored if s.fact.benefit][:1]
        for s in wanted:
            if s.fact.key not in keys and len(chosen) < most + 1:
                chosen.append(s)
                keys.add(s.fact.key)
        if steps:
            return chosen
        return [chosen[0], *sorted(chosen[1:], key=self._order)]

    def _definition(self, query: Query, scored: Sequence[Scored]) -> Scored | None:
        """For "what is X?" the answering sentence that says what X is ("X is ..."), else one that spells X out;
        for "what does X stand for?" the other way round."""
        if "definition" not in query.intents:
            return None
        asked = query.asked
        answering = [s for s in scored if s.p >= self.model.answer]
        says = [s for s in answering if s.fact.subject and s.fact.subject in asked]
        spells = [s for s in answering if s.fact.defines & asked]
        # "What does relapsing-remitting X mean?" already spells the term out: it asks what it is.
        spelled_out = bool(query.initialisms & {d for s in spells for d in s.fact.defines} - set(query.terms))
        ordered = [*spells, *says] if query.asks_meaning and not spelled_out else [*says, *spells]
        return ordered[0] if ordered else None

    def _order(self, s: Scored) -> tuple[int, int, int]:
        doc_order = list(self.library.documents)
        return (doc_order.index(s.fact.passage.doc_id), s.fact.passage.paragraph, s.fact.index)

    def compose(self, query: Query, scored: Sequence[Scored], *, lead: str = "", advice: bool = False) -> Composition:
        cites = _Citations(self.library)
        parts, answered, chosen = self._body(query, scored, cites, lead=lead, advice=advice)
        risky = bool(query.intents & {"benefit", "cure", "risk"} and chosen)
        return self._finish(parts, answered, chosen, cites, advice=advice, risky=risky)

    def compose_parts(self, asked: Sequence[tuple[str, Query, Sequence[Scored]]]) -> Composition:
        """A message that asks several questions: each answered (or not) under its own words, in the order asked,
        with one numbering of citations and one set of risks for all the documents the answers quote."""
        cites = _Citations(self.library)
        parts: list[str] = []
        answered = False
        chosen: list[Scored] = []
        risky = False
        for question, query, scored in asked:
            body, says, quoted = self._body(query, scored, cites)
            parts.append(f"**{question}**\n\n" + "\n\n".join(body))
            answered |= says
            chosen += quoted
            risky |= bool(query.intents & {"benefit", "cure", "risk"} and quoted)
        return self._finish(parts, answered, chosen, cites, advice=False, risky=risky)

    def _finish(
        self,
        parts: list[str],
        answered: bool,
        chosen: Sequence[Scored],
        cites: _Citations,
        *,
        advice: bool,
        risky: bool,
    ) -> Composition:
        """The reply with its risks: a benefit or a risk asked about (`risky`) shows the one-line summary."""
        docs = list(dict.fromkeys(s.fact.passage.doc_id for s in chosen))
        benefit = any(s.fact.benefit for s in chosen) or risky
        if advice and not docs:
            docs = list(self.library.documents)
        risks = full_list(self.library, docs, cites.cite) if (answered or advice or benefit) else ()
        shown = (*summary_lines(self.library, docs, cites.cite), FOOTER) if (benefit or advice) else (FOOTER,)
        return Composition("\n\n".join(parts), answered, tuple(cites.items), shown, risks)

    def _body(
        self, query: Query, scored: Sequence[Scored], cites: _Citations, *, lead: str = "", advice: bool = False
    ) -> tuple[list[str], bool, list[Scored]]:
        """The reply's paragraphs for one question, whether the documents answer it, and the sentences quoted."""
        parts = [lead] if lead else []
        best = scored[0] if scored else None
        # A question asking for a specific kind of fact (a drug, a dose, a price) is answered only by a sentence
        # that states one: grounded or silent.
        typed = not query.specific_labels or bool(
            best and (query.specific_labels & best.fact.labels or query.topic_words & best.fact.terms)
        )
        answering = [s for s in scored if s.p >= self.model.answer]
        # "Then what?" after an answer: what the document says next, after the last sentence that answer quoted.
        follow = [Scored(f, (), 1.0) for f in self.library.after(query.previous[-1], 2)] if query.previous else []
        follow = [] if advice else follow
        # A claim, a number or a name no document states cannot be confirmed; a quantifier ("so everyone ...?")
        # is answered with what the documents do report, which corrects it.
        # "What is X?" about a term the documents use but never say what it is (X is no subject of theirs): they
        # do not answer it, whatever sentences mention X. "What is the X of Y?" and "Y's X" ask for a fact.
        undefined = (
            query.intents == {"definition"}
            and not query.aliases
            and not query.lemma_text.startswith("what be the ")
            and not any(t.tag_ == "POS" for t in query.doc)
            and self._definition(query, scored) is None
        )
        # "What is <a kind> of the subject?" ("non-X transplant") in words no document uses asks about a kind they
        # do not describe: their own procedure is not its answer.
        other_kind = (
            "definition" in query.intents
            and bool(query.aliases)
            and bool(query.terms)
            and not any(({t} | query.expansions.get(t, frozenset())) & self.library.words for t in query.terms)
        )
        answered = bool(follow) or (
            self.answerability.answers(query, scored)
            and typed
            and not query.unconfirmed
            and not undefined
            and not other_kind
        )
        chosen: list[Scored] = []
        if follow:
            chosen = follow
        elif answered:
            chosen = self.choose(query, scored)
            if query.premises:  # a quantifier the documents do not state is named before what they report
                words = ", ".join(f"“{w}”" for w in query.premises)
                parts.append(f"{self._does_not} mention {words}. Here is what {self._reports}:")
            elif query.yes_no:
                parts.append(f"{self._does_not} answer this with a simple yes or no. Here is what {self._reports}:")
        else:
            related = [s for s in scored if s.p >= self.model.related]
            if advice:
                parts.append(f"{self._does_not} answer this for any one person.")
                chosen = related[:2]
                if chosen:
                    parts.append(f"What {self._reports}, in general:")
            else:
                parts.append(self._gap(query))
                # A claim about the treatment's effect ("will it be permanent?") that the documents do not make
                # is still met with what they report about its effect, with its risks.
                effect = [s for s in scored if s.fact.benefit] if query.intents & {"benefit", "cure"} else []
                if (answering or effect) and query.unstated:
                    # Each document says what it would alone: its answering sentences, else its best on the effect.
                    for doc in dict.fromkeys(s.fact.passage.doc_id for s in [*answering, *effect]):
                        own = [s for s in answering if s.fact.passage.doc_id == doc]
                        mine = self._choose_one(query, own)[:2] if own else []
                        chosen += mine or [s for s in effect if s.fact.passage.doc_id == doc][:1]
                    parts.append(f"What {self._does_report}:")
                elif related:
                    chosen = related[:1]
                    parts.append(f"The closest thing {self._does_report}:")
        docs = list(dict.fromkeys(s.fact.passage.doc_id for s in chosen))
        for i, s in enumerate(chosen):
            text = _bold(s.fact, query) if i == 0 and answered else s.fact.text
            if len(docs) > 1:
                name = self.library.documents[s.fact.passage.doc_id].name
                text = f"*{name[:1].upper()}{name[1:]}:* {text}"
            parts.append(f"{text} {cites.cite(s.fact.passage, s.fact.text, s.p)}")
        return parts, answered, chosen
