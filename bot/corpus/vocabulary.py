"""The general lay <-> clinical vocabulary (vocabulary.yaml) and the words of the knowledge documents.

Matching works on spaCy lemmas, lower case, joined by single spaces; a phrase of the vocabulary matches a text
when its lemmas appear in a row. Misspellings are mended against the documents' and the vocabulary's own words.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.corpus.frequency import zipf

VOCABULARY_FILE = Path(__file__).with_name("vocabulary.yaml")
QUESTION_WORDS = frozenset({"who", "whom", "whose", "when", "where", "what", "which", "how"})
_AUXILIARIES = "be|do|have|can|could|will|would|shall|should|may|might|must"
_WORD = re.compile(r"[a-z][a-z\-/]*[a-z]|[a-z]")


def phrase_in(phrase: str, text: str) -> bool:
    """Does the lemma phrase occur in the lemma text, as whole words?"""
    return f" {phrase} " in f" {text} "


@dataclass(frozen=True)
class VocabularyData:
    synonyms: tuple[tuple[str, ...], ...]
    answer_types: dict[str, tuple[str, ...]]
    intents: dict[str, tuple[str, ...]]
    premise_words: frozenset[str]
    benefit_words: tuple[str, ...]
    yes_no_openers: frozenset[str]
    stop_words: frozenset[str]
    sequence_words: frozenset[str]
    intent_patterns: dict[str, tuple[re.Pattern[str], ...]]
    generic_answer_cues: frozenset[str]
    respellings: dict[str, str]
    honorifics: frozenset[str] = frozenset()
    frame_words: frozenset[str] = frozenset()
    reporting_verbs: frozenset[str] = frozenset()
    keep_words: frozenset[str] = frozenset()
    quantifier_premises: frozenset[str] = frozenset()
    not_cues: tuple[str, ...] = ()
    not_cue_patterns: tuple[re.Pattern[str], ...] = ()
    kind_words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    frame_patterns: tuple[re.Pattern[str], ...] = ()
    time_anchors: frozenset[str] = frozenset()
    other_words: frozenset[str] = frozenset()
    verb_senses: frozenset[str] = frozenset()
    derivations: tuple[tuple[str, str], ...] = ()
    unnamed_count: str = ""


@lru_cache(maxsize=4)
def load_vocabulary(path: Path = VOCABULARY_FILE) -> VocabularyData:
    """Read and check the vocabulary file; a malformed file is an error naming the file and the section."""
    raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    need = (
        "synonyms",
        "answer_types",
        "intents",
        "premise_words",
        "benefit_words",
        "yes_no_openers",
        "stop_words",
        "sequence_words",
    )
    missing = [k for k in need if k not in (raw or {})]
    if missing:
        raise ValueError(f"{path}: missing section(s) {', '.join(missing)}")

    def words(items: Iterable[Any]) -> tuple[str, ...]:
        return tuple(str(w).lower().strip() for w in items)

    return VocabularyData(
        synonyms=tuple(words(group) for group in raw["synonyms"]),
        answer_types={str(k).lower(): tuple(map(str, v)) for k, v in raw["answer_types"].items()},
        intents={str(k): words(v) for k, v in raw["intents"].items()},
        premise_words=frozenset(words(raw["premise_words"])),
        benefit_words=words(raw["benefit_words"]),
        yes_no_openers=frozenset(words(raw["yes_no_openers"])),
        stop_words=frozenset(words(raw["stop_words"])),
        sequence_words=frozenset(words(raw["sequence_words"])),
        generic_answer_cues=frozenset(words(raw.get("generic_answer_cues") or ())),
        respellings={str(k).lower(): str(v) for k, v in (raw.get("respellings") or {}).items()},
        honorifics=frozenset(words(raw.get("honorifics") or ())),
        frame_words=frozenset(words(raw.get("frame_words") or ())),
        reporting_verbs=frozenset(words(raw.get("reporting_verbs") or ())),
        keep_words=frozenset(words(raw.get("keep_words") or ())),
        quantifier_premises=frozenset(words(raw.get("quantifier_premises") or ())),
        not_cues=words(raw.get("not_cues") or ()),
        not_cue_patterns=tuple(re.compile(p) for p in raw.get("not_cue_patterns") or ()),
        kind_words={str(k): words(v) for k, v in (raw.get("kind_words") or {}).items()},
        frame_patterns=tuple(re.compile(p) for p in raw.get("frame_patterns") or ()),
        time_anchors=frozenset(words(raw.get("time_anchors") or ())),
        other_words=frozenset(words(raw.get("other_words") or ())),
        verb_senses=frozenset(words(raw.get("verb_senses") or ())),
        unnamed_count=str(raw.get("unnamed_count") or "").lower().strip(),
        derivations=tuple((str(a).lower(), str(b).lower()) for a, b in raw.get("derivations") or ()),
        intent_patterns={
            str(k): tuple(re.compile(p) for p in v) for k, v in (raw.get("intent_patterns") or {}).items()
        },
    )


#: The share of typed words that are slips: a round rate we assume, not one measured here.
TYPO_RATE = 0.01


class Lexicon:
    """The vocabulary plus the documents' words: synonym expansion and spelling repair for query lemmas."""

    def __init__(
        self,
        data: VocabularyData,
        corpus_words: Iterable[str],
        dictionary: frozenset[str] | Any = frozenset(),
        names: Iterable[str] = (),
    ) -> None:
        """`names`: the words of the documents' aliases, known for spelling repair ("hstc") only."""
        self.data = data
        self.dictionary = dictionary
        self.corpus = frozenset(corpus_words)
        self.synonym_words = frozenset(w for group in data.synonyms for phrase in group for w in phrase.split())
        self.known = sorted(self.corpus | self.synonym_words | {w for w in names if w.isalpha()})
        self._known = frozenset(self.known)
        # Two-word phrases a slip can be mended into: the synonyms' and the question cues' ("how many").
        cues = [*data.answer_types, *(c for cs in data.intents.values() for c in cs)]
        self._phrases = frozenset(p for p in (*(p for g in data.synonyms for p in g), *cues) if p.count(" ") == 1)
        # A which/what cue matches with up to two words between ("which MS drugs" asks "which drug"), but not
        # across a verb ("what does the drug do?" asks what it does).
        self._cue_patterns = {
            cue: re.compile(
                rf"(?<!\S){first} (?:(?!(?:{_AUXILIARIES})\b)\S+ ){{0,2}}{re.escape(rest)}(?!\S)"
                if first in ("which", "what") and rest
                else rf"(?<!\S){re.escape(cue)}(?!\S)"
            )
            for cue in data.answer_types
            for first, _, rest in [cue.partition(" ")]
        }
        self._by_initial: dict[str, list[str]] = {}
        for w in self.known:
            self._by_initial.setdefault(w[0], []).append(w)

    @property
    def cue_words(self) -> frozenset[str]:
        """Every word the vocabulary file uses to read questions (cues, intents, frames, titles, stop words)."""
        d = self.data
        phrases = [*d.answer_types, *(c for cues in d.intents.values() for c in cues), *d.generic_answer_cues]
        return frozenset(w for p in phrases for w in p.split()) | d.frame_words | d.honorifics | d.stop_words

    @lru_cache(maxsize=8192)  # noqa: B019 - one lexicon per bot; the cache dies with it
    def correct(self, word: str) -> str:
        """A word from neither the documents nor the vocabulary, mended to its closest known word."""
        if word in self._known or len(word) < 4 or not word.isalpha():
            return word
        if word in self.dictionary:  # the dictionary holds common slips too ("pepole")
            return self._slip_of(word) or word
        # Two letters typed the wrong way round ("sied", "hstc"): the one known word that swaps them back.
        swapped = {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)} & self._known
        if len(swapped) == 1:
            return swapped.pop()
        if len(word) < 5:
            return word  # too short to mend any other way without guessing
        close = difflib.get_close_matches(word, self._by_initial.get(word[0], []), n=1, cutoff=0.8)
        if not close:
            return word
        # One edit from a word general English has, and more than one from the known word: a slip of that word
        # ("neurolgist" of "neurologist", not of the documents' "neurologic"), mended to it. A word one edit from
        # a form of the known word ("efects": "effects", and also "defects") still mends to the known word.
        edits = self._edits(word)
        near = edits & self.dictionary
        if close[0] in edits or not near or any(w.startswith(close[0]) or close[0].startswith(w) for w in near):
            return close[0]
        return max(near, key=zipf)

    @staticmethod
    def _edits(word: str) -> set[str]:
        """Every string one deletion, swap, substitution or insertion away from `word`."""
        letters = "abcdefghijklmnopqrstuvwxyz"
        splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
        edits = {a + b[1:] for a, b in splits if b}
        edits |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        edits |= {a + c + b[1:] for a, b in splits if b for c in letters}
        return edits | {a + c + b for a, b in splits for c in letters}

    def _slip_of(self, word: str) -> str | None:
        """The known word a dictionary word is a slip of: one edit away, and so much commoner in general English
        that the word is likelier a slip of it than meant."""
        if len(word) < 4:
            return None
        edits = self._edits(word)
        neighbours = sorted(edits & self._known)
        if not neighbours:
            return None
        # A noisy channel: a slip is one of the `edits` strings, each about TYPO_RATE / len(edits) likely. The word
        # is likelier a slip of its neighbour when general English uses the neighbour more often than the word by
        # more than that ratio ("pepole" for "people"; "hand" is not a slip of "and", nor "trail" of "trial").
        best = max(neighbours, key=zipf)
        return best if zipf(best) - zipf(word) > math.log10(len(edits) / TYPO_RATE) else None

    def misspelt(self, word: str) -> bool:
        """A word no dictionary knows, one edit from one it does ("actualy"), or a dictionary word that is a slip
        of a known one ("pepole"): a slip, not a name."""
        word = word.lower()
        if not word.isalpha() or word in self._known:
            return False
        if word in self.dictionary:
            return self._slip_of(word) is not None
        return bool(self._edits(word) & self.dictionary)

    def correct_in_context(self, word: str, before: str, after: str) -> str:
        """`correct`, and for a word it cannot mend alone, the one known word a single edit away that makes a
        phrase of the vocabulary with a neighbour ("sife effects" -> "side effects")."""
        fixed = self.correct(word)
        # A dictionary word is mended here too: spaCy's word list holds common slips ("cel"), and a neighbour that
        # makes a phrase with the mended word ("stem cell", "how many") is evidence enough.
        if fixed != word or word in self._known or len(word) < 3 or not word.isalpha():
            return fixed
        neighbours = {n for n in (before, after, after[:-1] if after.endswith("s") else after) if n}
        fits = set()
        # A plural slip ("side affects") is mended on its singular, and keeps its "s".
        for stem, ending in ((word, ""), (word[:-1], "s")) if word.endswith("s") else ((word, ""),):
            fits |= {
                e + ending
                for e in self._edits(stem) & self._known
                if any(f"{before} {e}" == p or f"{e} {n}" == p for p in self._phrases for n in neighbours)
            }
        return fits.pop() if len(fits) == 1 else word

    def expand(self, text: str) -> dict[str, set[str]]:
        """For each word of a vocabulary phrase found in `text` (lemmas): the one-word members of its groups
        (a word of a longer phrase is not a synonym: "year" of "year old" does not mean "old")."""
        out: dict[str, set[str]] = {}
        for group in self.data.synonyms:
            hits = [p for p in group if phrase_in(p, text)]
            if hits:
                words = {p for p in group if " " not in p}
                for p in hits:
                    for w in p.split():
                        out.setdefault(w, set()).update(words)
        return out

    @lru_cache(maxsize=4096)  # noqa: B019 - one lexicon per bot; the cache dies with it
    def derived(self, word: str) -> frozenset[str]:
        """The documents' words that are `word` with a derivational ending swapped ("treat" ~ "treatment",
        "eligible" ~ "eligibility"), for a word no document uses; lemmas do not join a verb and its noun."""
        if word in self.corpus or not word.isalpha():
            return frozenset()
        found = set()
        for base, noun in self.data.derivations:
            for a, b in ((base, noun), (noun, base)):
                stem = word[: len(word) - len(a)] if word.endswith(a) else ""
                if len(stem) >= 4 and stem + b in self.corpus:
                    found.add(stem + b)
        return frozenset(found - {word})

    def phrases(self, text: str) -> dict[str, set[str]]:
        """Multi-word vocabulary phrases found in `text` ("take part"), each with its groups' one-word members."""
        out: dict[str, set[str]] = {}
        for group in self.data.synonyms:
            for p in group:
                if " " in p and phrase_in(p, text):
                    out.setdefault(p, set()).update(w for w in group if " " not in w)
        return out

    def denied_by(self, word: str) -> frozenset[str]:
        """The documents' words that answer a claim by its opposite: the members of a vocabulary group holding
        "not <word>" ("not approved") that the documents use ("experimental" answers "is it approved?")."""
        groups = [g for g in self.data.synonyms if f"not {word}" in g]
        return frozenset(w for g in groups for w in g if " " not in w and w in self.corpus)

    def frame(self, text: str) -> list[str]:
        """The words of `text` (lemmas) that only shape the question ("work" in "how does it work?")."""
        return [w for p in self.data.frame_patterns for m in p.finditer(text) for w in m.group("frame").split()]

    def unframed(self, text: str) -> str:
        """`text` without its frame words: what the question asks about."""
        for p in self.data.frame_patterns:
            text = p.sub(lambda m: m.string[m.start() : m.start("frame")] + m.string[m.end("frame") : m.end()], text)
        return " ".join(text.split())

    def lemmas(self, doc: Any, keep: frozenset[str] = frozenset()) -> list[str]:
        """spaCy's lemmas of the words of `doc`, except where the lemmatiser strays from a word of the vocabulary's
        synonyms ("data" -> "datum", "better" -> "well") or of `keep`. Questions and documents both go through
        here, so both sides meet on the same words."""
        synonyms = self.synonym_words
        out = []
        for t in doc:
            if t.is_space or t.is_punct:
                continue
            w, s = t.lemma_.lower(), t.lower_
            strays = (s in synonyms and w not in synonyms) or (s in keep and w not in keep)
            out.append(s if strays else w)
        return out

    def intents(self, text: str) -> frozenset[str]:
        """The intents cued by the question's words (its frame words aside) and by its shape."""
        content = self.unframed(text)
        cued = {k for k, cues in self.data.intents.items() if any(phrase_in(c, content) for c in cues)}
        shaped = {k for k, pats in self.data.intent_patterns.items() if any(p.search(text) for p in pats)}
        return frozenset(cued | shaped)

    @lru_cache(maxsize=1024)  # noqa: B019 - one lexicon per bot; asked for the same question by every label reader
    def answer_cues(self, text: str) -> tuple[str, ...]:
        """The answer-type cues in a question."""
        for phrase in self.data.not_cues:  # "high-dose therapy" names a treatment, it does not ask for a dose
            text = f" {text} ".replace(f" {phrase} ", " ").strip()
        for pattern in self.data.not_cue_patterns:  # "where do they come from?" asks for a source, not a place
            text = pattern.sub(" ", text)
        return tuple(cue for cue, pattern in self._cue_patterns.items() if pattern.search(text))

    def topic_cues(self, text: str) -> frozenset[str]:
        """The cues of a question that name a topic rather than a question word ("medication", "insurance"):
        a yes/no question about one ("had they tried medication?") is answered by a sentence that mentions it,
        a which-question only by one that names an instance."""
        return frozenset(c for c in self.answer_cues(text) if not set(c.split()) & QUESTION_WORDS)

    def specific_labels(self, text: str) -> frozenset[str]:
        """The entity kinds asked for by a specific cue ("which drug", "cost"), not a generic one ("how much")."""
        matched = [c for c in self.answer_cues(text) if c not in self.data.generic_answer_cues]
        return frozenset(label for cue in matched for label in self.data.answer_types[cue])

    def answer_labels(self, text: str) -> frozenset[str]:
        """The entity kinds an answer must contain; specific cues ("cost") win over generic ones ("how much")."""
        return frozenset(label for cue in self._deciding_cues(text) for label in self.data.answer_types[cue])

    def preferred_labels(self, text: str) -> frozenset[str]:
        """The kind each deciding cue lists first: what answers best ("who": a person before an organisation,
        "success rate": a percentage before any number)."""
        return frozenset(self.data.answer_types[cue][0] for cue in self._deciding_cues(text))

    def _deciding_cues(self, text: str) -> tuple[str, ...]:
        matched = self.answer_cues(text)
        specific = tuple(c for c in matched if c not in self.data.generic_answer_cues)
        return specific or matched


def lemma_text(lemmas: Sequence[str]) -> str:
    return " ".join(lemmas)


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@lru_cache(maxsize=1)
def _benefit_pattern() -> re.Pattern[str]:
    words = sorted(load_vocabulary().benefit_words, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(w).replace(r"\ ", r"\w*\s+") + r"\w*" for w in words) + r")", re.I)


def mentions_benefit(text: str) -> bool:
    """Plain-text check that a text states a benefit (the vocabulary's benefit words, any inflection)."""
    return bool(_benefit_pattern().search(text))
