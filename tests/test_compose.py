"""Answers are the documents' own sentences, cited; gaps are admitted; benefits never travel without risks,
and the risks are sized to the answer. The code knows no document: what is specific to one is in its file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answer.caveats import FOOTER
from bot.chat import ChatBot
from bot.corpus.documents import KnowledgeError, load_knowledge, parse_document
from bot.corpus.library import PLACES, Library, _abbreviations
from bot.corpus.vocabulary import load_vocabulary, mentions_benefit
from bot.evaluation.scoring import states_benefit
from bot.reply import Category, Reply
from bot.web.render import api_text
from tests.conftest import KNOWLEDGE, ROOT, SECOND_DOCUMENT

pytestmark = pytest.mark.slow

SOURCE = {p.id: p for d in [*load_knowledge(KNOWLEDGE), parse_document(SECOND_DOCUMENT)] for p in d.passages}
QUESTION_HEADING = re.compile(r"(?m)^\*\*[^*\n]+\?\*\*$")
DRUGS = re.compile(r"(?i)\b(cyclophosphamide|BEAM|carmustine|etoposide|cytarabine|melphalan|ATG|thymoglobulin)\b")
MARKER = re.compile(r"\[(\d+)\]")


def lead_quote(reply: Reply) -> str:
    """The quote of the first citation the answer's text marks: the sentence the answer leads with."""
    first = MARKER.search(reply.answer)
    assert first, reply.answer
    return reply.citations[int(first.group(1)) - 1].quote


def check_invariants(reply: Reply) -> None:
    """What must hold for every reply, whatever was asked."""
    numbers = {c.n for c in reply.citations}
    assert [c.n for c in reply.citations] == list(range(1, len(reply.citations) + 1))
    for text in (reply.answer, *reply.caveats, *reply.all_caveats):
        for n in MARKER.findall(text):
            assert int(n) in numbers, f"marker [{n}] has no citation"
    for c in reply.citations:
        assert c.passage_id in SOURCE, "cited a passage that is not in the knowledge folder"
        assert c.quote in SOURCE[c.passage_id].text, "quote is not verbatim source text"
        assert c.anchor == SOURCE[c.passage_id].anchor and c.doc_id == SOURCE[c.passage_id].doc_id
    if reply.category is Category.EMERGENCY:  # a fixed text: call 911, nothing from the documents
        assert not reply.citations and not reply.caveats
        return
    quoted = " ".join(c.quote for c in reply.citations)
    # A message asking several questions is answered under each one, in the asker's words (their numbers too).
    answer = QUESTION_HEADING.sub("", reply.answer)
    for number in re.findall(r"\d+(?:[.,]\d+)?", MARKER.sub("", answer)):
        assert number in quoted, f"number {number} in the answer is in no cited quote"
    if states_benefit(reply):  # a cited claim states one (an echo of the asker's words in the framing does not)
        assert len(reply.caveats) == 2 and reply.caveats[-1] == FOOTER, "a benefit needs the one-line risk summary"
        assert MARKER.search(reply.caveats[0]), "the risk summary is cited"
        assert reply.all_caveats, "the full risk list travels with a benefit"
    assert len(reply.caveats) <= 2, "nobody should read a wall of caveats under an answer"
    assert not DRUGS.search(reply.answer)


@pytest.mark.parametrize(
    ("question", "expected_quote"),
    [
        ("Did anyone die?", "Three participants died"),
        ("How old were the volunteers?", "aged 26 to 52"),
        ("Who is Richard Nash?", "principal investigator Richard Nash"),
        ("How many people worldwide have MS?", "2.5 million"),
        ("how many peple took part?", "24 volunteers"),
        ("How many people took part in the HALT-MS study?", "24 volunteers"),
        # A study's name inside a phrase ("be in the ... study") does not break it.
        ("how many people were in the halt-ms study?", "24 volunteers"),
        # A share counts what the sentence names before it ("... patients ... 69% had survived").
        ("how many patients went five years with no relapse and no new lesions?", "69%"),
        # A rate asks for a share first: the sentence with a percentage leads, not one with a count of deaths.
        ("what is the survival rate", "69%"),
        ("How were the stem cells collected?", "blood-forming stem cells were collected"),
        ("Who is Daniel Rotrosen?", "said Daniel Rotrosen"),
        ("what sied effects did they get", "Adverse events"),  # two letters swapped
        # A meaning question leads with the sentence that spells the term out; "what is X?" with "X is ...".
        ("what does hdit/hct stand for", "high-dose immunosuppressive therapy and autologous hematopoietic"),
        ("What is relapsing-remitting MS?", "RRMS is the most common form of MS"),
        # ... and a meaning question that already spells the term out asks what it is.
        ("whats relapsing remiting ms actualy mean", "RRMS is the most common form of MS"),
    ],
)
def test_answer_leads_with_the_sentence_that_answers(bot: ChatBot, question: str, expected_quote: str) -> None:
    reply = bot.ask(question)
    assert reply.category is Category.ANSWERED, reply.answer
    assert expected_quote in lead_quote(reply)
    check_invariants(reply)


def test_an_everyday_word_no_document_uses_does_not_drown_the_words_they_do_use(bot: ChatBot) -> None:
    """No document says "source", but it is an everyday word: it weighs little, so the stem-cell sentences
    answer, and the one saying whose cells they were is among them."""
    reply = bot.ask("What is the source of the stem cells?")
    assert reply.category is Category.ANSWERED, reply.answer
    assert any("own stem cells" in c.quote for c in reply.citations), reply.answer
    check_invariants(reply)


def test_a_slip_only_its_neighbour_explains_is_mended(bot: ChatBot) -> None:
    """ "sife" could be side, site, life or safe; before "effects" only "side" makes a phrase people use."""
    reply = bot.ask("what are the sife effects of hstc treatment")
    assert reply.category is Category.ANSWERED, reply.answer
    assert any("Adverse events" in c.quote for c in reply.citations), reply.answer
    assert bot.analyzer.analyse("what are the sife effects of hstc treatment").aliases, "hstc is mended to a name"
    check_invariants(reply)


def test_every_suggested_question_is_answered_from_the_documents(bot: ChatBot) -> None:
    """The starters on the page are the first thing a patient clicks."""
    for question in bot.suggestions:
        reply = bot.ask(question)
        assert reply.category is Category.ANSWERED, (question, reply.answer)
        check_invariants(reply)


