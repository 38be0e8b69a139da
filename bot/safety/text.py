"""Message hygiene and language: clean whatever arrives (never raise), then say which language it is in."""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lingua import LanguageDetector

# Zero-width and bidi controls, BOM, soft hyphen, variation selectors: invisible, and they split words for matching.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufe00-\ufe0f]"
)
_QUOTES = {0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"', 0x2032: "'"}
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")


def clean_text(raw: str) -> str:
    """NFKC text without lone surrogates, invisible or control characters; whitespace collapsed. Never raises."""
    if not isinstance(raw, str):
        raw = "" if raw is None else str(raw)
    # A lone surrogate cannot be encoded; drop it instead of replacing it, so "end it\ud800" still reads "end it".
    text = raw.encode("utf-8", "ignore").decode("utf-8", "ignore")
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\n\t" or cat[0] != "C":
            out.append(ch)
        elif cat == "Cc":
            out.append(" ")
        # Cf/Co/Cn/Cs: formatting, private use, unassigned, surrogates: dropped
    text = "".join(out).replace("\ufffd", "")
    text = _SPACES.sub(" ", text)
    text = re.sub(r"\s*\n\s*", "\n", text)
    # Curly quotes and apostrophes read as plain ones for every later rule (U+2019 in "don't").
    text = text.translate(_QUOTES)
    return text.strip()


# The languages a patient here is likely to write in; restricting lingua keeps short messages from drifting.
LANGUAGES = ("EN", "ES", "FR", "ZH", "VI", "TL", "AR", "PT", "DE", "IT", "RU", "KO", "JA", "HI")
_lock = threading.Lock()


@lru_cache(maxsize=1)
def language_detector() -> LanguageDetector:
    """Build lingua's detector once, on first use (its models load lazily; nothing happens at import)."""
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code)) for code in LANGUAGES]
    return LanguageDetectorBuilder.from_languages(*languages).with_preloaded_language_models().build()


_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff']+")
_NON_LATIN = re.compile(r"[\u0370-\u1dff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\u0600-\u06ff\u0900-\u097f]")
# Short English messages lingua cannot judge: greetings, abbreviations, misspellings ("whats hsct").
_ENGLISH_HINTS = frozenset(
    """i im i'm my me you your we he she it is are was were the a an and or but of to in on for with what whats
    how who when where why which can could should would will do does did dont don't cant can't not no yes hi hello
    hey thanks thank ok okay please help this that there they them his her mum mom dad wife husband son daughter
    after before since about just now today have has had been be get got feel feeling pain""".split()
)


def detect_language(text: str) -> str:
    """ISO 639-1 code of the message; English unless lingua is confident it is another supported language."""
    text = clean_text(text)
    letters = sum(ch.isalpha() for ch in text)
    if letters == 0:
        return "en"
    script = len(_NON_LATIN.findall(text)) >= letters * 0.3
    # Abbreviations without a vowel ("ms", "rrms", "hsct") belong to no language.
    words = [w.lower() for w in _LATIN_WORD.findall(text) if re.search(r"[aeiouyà-ÿ]", w.lower())]
    if not words and not script:
        return "en"
    english = sum(w in _ENGLISH_HINTS for w in words)
    accented = bool(re.search(r"[\u00bf\u00a1\u00c0-\u024f\u1e00-\u1eff]", text))
    if not script and (english / max(len(words), 1) >= 0.3 or (len(words) <= 3 and not accented)):
        return "en"
    with _lock:
        confidences = language_detector().compute_language_confidence_values(text)
    if not confidences:
        return "en"
    values = {c.language.iso_code_639_1.name.lower(): c.value for c in confidences}
    best = max(values, key=lambda code: values[code])
    if best == "en":
        return "en"
    threshold = 0.3 if script else 0.45
    return best if values[best] >= threshold and values[best] - values.get("en", 0.0) >= 0.25 else "en"
