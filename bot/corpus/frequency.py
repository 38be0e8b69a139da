"""How common a word is in general English, from wordfreq's frequency tables (offline, in the wheel).

A few documents cannot say whether a word they never use is everyday ("number") or particular ("fertility"),
nor whether a rare spelling is a word or a slip ("pepole"). General word frequencies can.
"""

from __future__ import annotations

from functools import lru_cache

#: wordfreq's Zipf scale: log10 of a word's frequency per billion words; about 8 for "the", 0 for unseen words.
ZIPF_TOP = 8.0


@lru_cache(maxsize=65536)
def zipf(word: str, language: str = "en") -> float:
    """The word's (or phrase's) Zipf frequency in general English."""
    from wordfreq import zipf_frequency  # its tables load on first use (a fraction of a second), not at import

    return float(zipf_frequency(word, language))


def specificity(word: str, language: str = "en") -> float:
    """1.0 for a word (or phrase) general English never uses, near 0 for the commonest: 1 - Zipf / 8."""
    return max(0.0, 1.0 - zipf(word, language) / ZIPF_TOP)