def test_the_search_leaves_out_a_name_that_only_says_which_document(bot: ChatBot) -> None:
    named = bot.analyzer.analyse("How many people took part in the HALT-MS study?")
    plain = bot.analyzer.analyse("How many people took part in the study?")
    assert float(named.search_vector @ plain.search_vector) > 0.99
    assert float(named.vector @ plain.vector) < 0.99, "the message itself (for safety) is embedded as written"
    named_phrase = bot.analyzer.analyse("how many people were in the HALT-MS study?")
    assert "be in the study" in named_phrase.terms, "a name inside a phrase of the vocabulary leaves the phrase whole"


def test_what_a_message_tells_before_it_asks_is_context_not_the_question(bot: ChatBot) -> None:
    """Real messages tell a story and then ask. The story's words weigh as context (like an earlier turn), and a
    number the patient tells about themselves is not a claim the article must confirm."""
    query = bot.analyzer.analyse(
        "I have had MS for ten years and I'm tired of injections. Did the people in the study stay on their drugs?"
    )
    assert "injection" not in query.terms and "injection" in query.context_terms
    assert "drug" in query.terms
    assert query.unstated_numbers == ()
    # pysbd keeps a lower-case sentence start in the previous sentence; the question is still found.
    query = bot.analyzer.analyse("my mum has rrms and a nurse mentioned a study called halt-ms. what did they find?")
    assert "mum" not in query.terms and "find" in query.terms
    # A question alone, or a story with no question, is read whole.
    assert bot.analyzer.analyse("Dr. Fauci said what about the results?").context == ""


def test_a_slip_is_not_a_name_but_an_abbreviated_place_no_document_names_is(bot: ChatBot) -> None:
    assert bot.analyzer.analyse("whats relapsing remiting ms actualy mean").unstated_names == ()
    reply = bot.ask("How many people have MS in the UK?")
    assert reply.category is Category.NOT_IN_ARTICLE, reply.answer
    assert "It does not mention “UK”" in reply.answer
    assert bot.ask("How many people in the US have MS?").category is Category.ANSWERED


def test_an_abbreviation_spelled_out_in_lower_case_is_a_term_not_an_organisation(bot: ChatBot) -> None:
    """spaCy tags "RRMS" an organisation; the article spells it out in lower case, so a who-question is not
    answered by the sentence that mentions it. An organisation spelled out with capitals stays one."""
    fact = next(f for f in bot.library.sentences.values() if "24 volunteers" in f.text)
    assert not any(fact.text[s:e] == "RRMS" for s, e, _ in fact.entities)
    fauci = next(f for f in bot.library.sentences.values() if "(NIAID)" in f.text)
    # (an organisation named as the speaker's post)
    assert any(label == "AFFILIATION" and "National Institute" in fauci.text[s:e] for s, e, label in fauci.entities)
    reply = bot.ask("Who was the lead researcher?")
    assert "principal investigator Richard Nash" in lead_quote(reply)


def test_a_word_tagged_a_place_in_only_some_sentences_is_no_place_nor_is_a_degree(
    bot: ChatBot, nlp: Any, tmp_path: Path
) -> None:
    """spaCy reads "MS" (the disease) as the state in some of the article's sentences and "MD" after a name as
    Maryland. A real place is a place wherever a document writes it, and a degree is no place, so "where ...?" is
    not answered with the disease or a doctor's degree in bold."""
    places = {f.text[s:e] for f in bot.library.sentences.values() for s, e, label in f.entities if label in PLACES}
    assert places == {"the United States"}
    reply = bot.ask("Which hospitals did the transplants? Where can you get it done?")
    assert not re.search(r"\*\*(MS|MD)\*\*", reply.answer), reply.answer
    path = tmp_path / "doc.md"
    path.write_text(
        "---\ntitle: A study\n---\nThe trial enrolled patients in Canada.\n\nCanada funded the trial.\n",
        encoding="utf-8",
    )
    library = Library([parse_document(path)], nlp, load_vocabulary())
    assert all("GPE" in f.labels for f in library.sentences.values()), "a place named twice stays a place"


def test_a_comparative_the_vocabulary_knows_is_not_lemmatised_away(bot: ChatBot) -> None:
    """spaCy lemmatises "better" to "well"; the vocabulary knows "better" (a benefit), so the question keeps it."""
    assert "better" in bot.analyzer.analyse("did anyone get better?").terms
    assert "die" in bot.analyzer.analyse("how many people died?").terms, "a lemma the vocabulary knows is kept"


def test_a_verb_with_a_particle_is_not_the_bare_verb(bot: ChatBot) -> None:
    """ "Worked out" (calculated) does not ask whether the treatment worked; "come back" is a phrase the vocabulary
    knows (a relapse) and keeps its meaning."""
    worked_out = bot.analyzer.analyse("how did they work out the number of people who relapsed?")
    assert "benefit" not in worked_out.intents
    assert "benefit" in bot.analyzer.analyse("did the treatment work?").intents
    assert "relapse" in bot.analyzer.analyse("did their MS come back?").expansions["come"]


@pytest.mark.parametrize(
    ("question", "asks_date"),
    [
        ("What happened to them when the study ended?", False),
        ("what counted as a relapse when they measured it?", False),
        ("When did the study end?", True),
        ("How many took part? When did it end?", True),
    ],
)
def test_when_after_another_question_word_opens_a_clause(bot: ChatBot, question: str, asks_date: bool) -> None:
    """ "What happened when ...?" asks what happened, not for a date; a "when" that opens a question still asks."""
    assert ("DATE" in bot.analyzer.analyse(question).answer_labels) is asks_date


@pytest.mark.parametrize(
    ("question", "asks_place"),
    [
        ("in rrms do you get periods where you feel ok", False),
        ("is there a time of year where relapses happen more?", False),
        ("Where was the transplant done?", True),
        ("ok thanks. where can you get it done", True),
    ],
)
def test_where_after_a_noun_describes_it_and_asks_no_place(bot: ChatBot, question: str, asks_place: bool) -> None:
    """ "Periods where you feel ok" describes the periods: the question asks whether there are such periods, not
    for a place."""
    assert ("GPE" in bot.analyzer.analyse(question).answer_labels) is asks_place


