"""The knowledge documents analysed once at start-up: every sentence's lemmas, entities and numbers, the
aliases people use for each document's subject, and each document's caveats tied to their verbatim sentences."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.corpus.documents import Document, Passage
from bot.corpus.nlp import english_words
from bot.corpus.numbers import numbers
from bot.corpus.vocabulary import Lexicon, VocabularyData, lemma_text, mentions_benefit, phrase_in

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

_ACRONYM = re.compile(r"\(([A-Z][A-Za-z]*(?:/[A-Z][A-Za-z]*)*)\)")
Key = tuple[str, int]


def lemmas_of(doc: Doc) -> list[str]:
    return [t.lemma_.lower() for t in doc if not t.is_space and not t.is_punct]


# spaCy calls both "in 2017" and "5 years" a DATE; "what year" wants the first, "how long" the second.
_DURATION = re.compile(r"\b(second|minute|hour|day|week|month|year|decade)s?\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(1[89]|20)\d\d\b")


def _long_form(short: str, before: str) -> str:
    """The words before "(SHORT)" that SHORT abbreviates, or "": each of its letters, last first, is found in
    order in the words before it, and its first letter starts a word (Schwartz and Hearst, PSB 2003)."""
    words = before.split()[-min(len(short) + 5, 2 * len(short)) :]
    text = " ".join(words)
    i = len(text) - 1
    for k in range(len(short) - 1, -1, -1):
        c = short[k].lower()
        if not c.isalnum():
            continue
        while i >= 0 and (text[i].lower() != c or (k == 0 and i > 0 and text[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return ""
        i -= 1
    start = text.rfind(" ", 0, i + 1) + 1
    return text[start:] if len(text[start:].split()) > 1 else ""


def _abbreviations(sentences: Iterable[str]) -> tuple[dict[str, str], frozenset[str]]:
    """What the documents spell their abbreviations out as ("chronic obstructive pulmonary disease (COPD)"), and
    which abbreviations follow a lower-case phrase: names of things, not of organisations or people, whatever the
    entity recogniser says ("... Institute of Health (XYZ)" stays a name)."""
    found: dict[str, str] = {}
    terms: set[str] = set()
    for s in sentences:
        for m in _ACRONYM.finditer(s):
            before = s[: m.start()]
            words = before.split()
            if words and words[-1][:1].islower():
                terms.add(m.group(1))
            long = _long_form(m.group(1), before)
            if long:
                found.setdefault(m.group(1), long)
    return found, frozenset(terms)


def _instances(long_forms: dict[str, str], lexicon: Lexicon) -> dict[str, frozenset[str]]:
    """What each term abbreviation (to its lemmatised long form) is a kind of, by its last words: "chronic
    obstructive pulmonary disease (COPD)" is a kind of "pulmonary disease", of "disease" and of what the vocabulary
    calls those. Each head maps to what names a kind of it: the abbreviation, and its long form's first words
    ("chronic obstructive"). "What type of X?" is answered by a sentence that names one."""
    out: dict[str, frozenset[str]] = {}
    for short, long in long_forms.items():
        words = long.split()
        if len(words) < 2:
            continue
        head = " ".join(words[-2:])
        heads = {words[-1], head} | lexicon.expand(head).get(words[-1], set())
        kind = {short.lower(), " ".join(words[:-2])} if len(words) > 2 else {short.lower()}
        for h in heads:
            out[h] = out.get(h, frozenset()) | kind
    return out


TIME_LABELS = frozenset({"DATE", "DURATION", "TIME"})  # a date or a length of time


def _timed(
    doc: Doc,
    ents: Sequence[tuple[int, int, str]],
    lexicon: Lexicon,
    names: Iterable[tuple[str, re.Pattern[str]]] = (),
) -> tuple[tuple[str, frozenset[str]], ...]:
    """Each date or length of time in the sentence with the lemmas (and their vocabulary groups' words) of the
    clause it stands in, the text between the commas around it. A name of the documents' subject in the clause
    ("... those in the XYZ trial were given ...") says which study, not what was timed: its words are left
    out."""
    lowered = doc.text.lower()
    named = [(m.start(), m.end()) for _, pattern in names for m in pattern.finditer(lowered)]
    out = []
    for start, end, label in ents:
        if label not in TIME_LABELS:
            continue
        left = max(doc.text.rfind(c, 0, start) for c in ",;:")
        right = min((i for i in (doc.text.find(c, end) for c in ",;:") if i >= 0), default=len(doc.text))
        inside = [t for t in doc if left < t.idx < right and t.is_alpha]
        inside = [t for t in inside if not any(a <= t.idx < b for a, b in named)]
        lemmas = lexicon.lemmas(inside)  # as the sentence's own
        # A word with a verb sense ("work") is matched from the question's side, which knows how it is used.
        senses = lexicon.data.verb_senses
        words = set(lemmas) | {w for ws in lexicon.expand(" ".join(lemmas)).values() for w in ws if w not in senses}
        out.append((label, frozenset(words)))
    return tuple(out)


def alias_words(aliases: dict[str, tuple[str, frozenset[str]]]) -> set[str]:
    """The words of aliases and of the terms they stand for ("stem cell transplant" -> stem, cell, ...)."""
    return {w for alias, (term, _) in aliases.items() for w in (*re.split(r"[\s/-]+", alias), term) if w}


def _kind(ent: Any) -> str:
    """The entity's label, with a DATE that is a length of time ("3 months", "18 to 40 years") as DURATION."""
    if ent.label_ == "DATE" and _DURATION.search(ent.text) and not _YEAR.search(ent.text):
        return "DURATION"
    return str(ent.label_)


PLACES = frozenset({"GPE", "LOC", "FAC"})
#: The most words between a person's name and the organisation of their post ("Ann Lee, MD, PhD, head of").
_POST_WORDS = 8


def _affiliation(ent: Any) -> bool:
    """An organisation named as a person's post ("Ann Lee, PhD, head of the X Institute", "Bo Li of X"): it
    says who the person is, not where anything was done. No verb stands between the name and the organisation,
    and a preposition ends the post."""
    if ent.label_ != "ORG":
        return False
    before = [e for e in ent.doc.ents if e.label_ == "PERSON" and e.end <= ent.start]
    if not before:
        return False
    post = ent.doc[before[-1].end : ent.start]
    return (
        0 < len(post) <= _POST_WORDS
        and post[-1].pos_ == "ADP"
        and not any(t.pos_ in ("VERB", "AUX") or t.text in ".;:" for t in post)
    )


def _not_places(
    texts: Sequence[tuple[Passage, int, str]], docs: Sequence[Any], titles: frozenset[str]
) -> set[tuple[str, str]]:
    """(document, text) of what spaCy tags a place in some of a document's sentences and leaves untagged where
    the same word stands elsewhere in it ("MS" of a disease, read as a state's abbreviation), and of degrees and
    titles after a name ("MD"): a real place is a place wherever it is written. Each document is read on its own,
    so adding one never changes another's entities."""
    tagged: dict[tuple[str, str], int] = {}
    for (p, _, _), d in zip(texts, docs, strict=True):
        for e in d.ents:
            if e.label_ in PLACES:
                tagged[(p.doc_id, e.text)] = tagged.get((p.doc_id, e.text), 0) + 1
    out = set()
    for (doc_id, text), n in tagged.items():
        pattern = re.compile(r"(?<![\w-])" + re.escape(text) + r"(?![\w-])")
        written = sum(len(pattern.findall(s)) for p, _, s in texts if p.doc_id == doc_id)
        if written > n or text.lower().rstrip(".") in titles:
            out.add((doc_id, text))
    return out


def _quantity(token: Any) -> bool:
    """A number that counts or measures something: not a list's enumerator ("1) loss of ...", "2. relapse"), nor
    "one" after a determiner ("any one of", "no one", "this one")."""
    following = token.doc[token.i + 1].text if token.i + 1 < len(token.doc) else ""
    before = token.doc[token.i - 1] if token.i > 0 else None
    if token.lower_ == "one" and before is not None and before.tag_ == "DT":
        return False
    return bool(token.like_num) and not (token.text.isdigit() and len(token.text) <= 2 and following in (")", "."))


def _counted(doc: Any, quantities: Sequence[Any]) -> frozenset[str]:
    """What a sentence's numbers count: the words right after each ("N volunteers"). A share ("N% had ...",
    "N percent of patients") counts what it is a share of: the noun after "of", else the plural nouns the
    sentence names before it ("... patients ... N% had recovered")."""
    out: set[str] = set()
    for t in quantities:
        after = doc[t.i + 1 : t.i + 3]
        out |= {w.lemma_.lower() for w in after}
        if not after or after[0].lower_ not in ("%", "percent", "per"):
            continue
        rest = [w for w in doc[after[0].i + 1 : after[0].i + 5] if w.lower_ != "cent"]
        if rest and rest[0].lower_ == "of":
            out |= {w.lemma_.lower() for w in rest[1:] if w.pos_ in ("NOUN", "PROPN")}
        else:
            out |= {w.lemma_.lower() for w in doc[: t.i] if w.tag_ == "NNS"}
    return frozenset(out)


def _plain(number: float) -> str:
    """A number as the documents' words are written: 45.0 -> "45", 2.5 -> "2.5"."""
    return str(int(number)) if number.is_integer() else str(number)


_QUOTE = re.compile(r"[“”\"]")
_RANGE = re.compile(r"(?<![\d.,])(\d+(?:\.\d+)?)\s*(?:to|-|\u2013|\u2014)\s*(\d+(?:\.\d+)?)(?![\d.,]*%)")


def _speakers(
    texts: Sequence[tuple[Passage, int, str]], docs: Sequence[Doc], verbs: frozenset[str]
) -> dict[str, list[str]]:
    """Each paragraph's quoted speaker: the words of a person named in a sentence with a reporting verb."""
    out: dict[str, list[str]] = {}
    for (p, _, _), d in zip(texts, docs, strict=True):
        if p.id in out or not any(t.lemma_.lower() in verbs for t in d):
            continue
        names = [t.lemma_.lower() for e in d.ents if e.label_ == "PERSON" for t in e if t.is_alpha]
        if names:
            out[p.id] = names
    return out


def _idf(facts: Sequence[SentenceFacts]) -> dict[str, float]:
    """Inverse document frequency of each term over these sentences: log(1 + n / sentences using it)."""
    n = max(len(facts), 1)
    df: dict[str, int] = {}
    for f in facts:
        for t in f.terms:
            df[t] = df.get(t, 0) + 1
    return {t: math.log(1 + n / c) for t, c in df.items()}


def content_terms(lemmas: Sequence[str], stop: frozenset[str], nlp_stop: frozenset[str]) -> list[str]:
    return [w for w in lemmas if w not in stop and w not in nlp_stop and any(c.isalnum() for c in w)]


@dataclass(frozen=True)
class SentenceFacts:
    """One sentence of one passage, analysed once."""

    passage: Passage
    index: int
    text: str
    lemma_text: str
    terms: frozenset[str]
    labels: frozenset[str]
    entities: tuple[tuple[int, int, str], ...]
    numbers: frozenset[str]
    defines: frozenset[str]
    sequence: bool
    benefit: bool
    counted: frozenset[str] = frozenset()
    # Each time-like entity (a date, a length of time) with the words of its clause (between commas): what it
    # dates or measures ("after 3 months of rest", "approved in 2019").
    timed: tuple[tuple[str, frozenset[str]], ...] = ()
    subject: str = ""  # "X" of a sentence that opens "X is ...": it says what X is

    @property
    def key(self) -> Key:
        return (self.passage.id, self.index)


@dataclass(frozen=True)
class Grounding:
    """A caveat of a document with the verbatim sentences it rests on."""

    doc_id: str
    id: str
    text: str
    evidence: tuple[tuple[Passage, str], ...]
    kind: str = "limitation"


class Library:
    """Documents, passages and sentences, analysed with one spaCy pipeline and the general vocabulary."""

    def __init__(self, documents: Sequence[Document], nlp: Language, vocabulary: VocabularyData) -> None:
        self.documents = {d.doc_id: d for d in documents}
        self.passages = [p for d in documents for p in d.passages]
        self.by_passage = {p.id: p for p in self.passages}
        self.stop = vocabulary.stop_words
        self.nlp_stop = frozenset(w.lower() for w in nlp.Defaults.stop_words) - vocabulary.keep_words
        texts = [(p, i, s) for p in self.passages for i, s in enumerate(p.sentences)]
        # The documents' sentences need lemmas and entities only, not the safety layer's pipes.
        extra = [name for name in nlp.pipe_names if name.startswith("medspacy")]
        docs = list(nlp.pipe([s for _, _, s in texts], disable=extra))
        words: set[str] = set()
        self.doc_words: dict[str, set[str]] = {doc_id: set() for doc_id in self.documents}
        for (p, _, _), d in zip(texts, docs, strict=True):
            own = {t.lower_ for t in d if t.is_alpha} | set(lemmas_of(d))
            words |= own
            self.doc_words[p.doc_id] |= own
        # Aliases: what a patient may type (lower case) -> the document's own term, and the documents using it.
        self.aliases: dict[str, tuple[str, frozenset[str]]] = {}
        owners: dict[str, set[str]] = {}
        for document in documents:
            for term, others in document.meta.aliases.items():
                for name in (term, *others):
                    owners.setdefault(name.lower(), set()).add(document.doc_id)
                    self.aliases.setdefault(name.lower(), (term.lower(), frozenset()))
        self.aliases = {k: (v[0], frozenset(owners[k])) for k, v in self.aliases.items()}
        # Each alias as a pattern over lower-case text, longest first, compiled once: "stem cell transplantation"
        # before "stem cell transplant". A plural is the same name ("stem cell transplants").
        self.alias_patterns = [
            (alias, re.compile(r"(?<![\w-])" + re.escape(alias) + r"(?:e?s)?(?![\w-])"))
            for alias in sorted(self.aliases, key=len, reverse=True)
        ]
        self.lexicon = Lexicon(vocabulary, words, english_words(), alias_words(self.aliases))
        # The abbreviations the documents use ("XYZ"): a patient may type them in lower case.
        self.acronyms = frozenset(t.lower_ for d in docs for t in d if t.is_upper and t.is_alpha and len(t) > 1)
        # The people the documents name: a patient asking what they said is not sharing anyone's identity.
        self.public_names = frozenset(
            t.lower_ for d in docs for e in d.ents if e.label_ == "PERSON" for t in e if t.is_alpha
        )
        speakers = _speakers(texts, docs, vocabulary.reporting_verbs)
        spelled_out, terms_abbreviated = _abbreviations(s for _, _, s in texts)
        # A sentence using an abbreviation is also found by what it stands for ("COPD" by "pulmonary disease"),
        # except the documents' subjects: their names are everywhere and say which document, not which fact.
        subjects = {term for term, _ in self.aliases.values()}
        long_forms = {
            short: lemma_text(self.lexicon.lemmas(nlp(long, disable=extra))) for short, long in spelled_out.items()
        }
        spelled = {short: long for short, long in long_forms.items() if short.lower() not in subjects}
        # ... and the long forms as written ("chronic obstructive pulmonary disease"), for embedding questions.
        self.spelled_out = {short: spelled_out[short] for short in spelled}
        self.instances = _instances(
            {short: long for short, long in long_forms.items() if short in terms_abbreviated}, self.lexicon
        )
        not_places = _not_places(texts, docs, vocabulary.honorifics)
        self.sentences: dict[Key, SentenceFacts] = {}
        own_words: set[str] = set()
        for (p, i, s), d in zip(texts, docs, strict=True):
            lemmas = self.lexicon.lemmas(d)
            tokens = {t.text for t in d}
            lemmas += [w for short, long in spelled.items() if short in tokens for w in long.split()]
            joined = lemma_text(lemmas)
            # A quotation that names nobody is its paragraph's speaker's words: it is found by their name too.
            lemmas += (
                speakers.get(p.id, []) if _QUOTE.search(s) and not any(e.label_ == "PERSON" for e in d.ents) else []
            )
            # "RRMS" is tagged an organisation; an abbreviation the documents spell out in lower case is a term.
            ents = [
                (e.start_char, e.end_char, "AFFILIATION" if _affiliation(e) else _kind(e))
                for e in d.ents
                if e.text not in terms_abbreviated and (p.doc_id, e.text) not in not_places
            ]
            quantities = [t for t in d if _quantity(t)]
            labels = {k for _, _, k in ents} | ({"NUMBER"} if quantities else set())
            labels |= {kind for kind, ws in vocabulary.kind_words.items() if any(phrase_in(w, joined) for w in ws)}
            content = frozenset(content_terms(lemmas, self.stop, self.nlp_stop))
            own_words |= content
            self.sentences[(p.id, i)] = SentenceFacts(
                passage=p,
                index=i,
                text=s,
                lemma_text=joined,
                # A phrase of the vocabulary in the sentence ("adverse event") also stands for its group's words
                # ("complication"), as a question's phrase does: both sides meet on the same words.
                terms=content | {w for p, ws in self.lexicon.phrases(joined).items() for w in ws},
                labels=frozenset(labels),
                entities=tuple(ents) + tuple((t.idx, t.idx + len(t.text), "NUMBER") for t in quantities),
                numbers=frozenset(numbers(s)),
                defines=frozenset(a.lower() for a in _ACRONYM.findall(s)),
                sequence=any(t.lower_ in vocabulary.sequence_words for t in d),
                benefit=mentions_benefit(s),  # the same test the evaluation applies to answers
                subject=lemmas[0] if len(lemmas) > 1 and lemmas[1] == "be" else "",
                timed=_timed(d, ents, self.lexicon, self.alias_patterns),
                counted=_counted(d, quantities),
            )
        # The documents' own words, without what the vocabulary adds: what makes a message about them.
        self.words = frozenset(own_words)
        self.numbers = frozenset(n for f in self.sentences.values() for n in f.numbers)
        # The ranges the documents state ("aged 30 to 45"): a number inside one is stated by it ("anyone 40?").
        self.ranges = tuple(
            (float(low), float(high))
            for f in self.sentences.values()
            for low, high in _RANGE.findall(f.text)
            if float(low) < float(high)
        )
        by_doc: dict[str, list[SentenceFacts]] = {doc_id: [] for doc_id in self.documents}
        for f in self.sentences.values():
            by_doc[f.passage.doc_id].append(f)
        self.idf = _idf(list(self.sentences.values()))
        self.unknown_weight = math.log(1 + max(len(self.sentences), 1))
        # Each document's own word weights: its sentences are scored the same whatever else is loaded.
        self.doc_idf = {doc_id: _idf(facts) for doc_id, facts in by_doc.items()}
        self.passage_terms = {
            p.id: frozenset().union(*(self.sentences[(p.id, i)].terms for i in range(len(p.sentences))))
            for p in self.passages
        }
        self.caveats: dict[str, tuple[Grounding, ...]] = {
            document.doc_id: tuple(
                Grounding(
                    document.doc_id,
                    c.id,
                    c.text,
                    tuple(s for e in c.evidence for s in document.evidence_sentences(e)),
                    c.kind,
                )
                for c in document.meta.caveats
            )
            for document in documents
        }
        # The sentences that state harms (deaths, adverse events): what a question about risks is answered with.
        self.risk_keys: dict[Key, str] = {
            (p.id, p.sentences.index(s)): g.doc_id
            for gs in self.caveats.values()
            for g in gs
            if g.kind == "harm"
            for p, s in g.evidence
        }

    def states(self, number: str) -> bool:
        """Does a document state this number (canonical), itself or inside a range it gives ("30 to 45")?"""
        return number in self.numbers or bool(self.range_ends(float(number)))

    def range_ends(self, value: float) -> set[str]:
        """The ends, as words, of the ranges the documents give that hold `value` ("30 to 45" for 40)."""
        return {_plain(end) for low, high in self.ranges if low <= value <= high for end in (low, high)}

    def quoted_in(self, text: str) -> list[Key]:
        """The documents' sentences that `text` quotes (an earlier answer), in the order it quotes them."""
        flat = " ".join(text.replace("**", "").split())  # an answer's bold marks the answering words
        found = [(flat.find(" ".join(f.text.split())), key) for key, f in self.sentences.items()]
        return [key for at, key in sorted(found) if at >= 0]

    def after(self, key: Key, n: int) -> list[SentenceFacts]:
        """The `n` sentences that follow `key` in its document, across paragraphs, in the document's order."""
        keys = list(self.sentences)
        doc_id = self.sentences[key].passage.doc_id
        following = keys[keys.index(key) + 1 :]
        return [self.sentences[k] for k in following if self.sentences[k].passage.doc_id == doc_id][:n]

    def document_of(self, passage: Passage) -> Document:
        return self.documents[passage.doc_id]

    def suggestions(self) -> tuple[str, ...]:
        return tuple(q for d in self.documents.values() for q in d.meta.suggested_questions)

    def app_title(self) -> str:
        titles = [d.meta.app_title for d in self.documents.values() if d.meta.app_title]
        return titles[0] if titles else "Article helper"

    def subject(self) -> str:
        # A headline often states a benefit ("New Drug Works for Most Patients"): never use it as the subject.
        subjects = [d.meta.subject or d.name for d in self.documents.values() if d.meta.subject or d.meta.name]
        return "; ".join(subjects) if subjects else "the documents in the knowledge folder"
