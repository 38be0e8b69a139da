"""A light tokenizer and suffix stemmer for the evaluation's support scorer and the message policy: lower-case
word and number tokens, stop words, stems. (The answerer reads spaCy lemmas through bot.query instead.)"""

from __future__ import annotations

import re
from functools import lru_cache

_TOKEN = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+|[a-z0-9]+(?:\.[0-9]+)?|%")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours out over own same she should so some such than that the their theirs them
    then there these they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours yourself tell me please know explain say says said article
    anything something thing things really much many also get got go going like want wanted dont im ive id
    thats whats hows wheres whos theyre isnt wasnt arent didnt doesnt cant wont us let lets ok okay hi
    happen happened happens happend mean means anyone someone anybody right true correct actually exactly
    scared worried afraid anxious nervous frightened terrified thing things stuff honestly wondering curious
    guys folks hey hello please pls thanks thank stand stands short abbreviation acronym meaning""".split()
)

_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ied", "ed", "es", "s", "ly")


def tokens(text: str) -> list[str]:
    """Lower-case word and number tokens ("2.5" stays whole; "12%" gives "12" and "%")."""
    text = re.sub(r"'s\b", "", text.lower().replace("\u2019", "'")).replace("'", "")
    return [t.replace(",", "") for t in _TOKEN.findall(text)]


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """A light suffix-stripper: enough to make "relapses"/"relapse" and "died"/"dies" meet."""
    if len(word) <= 4 or word[0].isdigit():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def content_terms(text: str) -> list[str]:
    """The words that carry meaning: tokens minus stop words."""
    return [t for t in tokens(text) if t not in STOPWORDS]