def test_a_question_about_periods_where_one_feels_well_is_answered_by_the_sentence_about_them(bot: ChatBot) -> None:
    reply = bot.ask("in rrms do you get periods where you feel ok")
    assert reply.category is Category.ANSWERED, reply.answer
    assert "periods of mild or no symptoms" in lead_quote(reply)


@pytest.mark.parametrize("question", ["What are stem cells?", "what is remission?"])
def test_a_term_the_documents_use_but_never_explain_is_not_defined_by_a_sentence_using_it(
    bot: ChatBot, question: str
) -> None:
    """The article uses "stem cells" and "remission" without saying what they are: the reply says so (what it
    does report may follow as the closest thing) instead of passing a sentence that uses the word as the answer."""
    reply = bot.ask(question)
    assert reply.category is Category.NOT_IN_ARTICLE, reply.answer
    check_invariants(reply)
    # A term the article spells out is defined, and "what is the X of Y?" asks for a fact, not a definition.
    assert bot.ask("What is RRMS?").category is Category.ANSWERED
    assert bot.ask("What is the name of the trial?").category is Category.ANSWERED


@pytest.mark.parametrize("question", ["Can MS be treated with stem cells now?", "Who benefits from transplant?"])
def test_an_answer_quotes_the_body_not_the_headline(bot: ChatBot, question: str) -> None:
    """The headline matches such questions word for word, but it only restates the body, in capitals and without
    its qualifications: the answer quotes the body."""
    titles = {d.title for d in bot.documents}
    reply = bot.ask(question)
    assert reply.citations, reply.answer
    assert not titles & {c.quote for c in reply.citations}, reply.answer
    check_invariants(reply)
    # Fitting reads `features()`, serving reads `score()`: both see the same candidates, none of them a headline.
    query = bot.analyzer.analyse(question)
    hits = bot.retriever.retrieve(query, k=12)
    assert {f.passage.text for f, _ in bot.answerability.features(query, hits)}.isdisjoint(titles)
    assert {s.fact.key for s in bot.answerability.score(query, hits)} == {
        f.key for f, _ in bot.answerability.features(query, hits)
    }


def test_a_plural_of_a_name_for_the_subject_is_the_same_name(bot: ChatBot) -> None:
    """ "Stem cell transplants" names the article's subject as "stem cell transplant" does: it routes and defines,
    and stays out of the words a sentence must cover, so "where do we go from here?" is what is asked."""
    assert bot.analyzer.analyse("Are stem cell transplants safe?").aliases
    reply = bot.ask("Stem cell transplants: Where do we go from here?")
    assert "randomized trial" in lead_quote(reply) or "larger studies" in lead_quote(reply), reply.answer


def test_how_do_you_find_out_if_x_asks_about_x(bot: ChatBot) -> None:
    """ "Find out" frames the question; what is asked is whether one qualifies, which the article does not say
    (the study's "examined" is not an answer to it)."""
    assert bot.analyzer.analyse("How do you find out if you qualify?").terms == ("qualify",)
    reply = bot.ask("How do you find out if you qualify?")
    assert reply.category is Category.NOT_IN_ARTICLE, reply.answer


def test_a_kind_of_the_subject_the_documents_never_name_is_not_defined_by_their_procedure(bot: ChatBot) -> None:
    """ "What is non-myeloablative HSCT?" asks about a kind of transplant no document describes; "What is
    autologous HSCT?" uses the article's own word and gets its steps."""
    reply = bot.ask("What is Non-myeloablative HSCT?")
    assert reply.category is Category.NOT_IN_ARTICLE, reply.answer
    check_invariants(reply)
    assert bot.ask("What is autologous HSCT?").category is Category.ANSWERED


def test_a_gap_that_echoes_the_askers_words_states_no_benefit(bot: ChatBot) -> None:
    """spaCy reads "remission remission percent?" as a name no document states; the reply names it back and
    states nothing, so it carries no risk list (a claim of a benefit always does)."""
    reply = bot.ask("remission remission percent?")
    assert reply.category is Category.NOT_IN_ARTICLE and "remission" in reply.answer, reply.answer
    assert not states_benefit(reply) and reply.caveats == (FOOTER,)
    check_invariants(reply)


def test_what_were_they_like_asks_about_people_not_for_a_definition(bot: ChatBot) -> None:
    assert "definition" not in bot.analyzer.analyse("what were they like before the treatment?").intents
    assert "definition" in bot.analyzer.analyse("what is remission?").intents


def test_how_many_of_a_group_are_x_counts_the_x(bot: ChatBot) -> None:
    """ "How many of the people were women?" counts women: the count of people who died does not answer it."""
    reply = bot.ask("How many of the people in the trial were women?")
    assert reply.category is Category.NOT_IN_ARTICLE, reply.answer
    died = bot.ask("How many of the patients died?")
    assert died.category is Category.ANSWERED and "**Three** participants died" in died.answer, died.answer


def test_answering_words_are_bold(bot: ChatBot) -> None:
    reply = bot.ask("How old were the volunteers?")
    assert "**26 to 52 years**" in reply.answer
    # "How many people": the number that counts people, not the ages beside it; one number is one bold span.
    assert "**24** volunteers aged 26 to 52" in bot.ask("How many people took part?").answer
    assert "**2.5 million** people" in bot.ask("How many people worldwide have MS?").answer
    # A rate asks for a percentage first: a bare number of years is not bolded as if it were the rate.
    rate = bot.ask("what is the success rate?")
    assert "**5**" not in rate.answer and "**5 years**" not in rate.answer, rate.answer


def test_a_lists_enumerators_are_not_quantities(two_doc_bot: ChatBot) -> None:
    listed = next(f for f in two_doc_bot.library.sentences.values() if "1) loss" in f.text)
    spans = {listed.text[s:e] for s, e, label in listed.entities if label == "NUMBER"}
    assert not spans & {"1", "2", "3"}, spans


def test_a_name_patients_use_finds_the_documents_term(bot: ChatBot) -> None:
    """The front matter says HSCT is a name for HDIT/HCT; the code does not."""
    query = bot.analyzer.analyse("What is HSCT?")
    assert "hdit/hct" in query.canonical_terms
    assert "definition" in query.intents


