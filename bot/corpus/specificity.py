"""How particular a word is in general English, from wordfreq's frequency tables (offline, in the wheel).

A question about "screening" or "fertility" asks about something particular; one that says "number" or "need"
does not. A few documents cannot tell these apart when they use neither word; general word frequencies can.
"""

from __future__ import annotations

from functools import lru_cache

#: wordfreq's Zipf scale: log10 of a word's frequency per billion words; about 8 for "the", 0 for unseen words.
ZIPF_TOP = 8.0


@lru_cache(maxsize=65536)
def specificity(word: str, language: str = "en") -> float:
    """1.0 for a word (or phrase) general English never uses, near 0 for the commonest: 1 - Zipf / 8."""
    from wordfreq import zipf_frequency  # its tables load on first use (a fraction of a second), not at import

    return max(0.0, 1.0 - zipf_frequency(word, language) / ZIPF_TOP)
