"""Answers are the article's own sentences, cited; gaps are admitted; benefits never travel without risks."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answer.caveats import BENEFIT, FOOTER, ground_caveats
from bot.chat import ChatBot
from bot.corpus.documents import Passage, load_knowledge
from bot.reply import Category, Reply
from tests.conftest import KNOWLEDGE

pytestmark = pytest.mark.slow

SOURCE = {p.id: p for p in load_knowledge(KNOWLEDGE)[0].passages}
DRUGS = re.compile(r"(?i)\b(cyclophosphamide|BEAM|carmustine|etoposide|cytarabine|melphalan|ATG|thymoglobulin)\b")
MARKER = re.compile(r"\[(\d+)\]")


def check_invariants(reply: Reply) -> None:
    """What must hold for every reply, whatever was asked."""
    numbers = {c.n for c in reply.citations}
    assert [c.n for c in reply.citations] == list(range(1, len(reply.citations) + 1))
    for text in (reply.answer, *reply.caveats):
        for n in MARKER.findall(text):
            assert int(n) in numbers, f"marker [{n}] has no citation"
    for c in reply.citations:
        assert c.passage_id in SOURCE, "cited a passage that is not in knowledge/"
        assert c.quote in SOURCE[c.passage_id].text, "quote is not verbatim source text"
        assert c.anchor == SOURCE[c.passage_id].anchor
    quoted = " ".join(c.quote for c in reply.citations)
    for number in re.findall(r"\d+(?:[.,]\d+)?", MARKER.sub("", reply.answer)):
        assert number in quoted, f"number {number} in the answer is in no cited quote"
    if BENEFIT.search(MARKER.sub("", reply.answer)) and reply.category is not Category.EMERGENCY:
        joined = " ".join(reply.caveats)
        assert "Three participants died" in joined and "infections" in joined, "benefit shown without risks"
    if reply.category is Category.EMERGENCY:
        assert not reply.citations and not reply.caveats
    assert not DRUGS.search(reply.answer)


@pytest.mark.parametrize(
    ("question", "expected_quote"),
    [
        ("How many people were in the study?", "24 volunteers aged 26 to 52"),
        ("What percentage had no progression, relapse or new lesions after five years?", "69% had survived"),
        ("Did anyone die?", "Three participants died"),
        ("What side effects were there?", "Adverse events, such as infections"),
        ("Who is Richard Nash?", "principal investigator Richard Nash"),
        ("How many people have MS worldwide?", "2.5 million"),
        ("How were the stem cells collected?", "blood-forming stem cells were collected"),
        ("Did some people walk better afterwards?", "recovery of mobility"),
        ("In which journal was it published?", "published in Neurology"),
    ],
)
def test_answer_leads_with_the_sentence_that_answers(bot: ChatBot, question: str, expected_quote: str) -> None:
    reply = bot.ask(question)
    assert reply.category is Category.ANSWERED, reply.answer
    first_marker = int(MARKER.search(reply.answer).group(1))  # type: ignore[union-attr]
    assert expected_quote in reply.citations[first_marker - 1].quote
    check_invariants(reply)


@pytest.mark.parametrize(
    "question",
    [
        "What chemotherapy drugs were used?",
        "Which hospital did the study take place in?",
        "How much does the transplant cost?",
        "What dose of chemo did they give?",
        "Is HDIT/HCT approved by the FDA?",
    ],
)
def test_gaps_are_admitted_without_invention(bot: ChatBot, question: str) -> None:
    reply = bot.ask(question)
    assert reply.category is Category.NOT_IN_ARTICLE, reply.answer
    assert reply.answer.startswith("The article does not say.")
    check_invariants(reply)


def test_closest_fact_is_offered_for_a_gap(bot: ChatBot) -> None:
    reply = bot.ask("What chemotherapy drugs were used?")
    assert "The closest thing it does report" in reply.answer
    assert any("high-dose of chemotherapy" in c.quote for c in reply.citations)


@pytest.mark.parametrize(
    "question",
    ["So it cures MS, right?", "did the treatment kill three people?", "it's FDA approved, isn't it?"],
)
def test_false_premises_are_not_confirmed(bot: ChatBot, question: str) -> None:
    reply = bot.ask(question)
    assert not re.match(r"(?i)\s*yes\b", reply.answer)
    assert reply.category in (Category.ANSWERED, Category.NOT_IN_ARTICLE)
    check_invariants(reply)


def test_missing_premise_is_named_and_not_answered(bot: ChatBot) -> None:
    reply = bot.ask("So it cures MS, right?")
    assert reply.category is Category.NOT_IN_ARTICLE
    assert reply.answer.startswith("The article does not say. It does not mention “cures”.")
    assert "does report:" in reply.answer and reply.citations


def test_deaths_answer_says_not_due_to_treatment(bot: ChatBot) -> None:
    reply = bot.ask("did the treatment kill three people?")
    assert "none of the deaths were due to the treatment" in reply.answer


def test_benefit_answer_carries_every_risk_and_the_footer(bot: ChatBot) -> None:
    reply = bot.ask("What were the results after 5 years?")
    assert "69%" in reply.answer or "remission" in reply.answer
    caveats = " ".join(reply.caveats)
    for must in (
        "investigational",
        "24 volunteers",
        "Three participants died",
        "infections",
        "larger studies",
    ):
        assert must in caveats
    assert reply.caveats[-1] == FOOTER
    check_invariants(reply)


def test_background_fact_gets_only_the_footer(bot: ChatBot) -> None:
    reply = bot.ask("How many people in the United States have MS?")
    assert reply.caveats == (FOOTER,)


def test_caveat_without_evidence_is_dropped_not_faked() -> None:
    passages = [p for p in SOURCE.values() if "Three participants died" not in p.text]
    grounded = ground_caveats(passages)
    assert "deaths" not in grounded
    assert "investigational" in grounded
    edited = Passage("x", "d", "t", 1, "Nothing about deaths.", ("Nothing about deaths.",))
    assert ground_caveats([edited]) == {}


WORDS = st.sampled_from(
    [
        "how",
        "many",
        "what",
        "who",
        "when",
        "where",
        "why",
        "did",
        "does",
        "the",
        "trial",
        "study",
        "people",
        "ppl",
        "died",
        "remission",
        "69%",
        "24",
        "nash",
        "fauci",
        "chemo",
        "drugs",
        "cost",
        "mobility",
        "cure",
        "safe",
        "risk",
        "years",
        "old",
        "stem",
        "cells",
        "transplant",
        "relapse",
        "lesions",
        "ms",
        "rrms",
        "percent",
        "worldwide",
        "published",
        "neurology",
        "volunteers",
        "infections",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(WORDS, min_size=1, max_size=9))
def test_invariants_hold_for_any_question(bot: ChatBot, words: list[str]) -> None:
    check_invariants(bot.ask(" ".join(words) + "?"))
