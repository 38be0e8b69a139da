"""Small text helpers shared by retrieval, policy and composition: tokens, stems, fuzzy vocabulary."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
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

# Plain-language and shorthand words patients use, mapped to the article's own vocabulary.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "ppl": ("people", "participants", "volunteers", "patients"),
    "people": ("participants", "volunteers", "patients"),
    "person": ("participants", "volunteers", "patients"),
    "persons": ("participants", "volunteers", "patients"),
    "subjects": ("participants", "volunteers"),
    "patients": ("participants", "volunteers", "people"),
    "enrolled": ("volunteers", "participants"),
    "trial": ("study",),
    "study": ("trial",),
    "old": ("aged", "age"),
    "ages": ("aged", "age"),
    "age": ("aged",),
    "died": ("died", "deaths"),
    "die": ("died", "deaths"),
    "death": ("died", "deaths"),
    "dead": ("died", "deaths"),
    "kill": ("died", "deaths"),
    "killed": ("died", "deaths"),
    "fatal": ("died", "deaths"),
    "chemo": ("chemotherapy",),
    "sct": ("stem", "transplant"),
    "ahsct": ("stem", "transplant", "hdit", "hct"),
    "hsct": ("stem", "transplant", "hdit", "hct"),
    "side": ("adverse", "events", "infections"),
    "effects": ("adverse", "events"),
    "complications": ("adverse", "events", "infections"),
    "sick": ("adverse", "infections"),
    "ill": ("adverse", "infections"),
    "risks": ("risk", "adverse", "died"),
    "risk": ("risk", "adverse", "died"),
    "dangerous": ("risk", "adverse", "died"),
    "safe": ("safety", "adverse", "died"),
    "safety": ("safety", "adverse"),
    "works": ("effective", "remission"),
    "work": ("effective", "remission"),
    "effective": ("effective", "remission"),
    "success": ("remission", "69"),
    "successful": ("remission", "69"),
    "walk": ("mobility",),
    "walking": ("mobility",),
    "rrms": ("relapsing", "remitting", "rrms"),
    "relapsing": ("rrms",),
    "remitting": ("rrms",),
    "lead": ("principal", "investigator"),
    "leader": ("principal", "investigator"),
    "researcher": ("investigator",),
    "doctor": ("md",),
    "journal": ("published", "neurology"),
    "published": ("published", "neurology"),
    "yrs": ("years",),
    "yr": ("years",),
    "better": ("improvements", "remission", "effective"),
    "improved": ("improvements",),
    "before": ("previously",),
    "earlier": ("previously",),
    "researchers": ("investigators",),
    "percent": ("%",),
    "rate": ("%", "majority"),
    "rates": ("%", "majority"),
    "percentage": ("%",),
    "how": (),
}

_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ied", "ed", "es", "s", "ly")


# Phrases patients use for things the article words differently; applied to queries before tokenising.
PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"\b((were|was|are)\s+(in|on)\s+(the|this)\s+(trial|study)|took\s+part|tak(e|ing)\s+part|"
            r"participat\w*|enrol\w*|involved|sign(ed)?\s+up|sample\s+size)\b",
            re.IGNORECASE,
        ),
        " volunteers examined ",
    ),
    (re.compile(r"\bside[-\s]?ef+e?cts?\b", re.IGNORECASE), " adverse events "),
    (re.compile(r"\bname\s+of\s+the\s+(trial|study)\b", re.IGNORECASE), " halt trial "),
    (
        re.compile(
            r"\bhow\s+(does|do|did|is|was)\s+(the\s+|this\s+|it\s+)?(transplant|treatment|procedure|therapy|"
            r"hdit\S*|hct|it)?\s*(work|done|performed|given)\b|\bprocedure\b|\bprocess\b|\bsteps\b",
            re.IGNORECASE,
        ),
        " stem cells collected chemotherapy transplanted rebuild immune system ",
    ),
    (re.compile(r"\b(type|kind|form)\s+of\s+ms\b", re.IGNORECASE), " type rrms "),
)


def rephrase(text: str) -> str:
    for pattern, replacement in PHRASES:
        text = pattern.sub(replacement, text)
    return text


def tokens(text: str) -> list[str]:
    """Lower-case word and number tokens ("2.5" stays whole; "69%" gives "69" and "%")."""
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


class Vocabulary:
    """The corpus's own words, used to mend misspellings ("remision" -> "remission") before matching."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.words = sorted({t for text in texts for t in tokens(text) if len(t) > 2})
        self._set = frozenset(self.words)
        self._by_initial: dict[str, list[str]] = {}
        for w in self.words:
            self._by_initial.setdefault(w[0], []).append(w)

    def __contains__(self, word: str) -> bool:
        return word in self._set

    @lru_cache(maxsize=4096)  # noqa: B019 - one vocabulary per index; the cache dies with it
    def correct(self, word: str) -> str:
        if word in self._set or len(word) < 5 or word[0].isdigit():
            return word
        close = difflib.get_close_matches(word, self._by_initial.get(word[0], []), n=1, cutoff=0.8)
        return close[0] if close else word

    def expand(self, text: str) -> list[str]:
        """Query terms: corrected, with synonyms, stemmed; what BM25 and the support check compare."""
        out: list[str] = []
        for raw in content_terms(rephrase(text)):
            word = self.correct(raw)
            out.extend(dict.fromkeys([stem(word), *(stem(s) for s in SYNONYMS.get(word, ()))]))
        return out