def test_how_it_works_gives_the_steps_in_order(bot: ChatBot) -> None:
    reply = bot.ask("What happens during the procedure?")
    cited = [reply.citations[int(n) - 1] for n in dict.fromkeys(MARKER.findall(reply.answer))]
    assert any("stem cells were collected" in c.quote for c in cited), reply.answer
    order = [(SOURCE[c.passage_id].paragraph, SOURCE[c.passage_id].text.find(c.quote)) for c in cited]
    assert order == sorted(order), "the steps are told in the document's order"
    check_invariants(reply)


@pytest.mark.parametrize(
    "question",
    [
        "How does it work?",
        "How does HSCT for MS work?",
        "What does the trial involve?",  # verbatim from a trial's FAQ page (tests/data/qa/external5, ext5-052)
    ],
)
def test_how_does_it_work_is_told_by_the_steps_alone(bot: ChatBot, question: str) -> None:
    """ "work" here asks how, not how well: the steps answer, in order, and no result sentence (with the risk
    line a result needs) is put in front of them."""
    reply = bot.ask(question)
    cited = [reply.citations[int(n) - 1].quote for n in dict.fromkeys(MARKER.findall(reply.answer))]
    assert cited and "stem cells were collected" in cited[0], reply.answer
    assert not mentions_benefit(MARKER.sub("", reply.answer)) and reply.caveats == (FOOTER,), reply.answer
    check_invariants(reply)


def test_steps_come_first_and_a_risk_asked_for_besides_comes_after_them(bot: ChatBot) -> None:
    reply = bot.ask("how does the transplant work and is it safe?")
    cited = [reply.citations[int(n) - 1].quote for n in dict.fromkeys(MARKER.findall(reply.answer))]
    steps = [i for i, q in enumerate(cited) if "stem cells were" in q]
    harms = [i for i, q in enumerate(cited) if "died" in q or "Adverse events" in q]
    assert steps and harms and max(steps) < min(harms), reply.answer
    check_invariants(reply)


def test_an_abbreviation_is_found_by_what_the_documents_spell_it_out_as(bot: ChatBot) -> None:
    """A sentence that says only "RRMS" is about multiple sclerosis too: the article spells RRMS out, and the
    vocabulary knows MS is multiple sclerosis. The documents' subject (HDIT/HCT) is left as it is."""
    fact = next(f for f in bot.library.sentences.values() if "24 volunteers" in f.text)
    assert {"relapse", "sclerosis", "ms"} <= fact.terms
    assert "hematopoietic" not in fact.terms, "the subject's name says which document, not which fact"
    harms = next(f for f in bot.library.sentences.values() if f.text.startswith("Adverse events"))
    assert "complication" in harms.terms, "a phrase of the vocabulary stands for its group's words"


def test_abbreviations_are_matched_to_the_words_they_stand_for() -> None:
    found, terms = _abbreviations(
        [
            "Patients with chronic obstructive pulmonary disease (COPD) were treated.",
            "It was paid for by the National Heart, Lung, and Blood Institute (NHLBI), the agency said.",
            "The trial (PHASE) began.",  # no words before it that the letters spell
        ]
    )
    assert found == {
        "COPD": "chronic obstructive pulmonary disease",
        "NHLBI": "National Heart, Lung, and Blood Institute",
    }
    # After a lower-case phrase an abbreviation names a thing; after a name it stays the name of an organisation.
    assert terms == {"COPD", "PHASE"}


@pytest.mark.parametrize("question", ["What type of MS were they studying?", "which form of MS did they have?"])
def test_what_type_of_x_is_answered_by_a_sentence_that_names_one(bot: ChatBot, question: str) -> None:
    """The article spells RRMS out as a kind of multiple sclerosis: a sentence naming it answers, not one that
    only says "a certain type of MS"."""
    assert "rrms" in bot.library.instances["ms"]
    reply = bot.ask(question)
    lead = lead_quote(reply)
    assert "RRMS" in lead or "relapsing-remitting" in lead, reply.answer
    check_invariants(reply)


@pytest.mark.parametrize(
    "question", ["What type of MS were they studying?", "Which form of MS did the participants have?"]
)
def test_the_kind_word_frames_a_what_type_question(bot: ChatBot, question: str) -> None:
    """ "Type" frames the question: a sentence is no closer to the answer for saying "form of MS" (the background
    definition), so a sentence naming the kind for the study's patients leads."""
    assert not {"type", "form"} & set(bot.analyzer.analyse(question).terms)
    reply = bot.ask(question)
    lead = lead_quote(reply)
    assert "RRMS" in lead and ("patients" in lead or "volunteers" in lead), reply.answer


@pytest.mark.parametrize("question", ["Who was most likely to benefit?", "which ms patients might this help the most?"])
def test_who_benefits_most_finds_particularly(bot: ChatBot, question: str) -> None:
    """ "Most" is kept as a word and meets "particularly" / "especially": the sentence naming who may benefit in
    particular answers."""
    reply = bot.ask(question)
    lead = lead_quote(reply)
    assert "particularly those who do not respond" in lead, reply.answer
    check_invariants(reply)


def test_what_about_the_other_one_is_not_answered_with_what_was_just_quoted(bot: ChatBot) -> None:
    """ "What about the other guy from NIAID?" after Fauci's quote asks for someone else's words."""
    first = bot.ask("what does fauci say about it?")
    assert "Fauci" in first.answer, first.answer
    history = [
        {"role": "user", "content": "what does fauci say about it?"},
        {"role": "assistant", "content": first.answer},
    ]
    reply = bot.ask("what about the other guy from niaid, what does he say?", history)
    lead = lead_quote(reply)
    assert reply.category is Category.ANSWERED and "Rotrosen" in lead, reply.answer
    check_invariants(reply)


