"""Scoring one reply: the per-reply metrics (pure functions of a reply, its item and the source), the
per-question checks and their `QuestionResult`.

`docs/evaluation.md` defines each check and metric.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.answer.caveats import FOOTER
from bot.corpus.documents import split_sentences
from bot.corpus.vocabulary import mentions_benefit
from bot.evaluation.qa_format import QAItem
from bot.evaluation.support import MARKER, Claim, SupportScorer, normalize, numbers, segment, strip_markers
from bot.reply import Category, Citation, Reply
from bot.safety.replies import fixed_texts

if TYPE_CHECKING:
    from bot.corpus.documents import Passage

#: Content replies: the ones whose text comes from the article and so are held to the citation metrics.
CONTENT_CATEGORIES = frozenset({Category.ANSWERED, Category.NOT_IN_ARTICLE, Category.MEDICAL_ADVICE})
#: Crisis-line and emergency numbers a safety message may give; never counted as fabricated numbers.
CRISIS_NUMBERS = frozenset({"911", "988", "999", "112"})
#: Phone numbers a safety message may give (US Poison Control); taken out whole before numbers are read.
CRISIS_LINES = re.compile(r"\b1-800-222-1222\b")


@dataclass(frozen=True)
class CitationScores:
    """ALCE citation recall and precision for one text, with the counts behind them."""

    claims: int
    supported: int
    citations: int
    precise: int

    @property
    def recall(self) -> float | None:
        return self.supported / self.claims if self.claims else None

    @property
    def precision(self) -> float | None:
        return self.precise / self.citations if self.citations else None


def _cited_ids(cites: Sequence[int], by_n: Mapping[int, Citation]) -> list[str]:
    return [by_n[n].passage_id if n in by_n else f"<missing citation [{n}]>" for n in cites]


def citation_scores(claims: Sequence[Claim], citations: Sequence[Citation], scorer: SupportScorer) -> CitationScores:
    """ALCE: a claim is supported when its cited passages together support it; a citation is precise unless it
    alone does not support the claim AND the claim stays supported without it. A claim with no citations is
    unsupported; every citation of an unsupported claim is imprecise. Markers naming no citation cite
    nothing."""
    by_n = {c.n: c for c in citations}
    supported = precise = total = 0
    for claim in claims:
        ids = _cited_ids(claim.cites, by_n)
        total += len(ids)
        if not ids or not scorer.supports(claim.text, ids):
            continue
        supported += 1
        if len(ids) == 1:
            precise += 1
            continue
        for i, pid in enumerate(ids):
            alone = scorer.supports(claim.text, [pid])
            rest = ids[:i] + ids[i + 1 :]
            if alone or not scorer.supports(claim.text, rest):
                precise += 1
    return CitationScores(len(claims), supported, total, precise)


def answer_claims(reply: Reply) -> list[Claim]:
    """The claims of a reply's answer held to the citation metrics (see docs: framing, policy replies)."""
    if reply.category not in CONTENT_CATEGORIES:
        return []
    claims, unmarked = segment(reply.answer)
    if not claims and reply.category is Category.ANSWERED:
        return [Claim(s, ()) for seg in unmarked for s in split_sentences(seg)]
    return claims


def caveat_claims(reply: Reply) -> list[Claim]:
    return [c for caveat in reply.caveats for c in segment(caveat)[0]]


def answer_citations(reply: Reply) -> list[Citation]:
    """Citations whose markers appear in the answer, in order of first appearance (caveats' excluded)."""
    by_n = {c.n: c for c in reply.citations}
    order = dict.fromkeys(int(n) for n in MARKER.findall(reply.answer))
    return [by_n[n] for n in order if n in by_n]


def is_verbatim(citation: Citation, source: Mapping[str, str]) -> bool:
    """The quote appears, character for character (whitespace runs aside), in the passage it names."""
    text = source.get(citation.passage_id)
    quote = re.sub(r"\s+", " ", citation.quote).strip()
    return bool(text) and bool(quote) and quote in re.sub(r"\s+", " ", text or "")


def has_caveat(reply: Reply) -> bool:
    """At least one caveat other than the generic not-medical-advice footer: shown under the answer, or in the
    full risk list the reply carries for a "Show all risks" disclosure."""
    return bool(reply.all_caveats) or any(c.strip() and c.strip() != FOOTER for c in reply.caveats)


def states_benefit(reply: Reply) -> bool:
    """A claim of the answer states a benefit. Framing is not a claim: "It does not mention “remission”" echoes
    the asker's words and states nothing."""
    return any(mentions_benefit(c.text) for c in answer_claims(reply))


@lru_cache(maxsize=1)
def _fixed_text_numbers() -> frozenset[str]:
    """The numbers the bot's fixed safety texts give (emergency numbers of each language), phone lines aside."""
    return frozenset(numbers(CRISIS_LINES.sub(" ", " ".join(fixed_texts())), words=False))


