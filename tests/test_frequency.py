"""How common a word is in general English (wordfreq): it weighs the question words no document uses."""

from __future__ import annotations

from bot.corpus.frequency import specificity


def test_everyday_words_are_less_particular_than_medical_ones_and_unseen_words_most() -> None:
    everyday = [specificity(w) for w in ("number", "people", "need", "source")]
    medical = [specificity(w) for w in ("fertility", "infusion", "menopause", "myeloablative")]
    assert max(everyday) < min(medical)
    assert specificity("qzxvkrw") == 1.0  # a word general English never uses weighs as much as any can
    assert all(0.0 <= s <= 1.0 for s in everyday + medical)


def test_a_phrase_is_more_particular_than_its_words() -> None:
    assert specificity("stem cell") > max(specificity("stem"), specificity("cell"))