def test_then_what_continues_from_where_the_last_answer_stopped(bot: ChatBot) -> None:
    """ "Then what happens?" gets what the document says next, after the last sentence the previous answer
    quoted, in the document's order; without a previous answer there is nothing to continue."""
    first = bot.ask("How was the treatment done?")
    assert "stem cells were collected" in first.answer, first.answer  # a how-question leads with the steps
    history = [
        {"role": "user", "content": "How was the treatment done?"},
        {"role": "assistant", "content": first.answer},
    ]
    shown = bot.library.quoted_in(first.answer)
    expected = [f.text for f in bot.library.after(shown[-1], 2)]
    reply = bot.ask("then what happens?", history)
    assert reply.category is Category.ANSWERED
    assert [c.quote for c in reply.citations[: len(expected)]] == expected
    check_invariants(reply)
    assert bot.ask("then what happens?").category is not Category.ANSWERED
    # An API client sends back the whole text, caveats and sources included: the answer part still decides.
    whole = [
        {"role": "user", "content": "How was the treatment done?"},
        {"role": "assistant", "content": api_text(first)},
    ]
    assert [c.quote for c in bot.ask("then what happens?", whole).citations[: len(expected)]] == expected
    bold = bot.ask("How old were the volunteers?")  # its answering words are in bold
    assert "**" in bold.answer
    assert bot.library.quoted_in(bold.answer), "the bold answer is still found in the document"
    asked = bot.ask("and then how old were the volunteers?", history)  # a question of its own is answered as asked
    body = [asked.citations[int(n) - 1].quote for n in MARKER.findall(asked.answer)]
    assert any("aged 26 to 52" in q for q in body), asked.answer


def test_high_dose_names_a_treatment_while_what_dose_asks_for_one(bot: ChatBot) -> None:
    assert "DOSE" not in bot.analyzer.analyse("Which patients does the high-dose therapy help?").specific_labels
    assert "DOSE" in bot.analyzer.analyse("What dose of chemotherapy did they give?").specific_labels
    assert bot.ask("Which patients does the high-dose therapy help?").category is Category.ANSWERED


def test_which_ms_drugs_asks_which_drug_though_a_word_stands_between(bot: ChatBot) -> None:
    """ "Which MS drugs had they tried?" asks for a drug by name, which the article never gives; a verb between
    ("what does the drug do?") makes it another question."""
    assert "DRUG" in bot.analyzer.analyse("Which MS drugs had the participants tried?").answer_labels
    assert "DRUG" in bot.analyzer.analyse("what kind of drug did they get?").answer_labels
    assert "DRUG" not in bot.analyzer.analyse("what does the drug do?").answer_labels
    assert bot.ask("Which MS drugs had the participants tried?").category is Category.NOT_IN_ARTICLE


def labels_by_first_word(nlp: Any, tmp_path: Path, body: str) -> dict[str, frozenset[str]]:
    """The entity kinds of each sentence of a one-document library with this body, keyed by its first word."""
    path = tmp_path / "doc.md"
    path.write_text(f"---\ntitle: A study\n---\n{body}", encoding="utf-8")
    library = Library([parse_document(path)], nlp, load_vocabulary())
    return {f.text.split()[0]: f.labels for f in library.sentences.values()}


def test_a_place_of_care_is_named_by_its_words_not_by_any_organisation(nlp: Any, tmp_path: Path) -> None:
    """ "Which hospital?" is answered only by a sentence that names a hospital or clinic: an institute that funded
    a study is an organisation, not a place of care."""
    labels = labels_by_first_word(
        nlp,
        tmp_path,
        "The National Institute of Examples funded the study.\n\n"
        "Patients were treated at Example General Hospital in Springfield.\n",
    )
    assert "CARE_SITE" in labels["Patients"] and "CARE_SITE" not in labels["The"]


def test_an_organisation_in_a_persons_post_is_who_they_are_not_where_anything_was_done(
    nlp: Any, tmp_path: Path, bot: ChatBot
) -> None:
    """ "Said Ann Lee, MD, director of the X Institute": the institute says who she is. A where-question is not
    answered by it; a which-agency question still is; an organisation that did something stays one."""
    labels = labels_by_first_word(
        nlp,
        tmp_path,
        "“The results are good,” said Ann Lee, MD, director of the National Institute of Examples.\n\n"
        "The Springfield Research Center ran the trial.\n",
    )
    assert "AFFILIATION" in labels["“The"] and "ORG" not in labels["“The"]
    assert "ORG" in labels["The"] and "AFFILIATION" not in labels["The"]
    # The article does not say where the study was done; the institutes it names are its speakers' posts.
    where = bot.ask("where was the study done")
    assert where.category is Category.NOT_IN_ARTICLE, where.answer
    agency = bot.ask("Which federal agency's director commented on the results?")
    assert agency.category is Category.ANSWERED and "**" in agency.answer, agency.answer


@pytest.mark.parametrize("question", ["who made the comments about the results?", "who commented on the results?"])
def test_who_commented_is_asked_like_who_said(bot: ChatBot, question: str) -> None:
    """ "Comment" frames the question as "say" does: the answer names a person the article quotes."""
    reply = bot.ask(question)
    assert reply.category is Category.ANSWERED, reply.answer
    bold = re.findall(r"\*\*([^*]+)\*\*", reply.answer)
    assert bold and all(w.lower() in bot.library.public_names for w in bold[0].replace(".", "").split()), bold


def test_a_time_clause_is_read_with_the_same_lemmas_as_its_sentence(nlp: Any, tmp_path: Path) -> None:
    """ "The data were released in 2019": what the date dates is "data" (spaCy's lemma would be "datum"), the
    word a question uses ("when were the data released?")."""
    path = tmp_path / "doc.md"
    path.write_text("---\ntitle: A study\n---\nThe data were released in March 2019.\n", encoding="utf-8")
    library = Library([parse_document(path)], nlp, load_vocabulary())
    fact = next(iter(library.sentences.values()))
    assert fact.timed and "data" in fact.timed[0][1] and "datum" not in fact.timed[0][1]


def test_what_makes_a_message_about_the_documents_is_their_own_words_not_the_vocabulary(
    nlp: Any, tmp_path: Path, bot: ChatBot
) -> None:
    """A document's phrase ("more effective") finds a question's synonym ("help") when answering, but a synonym
    alone does not make a message about the documents: "help me fix my car" is still off topic."""
    path = tmp_path / "doc.md"
    path.write_text("---\ntitle: A study\n---\nThe new drug was more effective than the old one.\n", encoding="utf-8")
    library = Library([parse_document(path)], nlp, load_vocabulary())
    (fact,) = library.sentences.values()
    assert "help" in fact.terms and "effective" in library.words and "help" not in library.words
    assert bot.ask("Can you help me fix my car's brakes?").category is Category.OUT_OF_SCOPE