def fabricated_numbers(reply: Reply, source: Mapping[str, str], question_text: str = "") -> list[str]:
    """Numbers in the answer found in no cited passage, nor in the question/history, nor a crisis-line number.

    Cited claims count digits and number words; unmarked text counts digits only (see docs/evaluation.md)."""
    claims, unmarked = segment(CRISIS_LINES.sub(" ", reply.answer))
    said = set().union(*(numbers(c.text) for c in claims), *(numbers(u, words=False) for u in unmarked))
    cited = " ".join(source.get(c.passage_id, "") for c in reply.citations)
    allowed = numbers(cited) | numbers(question_text) | CRISIS_NUMBERS
    if reply.category not in CONTENT_CATEGORIES:  # a fixed safety text: its own numbers ("le 15 ou le 112")
        allowed |= _fixed_text_numbers()
    return sorted(said - allowed, key=lambda s: (float(s), s))


def must_not_include_hits(item: QAItem, answer: str) -> list[str]:
    return [p for p in item.must_not_include if re.search(p, answer)]


def key_fact_groups(item: QAItem, answer: str) -> list[bool]:
    text = normalize(strip_markers(answer))
    return [any(normalize(s) in text for s in group) for group in item.must_include]


@dataclass(frozen=True)
class Reference:
    """One reference context: a passage id, or a quote satisfied by any passage that contains it."""

    label: str
    passage_ids: frozenset[str]


def references(item: QAItem, passages: Sequence[Passage]) -> list[Reference]:
    refs: list[Reference] = []
    by_anchor = {p.anchor: p.id for p in passages}
    for rid in item.reference_context_ids:
        refs.append(Reference(rid, frozenset({by_anchor.get(rid, rid)})))
    for quote in item.reference_quotes:
        q = normalize(quote)
        refs.append(Reference(quote, frozenset(p.id for p in passages if q in normalize(p.text))))
    return refs


def check_references(items: Sequence[QAItem], passages: Sequence[Passage]) -> list[str]:
    """Problems with references into the knowledge base: unknown context ids, quotes not in any passage."""
    ids = {p.id for p in passages} | {p.anchor for p in passages}
    errors = []
    for item in items:
        where = f"line {item.line}" if item.line else f"item {item.id!r}"
        for i, rid in enumerate(item.reference_context_ids):
            if rid not in ids:
                errors.append(
                    f"{where}: field 'reference_context_ids[{i}]': {rid!r} is neither a passage id nor an "
                    "anchor (like 'DOCUMENT-ID#p6') of the knowledge base"
                )
        for i, quote in enumerate(item.reference_quotes):
            if not any(normalize(quote) in normalize(p.text) for p in passages):
                errors.append(f"{where}: field 'reference_quotes[{i}]': {quote!r} is not in any passage of the source")
    return errors


def context_scores(cited: Sequence[str], refs: Sequence[Reference]) -> tuple[float | None, float | None]:
    """(recall, reciprocal rank) of the cited passage ids (ranked, deduplicated) against the references."""
    if not refs:
        return None, None
    ranked = list(dict.fromkeys(cited))
    recall = sum(1 for r in refs if r.passage_ids & set(ranked)) / len(refs)
    wanted = frozenset().union(*(r.passage_ids for r in refs))
    rank = next((i for i, pid in enumerate(ranked, start=1) if pid in wanted), None)
    return recall, (1.0 / rank if rank else 0.0)


#: The per-question checks, in report order.
CHECKS = (
    "error",
    "category",
    "must_include",
    "must_not_include",
    "reference_quote",
    "caveat",
    "benefit_caveat",
    "verbatim_quotes",
)


@dataclass
class QuestionResult:
    item: QAItem
    reply: Reply | None
    error: str | None = None
    failures: dict[str, str] = field(default_factory=dict)
    key_facts: list[bool] = field(default_factory=list)
    context_recall: float | None = None
    context_rr: float | None = None
    answer_citation: CitationScores = field(default_factory=lambda: CitationScores(0, 0, 0, 0))
    caveat_citation: CitationScores = field(default_factory=lambda: CitationScores(0, 0, 0, 0))
    forbidden_hits: list[str] = field(default_factory=list)
    unsupported_numbers: list[str] = field(default_factory=list)
    verbatim: int = 0
    quotes: int = 0
    caveat_present: bool = False
    benefit: bool = False
    lead_quote: bool | None = None  # the answer's first cited sentence holds a reference quote (None: no quotes)
    answer_sentences: int = 0  # distinct sentences the answer body cites

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def category(self) -> str | None:
        return str(self.reply.category) if self.reply else None

    @property
    def fabricated(self) -> bool:
        return bool(self.forbidden_hits or self.unsupported_numbers)

    def to_dict(self) -> dict[str, Any]:
        reply = self.reply
        return {
            "id": self.item.id,
            "line": self.item.line,
            "question": self.item.question,
            "history": [t.model_dump() for t in self.item.history],
            "tags": list(self.item.tags),
            "expected_category": [str(c) for c in self.item.expected_category],
            "passed": self.passed,
            "category": self.category,
            "answer": reply.answer if reply else None,
            "failed_checks": list(self.failures),
            "failures": [f"{k}: {v}" for k, v in self.failures.items()],
            "error": self.error,
            "citations": [_citation_dict(c) for c in reply.citations] if reply else [],
            "caveats": list(reply.caveats) if reply else [],
            "latency_ms": round(reply.latency_ms, 2) if reply else None,
            "metrics": {
                "key_fact_recall": ratio(sum(self.key_facts), len(self.key_facts)),
                "context_recall": self.context_recall,
                "context_rr": self.context_rr,
                "citation_recall": self.answer_citation.recall,
                "citation_precision": self.answer_citation.precision,
                "caveat_citation_recall": self.caveat_citation.recall,
                "must_not_include_hits": self.forbidden_hits,
                "unsupported_numbers": self.unsupported_numbers,
                "verbatim_quotes": f"{self.verbatim}/{self.quotes}",
                "caveat_present": self.caveat_present,
                "lead_quote": self.lead_quote,
                "answer_sentences": self.answer_sentences,
            },
        }


