"""Spelling repair mends what a hurried patient types to the words the documents and the vocabulary use, and
leaves a word alone when more than one known word would fit: a wrong guess is worse than none."""

from __future__ import annotations

from bot.chat import ChatBot
from bot.corpus.nlp import english_words
from bot.corpus.vocabulary import Lexicon, load_vocabulary, phrase_in
from bot.reply import Category

WORDS = [
    "side",
    "site",
    "life",
    "safe",
    "effect",
    "volunteer",
    "volunteers",
    "researcher",
    "hsct",
    "stem",
    "cell",
    "many",
]


def lexicon() -> Lexicon:
    return Lexicon(load_vocabulary(), WORDS, frozenset({"wife", "the", "cel", "affect"}), names=["hsct"])


def test_two_swapped_letters_are_swapped_back() -> None:
    assert lexicon().correct("sied") == "side"
    assert lexicon().correct("hstc") == "hsct", "a name from the documents' aliases is known for repair"


def test_longer_misspellings_are_mended_to_the_closest_known_word() -> None:
    assert lexicon().correct("volunters") == "volunteers"
    assert lexicon().correct("reserchers") == "researcher"


def test_a_short_slip_is_mended_only_when_a_neighbour_makes_a_phrase() -> None:
    lx = lexicon()
    assert lx.correct("sife") == "sife", "side, site, life and safe are all one letter away"
    assert lx.correct_in_context("sife", "the", "effects") == "side", "only 'side effect' is a phrase"
    assert lx.correct_in_context("sife", "the", "visit") == "sife"


def test_known_and_dictionary_words_are_left_alone() -> None:
    lx = lexicon()
    assert lx.correct("wife") == "wife"
    assert lx.correct_in_context("safe", "is", "effects") == "safe"


def test_a_dictionary_word_far_rarer_than_a_known_neighbour_is_a_slip_of_it(bot: ChatBot) -> None:
    """spaCy's word list holds common slips ("pepole"); general English uses "people" tens of thousands of times
    as often, so it is a slip. A real word near a commoner one is left alone: "hand" is not "and", "trail" is not
    "trial" (general English uses the two about as often)."""
    lx = Lexicon(load_vocabulary(), ["people", "and", "trial", "make"], english_words())
    assert lx.correct("pepole") == "people" and lx.misspelt("pepole")
    for word in ("hand", "trail", "bake"):
        assert lx.correct(word) == word and not lx.misspelt(word)
    reply = bot.ask("how old were the pepole in the study")
    assert reply.category is Category.ANSWERED and "aged 26 to 52" in reply.citations[0].quote, reply.answer


def test_a_slip_one_edit_from_a_general_word_is_not_forced_onto_a_document_word(bot: ChatBot) -> None:
    """ "neurolgist" is one letter from "neurologist", which no document uses, and more from the documents'
    "neurologic": it is mended to the word meant. One letter from a form of the known word, as "efects" is from
    "effects" (and from "defects"), it still mends to the known word."""
    lx = Lexicon(load_vocabulary(), ["neurologic", "effect"], english_words())
    assert lx.correct("neurolgist") == "neurologist"
    assert lx.correct("efects") == "effect"
    reply = bot.ask("should my husband see his neurolgist about the transplant")
    assert reply.category is Category.MEDICAL_ADVICE, reply.answer


def test_a_question_frame_word_is_not_what_the_question_asks_about() -> None:
    """ "work" in "how does it work?" asks how, not whether it succeeds; "how well does it work?" asks that."""
    lx = lexicon()
    assert lx.frame("how do it work ?") == ["work"]
    assert lx.unframed("how do the transplant work ?") == "how do the transplant ?"
    assert "benefit" not in lx.intents("how do it work ?") and "process" in lx.intents("how do it work ?")
    assert lx.frame("how well do it work ?") == []
    assert "benefit" in lx.intents("how well do it work ?")
    assert "benefit" in lx.intents("do it work ?")


def test_where_asks_for_a_place_unless_it_asks_where_something_comes_from() -> None:
    lx = lexicon()
    assert "GPE" in lx.answer_labels("where be the study do ?")
    assert not lx.answer_labels("where do the stem cell come from ?")
    assert not lx.answer_labels("stem cell transplant : where do we go from here ?")


def test_a_slip_that_is_also_in_the_dictionary_is_mended_when_a_neighbour_makes_a_phrase() -> None:
    """spaCy's word list holds common slips ("cel"); the phrase with the neighbour decides, plurals included."""
    lx = lexicon()
    assert lx.correct_in_context("cel", "stem", "transplant") == "cell"
    assert lx.correct_in_context("meny", "how", "people") == "many", "question cues are phrases too"
    assert lx.correct_in_context("affects", "side", "") == "effects"
    assert lx.correct_in_context("cel", "a", "phone") == "cel", "no phrase, no guess"


def test_a_word_no_document_uses_matches_the_documents_word_with_another_ending() -> None:
    """Lemmas join "treated" and "treat", not "treat" and "treatment": a verb the documents only use as a noun
    (and the other way round) still finds their sentences, and a word they do use stays itself."""
    lx = Lexicon(load_vocabulary(), ["treatment", "eligibility", "immunity", "investigator", "transplant", "organ"])
    assert lx.derived("treat") == {"treatment"}
    assert lx.derived("eligible") == {"eligibility"}
    assert lx.derived("immune") == {"immunity"}
    assert lx.derived("investigate") == {"investigator"}
    assert lx.derived("transplantation") == {"transplant"}
    assert lx.derived("treatment") == set(), "a word the documents use is matched as itself"
    assert lx.derived("organisation") == set(), "an ending outside the vocabulary's pairs joins nothing"
    assert lx.derived("use") == set(), "too short a stem to tell a derivation from a coincidence"


def test_a_question_verb_is_matched_to_the_documents_noun(bot: ChatBot) -> None:
    query = bot.analyzer.analyse("Can MS be treated with stem cells?")
    assert "treatment" in query.expansions["treat"]


def test_every_phrase_of_the_vocabulary_is_written_as_the_lemmas_it_is_matched_against(bot: ChatBot) -> None:
    """Phrases match a text's lemmas ("keep taking" is read "keep take", "long-term" as "long term"): a phrase
    written otherwise never matches anything, and nothing says so. Each phrase, typed by a patient, finds itself."""
    data = bot.library.lexicon.data
    entries = [w for group in data.synonyms for w in group] + [w for ws in data.intents.values() for w in ws]
    dead = []
    for phrase in (e for e in entries if " " in e or "-" in e):
        typed = (phrase, f"They said {phrase} then.", f"What about the {phrase}?")
        if not any(phrase_in(phrase, bot.analyzer.analyse(t).lemma_text) for t in typed):
            dead.append(phrase)
    assert not dead, f"vocabulary phrases that match nothing as written: {dead}"