def test_a_number_inside_a_range_the_article_gives_is_stated_by_it(bot: ChatBot) -> None:
    """The article gives ages 26 to 52: "was anyone 30?" is answered with that range, "aged 60?" is not."""
    assert bot.library.states("30") and not bot.library.states("60")
    inside = bot.ask("was anyone 30 years old?")
    assert inside.category is Category.ANSWERED and "26 to 52" in inside.answer, inside.answer
    outside = bot.ask("were there people aged 60?")
    assert outside.category is Category.NOT_IN_ARTICLE and "“60”" in outside.answer, outside.answer


def test_a_word_with_a_verb_sense_has_no_synonyms_as_a_noun(bot: ChatBot) -> None:
    """ "Does it work?" asks about success; "back to work" and "in the long run" do not ask about success or lead."""
    assert "effective" in bot.analyzer.analyse("does it work?").expansions["work"]
    assert not bot.analyzer.analyse("when can I go back to work?").expansions["work"]
    assert not bot.analyzer.analyse("what happens in the long run?").expansions["run"]


def test_a_point_in_time_does_not_shape_the_question(bot: ChatBot) -> None:
    """ "... after these results?" names when, not what: the question does not ask about benefits."""
    assert "benefit" not in bot.analyzer.analyse("What do the researchers want to do next after these results?").intents
    assert "benefit" in bot.analyzer.analyse("What were the results after five years?").intents


def test_a_length_of_time_answers_only_when_its_clause_is_about_what_is_asked(bot: ChatBot) -> None:
    """ "How long were they followed?" is answered by "after a follow-up of 5 years"; "how long does the
    chemotherapy take?" is not: the article's lengths of time measure the follow-up, not the chemotherapy."""
    followed = next(f for f in bot.library.sentences.values() if "follow-up of 5 years" in f.text)
    assert [label for label, words in followed.timed if "follow" in words] == ["DURATION"]
    assert not any("remission" in words for _, words in followed.timed), "the next clause is not the time's"
    for question in (
        "How long were the participants followed after treatment?",
        "How long after the treatment were they followed?",
    ):
        reply = bot.ask(question)
        assert reply.category is Category.ANSWERED and "follow-up of 5 years" in reply.citations[0].quote, reply.answer
    # A reference point ("after the treatment") is not what is measured: a time after the treatment does not say
    # how long the immune system takes to recover.
    for question in (
        "How long does the chemotherapy take?",
        "how long does recovery take?",
        "how long until the immune system is back to normal after the treatment",
        "how long does it take to recover and go back to work after the transplant",  # a job, not a success
        # The study's name in a time's clause ("... in the HALT-MS trial") says which study, not what was timed.
        "How long does an MS infusion take?",
    ):
        reply = bot.ask(question)
        assert reply.category is Category.NOT_IN_ARTICLE, reply.answer
        check_invariants(reply)
    named = next(f for f in bot.library.sentences.values() if "HALT-MS trial" in f.text and f.timed)
    assert not any("halt" in words for _, words in named.timed)


@pytest.mark.parametrize(
    "question",
    [
        "Which hospitals offer this treatment for MS?",
        "How much does the transplant cost?",
        "Is HDIT/HCT approved by the FDA?",
        "What dose of chemotherapy did they give?",
    ],
)
def test_gaps_are_admitted_without_invention(bot: ChatBot, question: str) -> None:
    reply = bot.ask(question)
    assert reply.category is Category.NOT_IN_ARTICLE, reply.answer
    assert reply.answer.startswith("The article does not say.")
    assert reply.caveats == (FOOTER,), "a gap that states no benefit carries no risk list"
    check_invariants(reply)


def test_missing_premise_is_named(bot: ChatBot) -> None:
    reply = bot.ask("So it cures MS, right?")
    assert reply.category is Category.NOT_IN_ARTICLE
    assert "It does not mention “cures”" in reply.answer, "the word is named as the patient wrote it"
    check_invariants(reply)


def test_a_claim_the_documents_answer_by_its_opposite_is_answered(bot: ChatBot) -> None:
    """The vocabulary says "not approved" is "experimental"; the article calls the treatment investigational. So
    "approved or experimental?" is answered with that, after naming the word the article does not use, while a
    claim nothing in the documents speaks to stays a gap."""
    reply = bot.ask("is this an approved treatment or still experimental?")
    assert reply.category is Category.ANSWERED, reply.answer
    assert reply.answer.startswith("The article does not mention “approved”. Here is what it reports:")
    assert "investigational" in " ".join(c.quote for c in reply.citations)
    check_invariants(reply)
    # The claim is named as typed and matched as its lemma: "approved" is found by the article's opposite word.
    query = bot.analyzer.analyse("Is HSCT approved?")
    assert query.premises == ("approved",) and "investigational" in query.expansions["approve"]
    assert query.denied == ("approved",) and query.unmet == (), (
        "answered by its opposite, so not unstated to the scorer"
    )
    assert bot.analyzer.analyse("So it is proven to work?").unmet == ("proven",)
    assert bot.ask("So it is proven to work?").category is Category.NOT_IN_ARTICLE


def test_an_unconfirmed_claim_about_the_effect_is_met_with_what_the_article_reports(bot: ChatBot) -> None:
    """ "Will this be permanent?" cannot be confirmed, but the patient still learns what the article reports about
    the treatment's effect, and that result brings its risk line."""
    reply = bot.ask("will this be permanent?")
    assert reply.category is Category.NOT_IN_ARTICLE
    assert reply.answer.startswith("The article does not say. It does not mention “permanent”.\n\nWhat it does report:")
    assert mentions_benefit(MARKER.sub("", reply.answer)) and FOOTER in reply.caveats and len(reply.caveats) > 1
    check_invariants(reply)


def test_a_quantifier_premise_is_named_and_answered_with_what_the_article_reports(bot: ChatBot) -> None:
    """ "Everyone" is not a claim to confirm but a count to correct: the article says how many did."""
    reply = bot.ask("so everyone went into remission?")
    assert reply.category is Category.ANSWERED, reply.answer
    assert reply.answer.startswith("The article does not mention “everyone”. Here is what it reports:")
    assert "majority" in reply.answer
    check_invariants(reply)