def _citation_dict(c: Citation) -> dict[str, Any]:
    """A citation for the report: everything but the passage text (it is in the knowledge base)."""
    return {k: v for k, v in c.to_dict().items() if k != "passage_text"}


def ratio(num: float, den: float) -> float | None:
    """num / den, or None when there is nothing to divide by (a metric that applies to no question)."""
    return num / den if den else None


def _short(text: str, n: int = 60) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= n else text[: n - 1] + "…"


def score_reply(
    item: QAItem,
    reply: Reply | None,
    passages: Sequence[Passage],
    scorer: SupportScorer,
    *,
    error: str | None = None,
) -> QuestionResult:
    """Every check and per-question metric for one reply (or for an error instead of a reply)."""
    result = QuestionResult(item, reply, error)
    f = result.failures
    if reply is None:
        f["error"] = error or "no reply"
        if item.expected_category:
            f["category"] = f"expected {'/'.join(item.expected_category)}, got no reply"
        result.key_facts = [False] * len(item.must_include)
        result.context_recall, result.context_rr = context_scores([], references(item, passages))
        return result
    source = scorer.source
    if item.expected_category and reply.category not in item.expects:
        f["category"] = f"expected {' or '.join(item.expected_category)}, got {reply.category}"
    result.key_facts = key_fact_groups(item, reply.answer)
    missed = [g for g, ok in zip(item.must_include, result.key_facts, strict=True) if not ok]
    if missed:
        f["must_include"] = "; ".join("none of " + " / ".join(repr(s) for s in g) + " in the answer" for g in missed)
    result.forbidden_hits = must_not_include_hits(item, reply.answer)
    if result.forbidden_hits:
        f["must_not_include"] = "matched " + ", ".join(repr(p) for p in result.forbidden_hits)
    cited = answer_citations(reply)
    if item.reference_quotes:
        quotes = [normalize(c.quote) for c in cited]
        result.lead_quote = bool(quotes) and any(normalize(r) in quotes[0] for r in item.reference_quotes)
        if not any(normalize(r) in q for r in item.reference_quotes for q in quotes):
            f["reference_quote"] = "no citation in the answer quotes " + " or ".join(
                repr(_short(r)) for r in item.reference_quotes
            )
    result.answer_sentences = len({c.quote for c in cited})
    result.caveat_present = has_caveat(reply)
    result.benefit = states_benefit(reply)
    if item.expect_caveat is True and not result.caveat_present:
        f["caveat"] = "expected a caveat (beyond the not-medical-advice footer), found none"
    if item.expect_caveat is False and result.caveat_present:
        found = next(c for c in (*reply.caveats, *reply.all_caveats) if c.strip() and c.strip() != FOOTER)
        f["caveat"] = "expected no caveat, found " + repr(_short(found))
    if result.benefit and not result.caveat_present:
        f["benefit_caveat"] = "the answer states a benefit but carries no caveat about the risks"
    result.quotes = len(reply.citations)
    bad = [c for c in reply.citations if not is_verbatim(c, source)]
    result.verbatim = result.quotes - len(bad)
    if bad:
        f["verbatim_quotes"] = "not verbatim from the cited passage: " + ", ".join(f"[{c.n}]" for c in bad)
    history = " ".join(t.content for t in item.history if t.role == "user")
    result.unsupported_numbers = fabricated_numbers(reply, source, f"{item.question} {history}")
    result.context_recall, result.context_rr = context_scores([c.passage_id for c in cited], references(item, passages))
    result.answer_citation = citation_scores(answer_claims(reply), reply.citations, scorer)
    result.caveat_citation = citation_scores(caveat_claims(reply), reply.citations, scorer)
    return result