@pytest.mark.parametrize(
    "question", ["How risky is HSCT?", "How truly risky is HSCT today?", "Pros and cons of a stem cell transplant?"]
)
def test_lay_ways_of_asking_about_risk_are_answered_with_the_risks(bot: ChatBot, question: str) -> None:
    """ "Risky", "pros and cons" ask what "what are the risks?" asks, so they are answered with the harms the
    article states (its caveats of kind harm), not only with words about risk; "truly" and "today" change nothing."""
    reply = bot.ask(question)
    assert reply.category is Category.ANSWERED, reply.answer
    quoted = {c.quote for c in reply.citations if f"[{c.n}]" in reply.answer}
    harms = {bot.library.sentences[key].text for key in bot.library.risk_keys}
    assert harms and harms <= quoted, reply.answer
    check_invariants(reply)


def test_a_number_inside_a_range_the_article_gives_is_met_by_that_range(bot: ChatBot) -> None:
    """The article gives an age range, not every age in it: a question naming an age inside the range is
    answered with the range; an age outside it is not stated."""
    low, high = bot.library.ranges[0]
    inside, outside = int((low + high) // 2), int(high) + 8
    assert str(inside) not in bot.library.numbers, "the test needs a number the article does not state itself"
    reply = bot.ask(f"was anyone aged {inside} in the study?")
    assert reply.category is Category.ANSWERED, reply.answer
    assert f"{int(low)} to {int(high)}" in lead_quote(reply)
    check_invariants(reply)
    assert bot.ask(f"was anyone aged {outside} in the study?").category is Category.NOT_IN_ARTICLE
    # "young" is an age word, as "old" is.
    assert f"{int(low)} to {int(high)}" in lead_quote(bot.ask("how young were the patients?"))


@pytest.mark.parametrize(
    "question", ["What is the mortality rate at your clinic?", "how long is the waiting list at your hospital?"]
)
def test_a_question_put_to_a_treatment_provider_is_not_answered_with_the_study(bot: ChatBot, question: str) -> None:
    """The article reports one study; "your clinic" is no clinic it describes, so its deaths are not an answer."""
    reply = bot.ask(question)
    assert reply.category is Category.NOT_IN_ARTICLE, reply.answer
    assert "It does not mention “your" in reply.answer
    check_invariants(reply)
    assert bot.ask("What was the mortality rate in the study?").category is Category.ANSWERED


def test_a_place_no_document_names_is_named_not_answered(bot: ChatBot) -> None:
    reply = bot.ask("What are the success rates of HSCT in Mexico?")
    assert reply.category is Category.NOT_IN_ARTICLE, reply.answer
    assert "It does not mention “Mexico”" in reply.answer
    check_invariants(reply)
    # A title before a name the article does use is not a new name.
    assert bot.analyzer.analyse("What did Dr Fauci say about the results?").unstated_names == ()


def test_a_yes_no_question_about_medication_is_not_a_request_for_a_drug_name(bot: ChatBot) -> None:
    reply = bot.ask("Had the volunteers tried MS medication before?")
    assert reply.category is Category.ANSWERED, reply.answer
    assert "medication" in reply.answer  # the sentence mentions the topic; it need not name a drug
    # ... while a question whose topic no sentence mentions is still a gap, yes/no or not.
    assert bot.ask("Is the treatment covered by insurance?").category is Category.NOT_IN_ARTICLE


@pytest.mark.parametrize("question", ["what is hsct?", "What is HSCT for MS (Multiple Sclerosis)?"])
def test_what_is_the_treatment_tells_its_steps(bot: ChatBot, question: str) -> None:
    """A gloss in brackets does not change what is asked."""
    reply = bot.ask(question)
    assert reply.category is Category.ANSWERED, reply.answer
    cited = [reply.citations[int(n) - 1].quote for n in dict.fromkeys(MARKER.findall(reply.answer))]
    assert any("stem cells were collected" in q for q in cited), reply.answer
    check_invariants(reply)


def test_a_quotation_is_found_by_its_speakers_name_though_the_name_is_in_the_sentence_before(bot: ChatBot) -> None:
    speaker = next(f for f in bot.library.sentences.values() if "said Anthony S. Fauci" in f.text)
    continued = bot.library.sentences[(speaker.passage.id, speaker.index + 1)]
    assert continued.text.startswith("“") and "Fauci" not in continued.text
    assert "fauci" in continued.terms
    reply = bot.ask("According to Fauci, what do the results support?")
    assert "randomized trial" in reply.answer, reply.answer


def test_plain_fact_gets_only_the_footer(bot: ChatBot) -> None:
    reply = bot.ask("How many people in the United States have MS?")
    assert reply.category is Category.ANSWERED
    assert reply.caveats == (FOOTER,)


def test_benefit_gets_a_one_line_cited_risk_summary_and_the_full_list_apart(bot: ChatBot) -> None:
    reply = bot.ask("What happened to most participants five years after treatment?")
    assert mentions_benefit(reply.answer), reply.answer
    check_invariants(reply)
    full = " ".join(reply.all_caveats)
    assert "Three participants died" in full and "infections" in full and "investigational" in full


def test_two_documents_each_fact_names_its_document(two_doc_bot: ChatBot) -> None:
    reply = two_doc_bot.ask("According to the ITN news release, what were the side effects?")
    assert reply.citations and {c.doc_id for c in reply.citations if c.n == 1} == {"itn-halt-ms-5yr"}
    assert all(c.source_url.startswith("https://") for c in reply.citations if c.doc_id == "itn-halt-ms-5yr")
    for reply in (two_doc_bot.ask(q) for q in ("How many people took part?", "What were the results?")):
        docs = {c.doc_id for c in reply.citations if f"[{c.n}]" in reply.answer}
        if len(docs) > 1:
            assert "*The news article:*" in reply.answer and "*The itn news release:*" in reply.answer.replace(
                "ITN", "itn"
            )


def test_replies_that_name_the_documents_state_no_benefit(two_doc_bot: ChatBot) -> None:
    """A headline may state a benefit; greetings and off-topic replies name documents by subject or name."""
    for message in ("hello", "What's the weather in Paris tomorrow?"):
        reply = two_doc_bot.ask(message)
        assert not mentions_benefit(reply.answer), reply.answer
        assert "the ITN news release" in reply.answer or "Immune Tolerance Network" in reply.answer


def test_with_several_documents_the_replies_speak_of_the_documents(two_doc_bot: ChatBot) -> None:
    """No "the article" when two documents answer: gaps, advice and yes/no leads all say "the documents"."""
    replies_ = [
        two_doc_bot.ask(m) for m in ("Which hospitals offer it?", "Should I get this treatment?", "Is it safe?")
    ]
    assert [r.category for r in replies_] == [Category.NOT_IN_ARTICLE, Category.MEDICAL_ADVICE, Category.ANSWERED]
    for reply in replies_:
        assert "The article" not in reply.answer and "it reports" not in reply.answer, reply.answer
    assert "The documents do not" in replies_[0].answer and "The documents do not" in replies_[2].answer


def test_caveat_evidence_must_be_verbatim(tmp_path: Path) -> None:
    target = tmp_path / "k"
    shutil.copytree(KNOWLEDGE, target)
    path = target / "halt-ms-news.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("were both minimal and expected.\n", "were minimal.\n", 1), encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"halt-ms-news\.md: line \d+, field caveats\[3\]\.evidence"):
        load_knowledge(target)


def test_bad_front_matter_names_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "doc.md").write_text("---\ntitle: x\nsource_url: not a url\n---\nBody.\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"doc\.md: line 3, field source_url"):
        load_knowledge(tmp_path)


def test_no_document_knowledge_in_the_code() -> None:
    """Names, numbers and phrases of the knowledge documents live in their files, never in bot/."""
    # Names and acronyms in any case; words that are also ordinary English ("neurology", "halt") as capitalised.
    anycase = ["HALT-MS", "HDIT", "NIAID", "Fauci", "Rotrosen", "TrialShare", "Immune Tolerance", "24 volunteers"]
    anycase += ["69%", "400,000", "2.5 million", "62 months", "69.2"]
    exact = ["HALT", "Nash", "Neurology", "ITN"]
    found = ""
    for flags, terms in (("-rnIiF", anycase), ("-rnIF", exact)):
        found += subprocess.run(
            ["grep", flags, *[a for t in terms for a in ("-e", t)], "--include=*.py", "--include=*.yaml", "bot"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout
    assert found == "", found


def test_no_four_words_of_a_document_appear_in_the_code() -> None:
    """No phrase of a knowledge document (any four words in a row) is written into bot/: code, vocabulary and
    data files alike. Three-word phrases like "for the study" are too common to ban."""

    def words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+(?:[-/'][a-z0-9]+)*", text.lower())

    phrases: set[str] = set()
    for path in (*sorted(KNOWLEDGE.glob("*.md")), SECOND_DOCUMENT):
        body = words(path.read_text(encoding="utf-8").split("\n---\n", 1)[-1])
        phrases |= {" ".join(body[i : i + 4]) for i in range(len(body) - 3)}
    found = []
    for path in sorted((ROOT / "bot").rglob("*")):
        if path.suffix in (".py", ".yaml", ".json", ".html", ".js", ".css"):
            text = words(path.read_text(encoding="utf-8"))
            found += [
                f"{path.name}: {' '.join(text[i : i + 4])}"
                for i in range(len(text) - 3)
                if " ".join(text[i : i + 4]) in phrases
            ]
    assert found == []


WORDS = st.sampled_from(
    "how many what who when where why did does the trial study people ppl died remission 69% 24 nash fauci chemo "
    "drugs cost mobility cure safe risk years old stem cells transplant relapse lesions ms rrms percent worldwide "
    "published neurology volunteers infections hsct".split()
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(WORDS, min_size=1, max_size=9))
def test_invariants_hold_for_any_question(bot: ChatBot, words: list[str]) -> None:
    check_invariants(bot.ask(" ".join(words) + "?"))


def test_a_message_asking_several_questions_answers_each_under_its_own_words(bot: ChatBot) -> None:
    """ "Is it from a donor? Where do the cells come from?": read as one question, the part the article lacks
    hid the part it answers. Each question gets its own answer, in the order asked, under the asker's words, with
    one numbering of citations; a later question leans on the earlier ones ("how old were they?")."""
    reply = bot.ask("Is it a bone marrow transplant from a donor? Where do the stem cells come from?")
    assert reply.category is Category.ANSWERED, reply.answer
    first, second = reply.answer.split("**Where do the stem cells come from?**")
    assert first.startswith("**Is it a bone marrow transplant from a donor?**") and "does not say" in first
    assert "own stem cells" in second and not MARKER.search(first)
    check_invariants(reply)
    reply = bot.ask("How many people took part in the study? How old were they?")
    first, second = reply.answer.split("**How old were they?**")
    assert "24" in first and "26 to 52" in second
    assert len({c.quote for c in reply.citations}) == len(reply.citations), "a sentence quoted twice keeps its number"
    check_invariants(reply)


def test_a_message_is_one_question_unless_it_asks_several_whole_ones() -> None:
    from bot.query import MAX_QUESTIONS, QueryAnalyzer

    assert QueryAnalyzer.questions("The ER? Really? For vibrating legs?") == ((), ""), "fragments are one question"
    assert QueryAnalyzer.questions("How many took part?") == ((), "")
    many = " ".join(f"What about question number {i}?" for i in range(MAX_QUESTIONS + 1))
    assert QueryAnalyzer.questions(many) == ((), "")
    told = "My wife was diagnosed last year. Did anyone die? Were there infections?"
    assert QueryAnalyzer.questions(told) == (("Did anyone die?", "Were there infections?"), told.split(" Did")[0])


@pytest.mark.parametrize(
    ("message", "category"),
    [
        ("How many people took part? Could I have it done too?", Category.MEDICAL_ADVICE),
        ("What were the side effects? My husband has chest pain and can't breathe, what do we do?", Category.EMERGENCY),
    ],
)
def test_safety_reads_a_message_of_several_questions_whole(bot: ChatBot, message: str, category: Category) -> None:
    """A request for personal advice or an emergency in any of the questions decides the reply, as one."""
    reply = bot.ask(message)
    assert reply.category is category, reply.answer
    assert not QUESTION_HEADING.search(reply.answer)
    check_invariants(reply)
