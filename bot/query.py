"""A message analysed once: clean text, lemmas, terms, the answer type and intents asked for, numbers, the
aliases it uses, follow-up context, and its vectors. Safety and answering both read it; nothing re-tokenises."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import takewhile
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.corpus.documents import split_sentences
from bot.corpus.library import Library, alias_words, content_terms
from bot.corpus.numbers import numbers
from bot.corpus.vocabulary import Lexicon, lemma_text, phrase_in
from bot.safety.text import clean_text
from bot.safety.triage import FIRST_PERSON

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from spacy.language import Language

# A follow-up leans on what came before: an elliptical opener or a pronoun, and few words of its own.
_OPENERS = frozenset({"and", "also", "but", "so", "then", "what about", "how about"})
_PRONOUNS = frozenset(
    {"they", "them", "their", "it", "its", "this", "that", "those", "these", "he", "she", "his", "her"}
)
# Entity kinds that name something in the world; a question naming one no document names asks about it.
NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "PRODUCT", "EVENT", "LAW"})
# Question words (Penn tags), and those that also open a clause ("what happened when ...").
_WH_TAGS = frozenset({"WDT", "WP", "WP$", "WRB"})
_CLAUSE_OPENERS = frozenset({"when", "where", "who", "whom", "whose"})
# "What type of X ...?", "which form of X": the question asks for a kind of X (lemma text).
_KIND_OF = re.compile(r"\b(?:type|kind|form|sort) of (?:the |a |an )?(\S+)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# "What is the mortality rate at your clinic?": a question put to a treatment provider asks about that provider,
# which no document is; it is named back, as a place no document names is.
_PROVIDER = re.compile(
    r"\byour\s+(?:own\s+)?(?:clinic|hospital|centre|center|facility|unit|practice|programme|program|protocol|"
    r"waiting\s+lists?)\b",
    re.IGNORECASE,
)
MAX_QUESTIONS = 4  # a message asking more is read as one question
# A question asking what a term means ("what does X stand for?").
MEANING_CUES = ("stand for", "mean", "short for", "meaning")
# "my wife is scared of catching stuff - did the study mention infections?": a remark about the asker or their
# people, set off by a dash, before the question; a remark that itself asks ("what dose was used - high or
# low?") or names only a topic ("MS societies - why so anti?") stays part of the question.
_DASH_STORY = re.compile(r"^(?P<told>.+?)\s+[-\u2013\u2014]+\s+(?P<asked>[^-\u2013\u2014]+\?)\s*$")
_ASKING_START = re.compile(
    r"^\W*(?:who|whom|whose|when|where|what|which|how|why|is|are|was|were|do|does|did|can|could|will|would|"
    r"shall|should|may|might|must|has|have|had)\b",
    re.IGNORECASE,
)


def _told_before_dash(sentence: str) -> list[str]:
    """[remark, question] for a question sentence that opens with a personal remark set off by a dash; else
    [sentence]."""
    m = _DASH_STORY.match(sentence.strip())
    if not m or _ASKING_START.match(m["told"]) or not FIRST_PERSON.search(m["told"]) or m["told"].endswith("?"):
        return [sentence]
    return [m["told"] + ".", m["asked"]]


@dataclass(frozen=True)
class Query:
    """Everything later stages need to know about one message."""

    text: str
    language: str
    lemma_text: str
    terms: tuple[str, ...]
    expansions: dict[str, frozenset[str]]
    answer_labels: frozenset[str]
    preferred_labels: frozenset[str]  # the kind each cue lists first ("who": a person, then an organisation)
    specific_labels: frozenset[str]
    topic_words: frozenset[str]  # a yes/no question's topic cue and its synonyms: mentioning it answers
    intents: frozenset[str]
    numbers: frozenset[str]
    unstated_numbers: tuple[str, ...]
    premises: tuple[str, ...]
    claims: tuple[str, ...]  # the premises that are claims, not quantifiers
    denied: tuple[str, ...]  # the premises the documents answer by their opposite ("approved?" / "experimental")
    unstated_names: tuple[str, ...]
    unknown_nouns: tuple[str, ...]
    # The question's nouns the vocabulary does not know, each with its forms (word, lemma, mended): a document
    # that uses none of a noun's forms does not know what the question is about, whatever other documents use.
    noun_forms: tuple[frozenset[str], ...]
    name_docs: frozenset[str]  # the documents that use a name the question uses, when only some do
    yes_no: bool
    asks_meaning: bool  # "what does X stand for?": the answer spells X out
    previous: tuple[tuple[str, int], ...]  # for "then what?": the sentences the last answer quoted, in its order
    seen: frozenset[tuple[str, int]]  # for "what about the other ...?": the sentences the last answer quoted
    aliases: dict[str, tuple[str, frozenset[str]]]
    counted: frozenset[str]
    anchors: frozenset[str]  # words of a reference point in time ("after the transplant"), not what is measured
    initialisms: frozenset[str]
    instances: frozenset[str]  # "what type of X?": the documents' terms that name a kind of X (an answer names one)
    context: str
    context_terms: tuple[str, ...]
    vector: np.ndarray
    search_vector: np.ndarray
    sentence_vectors: np.ndarray
    doc: Any = field(repr=False, compare=False)  # the whole message, parsed (the safety layer reads it)

    @property
    def routed_docs(self) -> frozenset[str]:
        """Documents the question names by an alias ("in the XYZ trial") or a name ("according to Dr Smith") that
        only some documents use; empty: all."""
        owners = [docs for _, docs in self.aliases.values()]
        return frozenset().union(*owners, self.name_docs)

    @property
    def unstated(self) -> tuple[str, ...]:
        """What the question states that no document states: a premise word, a number, a name."""
        return (*self.premises, *self.unstated_numbers, *self.unstated_names)

    @property
    def unmet(self) -> tuple[str, ...]:
        """What the question states that no document states or answers: `unstated` without the claims the
        documents answer by their opposite."""
        return tuple(w for w in self.unstated if w not in self.denied)

    @property
    def unconfirmed(self) -> tuple[str, ...]:
        """What the documents would have to state for the question to be answered: a claim ("cure"), a number,
        a name. A quantifier ("everyone") is answered by what the documents do report."""
        return (*self.claims, *self.unstated_numbers, *self.unstated_names)

    @property
    def canonical_terms(self) -> frozenset[str]:
        return frozenset(term for term, _ in self.aliases.values())

    @property
    def asked(self) -> frozenset[str]:
        """Every form of what the question asks about: its words, their synonyms, the terms its names stand for
        and the abbreviations of its phrases."""
        words = {w for t in self.terms for w in (t, *self.expansions.get(t, ()))}
        return frozenset(words | self.canonical_terms | self.initialisms)


def _shape_lemmas(doc: Any, lemmas: Sequence[str], skip: frozenset[int]) -> list[str]:
    """The lemmas (one per word of `doc`) that give the question its shape: outside brackets, since a gloss
    restates what precedes it ("what is HSCT for MS (multiple sclerosis)?"), and outside the phrases in `skip`
    (token indices), such as a point in time ("... after these results?")."""
    words = (t for t in doc if not t.is_space)
    out, depth = [], 0
    for lemma in lemmas:
        for t in words:
            depth += (t.text == "(") - (t.text == ")")
            if not t.is_punct:
                break
        if depth <= 0 and t.i not in skip:
            out.append(lemma)
    return out


def _flat(text: str) -> str:
    """Lower case, hyphens and runs of space as one space: "Long-term  care" -> "long term care"."""
    return re.sub(r"[\s-]+", " ", text.lower())


def _phrasal_verbs(doc: Any, lexicon: Lexicon) -> frozenset[int]:
    """The token indices of verbs followed by a particle ("worked out", "come out at") that the vocabulary does
    not know as a phrase."""
    return frozenset(
        t.i
        for t in doc[:-1]
        if t.pos_ == "VERB"
        and doc[t.i + 1].tag_ == "RP"
        and not lexicon.phrases(f"{t.lemma_.lower()} {doc[t.i + 1].lower_}")
    )


def _subordinate_question_words(doc: Any) -> frozenset[int]:
    """The token indices of "when", "where", "who" ... that follow another question word in the same sentence
    and clause ("what happened when ...", "who ... where ..."), or a noun they describe ("periods where you feel
    well", "the year when ..."); "and" or "or" starts a new clause."""
    out = set()
    for sent in doc.sents:
        asked = False
        for t in sent:
            if t.pos_ == "CCONJ":
                asked = False
            elif t.tag_ in _WH_TAGS:
                after_noun = t.i > sent.start and doc[t.i - 1].pos_ in ("NOUN", "PROPN")
                if (asked or after_noun) and t.lower_ in _CLAUSE_OPENERS:
                    out.add(t.i)
                asked = True
    return frozenset(out)


def _subset_named(span: Any) -> list[Any]:
    """In "how many of <a group> are <X>?", the X: a noun right after the first verb when that verb is "be"."""
    verbs = [t for t in span if t.pos_ in ("AUX", "VERB")]
    if not verbs or verbs[0].lemma_ != "be":
        return []
    after = [t for t in span[verbs[0].i - span.start + 1 :] if t.pos_ not in ("DET", "ADJ", "NUM")][:1]
    return [t for t in after if t.pos_ in ("NOUN", "PROPN")]


class QueryAnalyzer:
    """Builds a Query: one spaCy pass (one more for the context, and for the whole of a message that tells a
    story before it asks) and one batched embedding call per message."""

    def __init__(self, nlp: Language, embeddings: Embeddings, library: Library) -> None:
        self.nlp = nlp
        self.embeddings = embeddings
        self.library = library
        self.lexicon = library.lexicon
        # Each document's name in words, as its front matter gives it ("the XYZ news release").
        named = {
            d: {w for w in re.findall(r"[a-z0-9]+", (doc.meta.name or "").lower()) if w not in nlp.Defaults.stop_words}
            for d, doc in library.documents.items()
        }
        # Words known whatever the documents say: the vocabulary's, the question cues', the aliases' names and the
        # documents' own names ("the release", "the article" say which document, not what is asked about).
        self._document_names: frozenset[str] = frozenset().union(*named.values())
        self._vocabulary_words = (frozenset(self.lexicon.known) - self.lexicon.corpus) | (
            self.lexicon.synonym_words | self.lexicon.cue_words | self._document_names
        )
        # The words of a document's name that no other document's name has ("release" of "the XYZ news release"):
        # a question using one asks about that document. One document needs no telling apart. Only a name the
        # front matter gives counts: a title's words ("remission") say what a document is about, not which it is.
        self._name_words = {
            d: frozenset(words.difference(*(other for e, other in named.items() if e != d)))
            for d, words in named.items()
            if len(named) > 1
        }
        # What a "how many" that names nothing counts ("how many died?"): the vocabulary's word and its synonyms.
        unnamed = self.lexicon.data.unnamed_count
        self._unnamed_count = frozenset({unnamed, *self.lexicon.expand(unnamed).get(unnamed, ())}) if unnamed else None
        # Each abbreviation the documents spell out, as a pattern, and its long form flattened (no case, no hyphens).
        self._abbreviation_forms = [
            (short, long, re.compile(rf"(?<![\w/]){re.escape(short.lower())}(?![\w/])"), _flat(long))
            for short, long in library.spelled_out.items()
        ]

    def _aliases(self, lower: str) -> dict[str, tuple[str, frozenset[str]]]:
        found: dict[str, tuple[str, frozenset[str]]] = {}
        taken = lower
        for alias, pattern in self.library.alias_patterns:
            if pattern.search(taken):
                found[alias] = self.library.aliases[alias]
                taken = pattern.sub(" ", taken)
        all_docs = frozenset(self.library.documents)
        # An alias every document uses routes nowhere: keep it for matching, drop it from routing.
        return {a: (t, d if d != all_docs else frozenset()) for a, (t, d) in found.items()}

    def _without_names(self, text: str, aliases: dict[str, tuple[str, frozenset[str]]]) -> str:
        lower = text.lower()
        for alias, pattern in self.library.alias_patterns:
            if alias in aliases:
                lower = pattern.sub(" ", lower)
        return re.sub(r"\s+", " ", lower).strip()

    def _beside_abbreviations(self, text: str) -> str:
        """The text to embed: an abbreviation the documents spell out gets its long form beside it, and a long
        form its abbreviation ("COPD" / "chronic obstructive pulmonary disease"), so a sentence using either is near."""
        flat = _flat(text)
        added = []
        for short, long, short_pattern, flat_long in self._abbreviation_forms:
            has_short = short_pattern.search(flat) is not None
            has_long = flat_long in flat
            if has_short != has_long:
                added.append(short if has_long else long)
        return f"{text} ({'; '.join(added)})" if added else text

    def _respell(self, text: str) -> str:
        """The text as the patient meant it: shorthand written out ("ppl"), misspellings mended ("volunters")."""
        spellings = self.lexicon.data.respellings

        parts = re.split(r"([A-Za-z0-9/]+)", text)  # words at odd places, what lies between at even ones
        words = [w.lower() for w in parts[1::2]]
        for i, word in enumerate(parts[1::2]):
            lower = word.lower()
            if lower in spellings:
                parts[2 * i + 1] = spellings[lower]
                continue
            before = words[i - 1] if i else ""
            after = words[i + 1] if i + 1 < len(words) else ""
            fixed = self.lexicon.correct_in_context(lower, before, after) if word.isalpha() else lower
            if fixed != lower:
                parts[2 * i + 1] = fixed.upper() if word.isupper() else fixed
        return "".join(parts)

    def _previous(self, history: Sequence[dict[str, str]]) -> tuple[tuple[str, int], ...]:
        """The documents' sentences the last answer quoted, in its order (for "then what?")."""
        answers = [m.get("content", "") for m in history if m.get("role") == "assistant" and m.get("content")]
        if not answers:
            return ()
        # The answer itself: an API client may send it back with its caveats ("> ...") and a "Sources:" list.
        body = answers[-1].split("\n\nSources:")[0]
        body = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith(">"))
        return tuple(self.library.quoted_in(body))

    @staticmethod
    def _sentences(text: str) -> tuple[list[str], list[str]]:
        """(the sentences that ask, the sentences that tell)."""
        # pysbd keeps "... a study called xyz. what did they find?" whole: a lower-case start still opens a sentence
        # after a word of two lower-case letters or more ("Dr. Smith" stays whole).
        parts = [q for p in split_sentences(text) for q in re.split(r"(?<=[a-z]{2}[.!])\s+(?=\w)", p)]
        parts = [q for p in parts for q in _told_before_dash(p)]
        asked = [p for p in parts if p.rstrip().endswith("?")]
        return asked, [p for p in parts if not p.rstrip().endswith("?")]

    @classmethod
    def _split_story(cls, text: str) -> tuple[str, str]:
        """(the question sentences, what the message tells besides) for a message that does both; else (text, "")."""
        if "?" not in text or len(text) < 40:
            return text, ""
        asked, told = cls._sentences(text)
        if not asked or not told:
            return text, ""
        return " ".join(asked), " ".join(told)

    @classmethod
    def questions(cls, text: str) -> tuple[tuple[str, ...], str]:
        """The questions a message asks when it asks several ("Is it from a donor? Where do the cells come
        from?"), each a question of its own, and what it tells besides; ((), "") for a single question. Two to
        MAX_QUESTIONS questions of three words or more each: "The ER? Really?" is one question said twice."""
        if text.count("?") < 2:
            return (), ""
        asked, told = cls._sentences(clean_text(text))
        if not 2 <= len(asked) <= MAX_QUESTIONS or any(len(re.findall(r"\w+", q)) < 3 for q in asked):
            return (), ""
        return tuple(q.strip() for q in asked), " ".join(told)

    def _terms(self, lemmas: list[str]) -> list[str]:
        honorifics = self.lexicon.data.honorifics
        words = content_terms(lemmas, self.library.stop, self.library.nlp_stop)
        return [self.lexicon.correct(w) for w in words if w.rstrip(".") not in honorifics]

    def _lemmas(self, doc: Any) -> list[str]:
        """Lemmas, except where the lemmatiser strays from a word the documents use ("rrms" -> "rrm") or from a
        word of the vocabulary's synonyms ("better" -> "well")."""
        return self.lexicon.lemmas(doc, keep=self.lexicon.corpus)

    def analyse(self, text: str, history: Sequence[dict[str, str]] = (), *, language: str = "en") -> Query:
        text = clean_text(text)  # idempotent: ChatBot.ask has cleaned already; fit and eval call this directly
        question, story = self._split_story(text)
        mended = self._respell(question)
        doc = self.nlp(mended)
        raw_lemmas = self._lemmas(doc)
        lemmas = [self.lexicon.correct(w) for w in raw_lemmas]
        joined = lemma_text(lemmas)
        # "work" in "how does it work?" shapes the question; it does not ask whether the treatment succeeds.
        framed = self.lexicon.frame(joined)
        content = self.lexicon.unframed(joined)
        terms = [t for t in self._terms(raw_lemmas) if t not in framed]
        aliases = self._aliases(mended.lower())
        # Words of a name for a document's subject ("the XYZ trial") or of a document's own name ("the release")
        # say which document, not which fact: they route retrieval and answer definitions, and stay out of the
        # words a sentence must cover.
        named = alias_words(aliases) | (set(terms) & self._document_names)
        asks_meaning = any(phrase_in(c, joined) for c in MEANING_CUES)
        # "What does X stand for?" asks about X: the cue's own words are not what to look for.
        cue_words = {w for c in MEANING_CUES for w in (c, *c.split())} if asks_meaning else set()
        terms = [t for t in terms if t not in cue_words] or terms
        if named and set(terms) - named:
            terms = [t for t in terms if t not in named]
        # A phrase of stop words ("take part") still means something: it becomes a term of its own. A name that
        # says which document does not break a phrase: "be in the XYZ study" is "be in the study".
        found = self.lexicon.phrases(content)
        if named:
            found |= self.lexicon.phrases(" ".join(w for w in content.split() if w not in named))
        phrases = {p: ws for p, ws in found.items() if not set(p.split()) <= set(terms) and not set(p.split()) <= named}
        terms += [p for p in phrases if p not in named and p not in cue_words]
        # What a message tells before it asks ("my husband has RRMS ... what did they find?") is context for the
        # question, as an earlier turn would be: its words count for less than the question's own.
        context = " ".join(c for c in (story, self._context(terms, lemmas, history)) if c)
        context_lemmas = self._lemmas(self.nlp(context)) if context else []  # one spaCy pass for the context too
        context_terms = self._terms(context_lemmas)
        if context:
            context_named = alias_words(self._aliases(context.lower()))
            context_terms = [t for t in context_terms if t not in context_named] or context_terms
        stated = frozenset(numbers(question))  # a number the patient tells about themselves is not a claim to check
        premise_words = self.lexicon.data.premise_words
        typed = [t.lower_ for t in doc if not t.is_space and not t.is_punct]  # the words as the patient wrote them
        # Each premise as typed (to name it back) and its lemma (the term it is matched as).
        premise_lemma = {
            s: w for w, s in zip(lemmas, typed, strict=True) if w in premise_words and w not in self.lexicon.corpus
        }
        premises = tuple(premise_lemma)
        # A claim the documents answer by its opposite ("approved?" where they say "experimental") is asked, not
        # assumed: it is answered with what they say, after naming the word they do not use.
        denied = {s: self.lexicon.denied_by(w) | self.lexicon.denied_by(s) for s, w in premise_lemma.items()}
        sentences = list(split_sentences(text)) if len(text) > 120 else []
        # The text is embedded with its misspellings mended ("peple" -> "people"): MiniLM reads typos poorly.
        # The search leaves out a name that only says which document ("in the XYZ study"), as the terms do.
        searched = self._without_names(mended, aliases) if named and set(terms) - named else mended
        search_text = self._beside_abbreviations(f"{context} {searched}" if context else searched)
        embedded = self._beside_abbreviations(mended)
        extra = [search_text] if search_text != embedded else []  # one more text in the batch only when it differs
        texts = [embedded, *extra, *sentences[:8]]
        vectors = np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32)
        own = np.vstack([vectors[:1], vectors[1 + len(extra) :]])
        grouped = self.lexicon.expand(content)
        if context:
            grouped_context = self.lexicon.expand(lemma_text(context_lemmas))
            grouped = {**grouped_context, **grouped}
        # A name a patient uses for a document's subject ("heart attack") stands for the document's own term ("MI").
        for alias, (term, _) in aliases.items():
            for word in alias.split():
                grouped.setdefault(word, set()).update({term, *term.replace("/", " ").split()})
        grouped.update(phrases)
        for term in dict.fromkeys(terms + context_terms):  # "what does it treat?" ~ "treatment"
            if derived := self.lexicon.derived(term):
                grouped.setdefault(term, set()).update(derived)
        # "Anyone in their 50s?" where a document gives "aged 30 to 55": a number no document states, inside a range
        # one gives, is met by the sentence that gives the range (its ends are that sentence's words).
        for term in terms:
            if _NUMBER.fullmatch(term) and term not in self.library.numbers:
                grouped.setdefault(term, set()).update(self.library.range_ends(float(term)))
        for s, opposite in denied.items():
            grouped.setdefault(premise_lemma[s], set()).update(opposite)  # the term is the lemma ("approve")
        # "Back to work" is a job, not a success: a word whose synonyms are its verb's has none as a noun.
        verb_senses = self.lexicon.data.verb_senses
        for t in doc:
            if t.lemma_.lower() in verb_senses and t.pos_ == "NOUN":
                grouped.pop(t.lemma_.lower(), None)
        # A verb with a particle is another verb ("work out" is not "work", "come out" not "come"): the bare verb's
        # synonyms and the intents it cues do not apply, unless the vocabulary knows the phrase ("come back").
        phrasal = _phrasal_verbs(doc, self.lexicon)
        for i in phrasal:
            grouped.pop(doc[i].lemma_.lower(), None)
        expansions = {t: frozenset(grouped.get(t, set()) - {t}) for t in dict.fromkeys(terms + context_terms)}
        # What the question asks is shaped outside a point in time: "after these results" asks nothing about results.
        anchored = self._anchored(doc)
        unshaping = frozenset(t.i for t in anchored) | phrasal
        intents = self.lexicon.intents(lemma_text(_shape_lemmas(doc, lemmas, unshaping)))
        if "definition" in intents and not asks_meaning and len(set(terms) - named) > 3:
            intents -= {"definition"}  # "what were the side effects of ..." asks for facts, not a definition
        if "definition" in intents and len(doc) > 2 and doc[2].pos_ == "PRON":
            intents -= {"definition"}  # "what were they like?" asks about someone, not what a term means
        if "definition" in intents and aliases and not asks_meaning:
            intents |= {"process"}  # "what is <a document's subject>?": what it is, told as its steps
        # What the last answer quoted: continued by a bare "then what?", left out by "what about the other ...?".
        continues = "next" in intents and len(set(terms)) <= 1
        excludes = bool(set(lemmas) & self.lexicon.data.other_words)
        quoted = self._previous(history) if continues or excludes else ()
        first = lemmas[0] if lemmas else ""
        # "What counted as X when they worked it out?": a question word after another one opens a clause, it asks
        # for nothing; the answer's kind is read without it.
        subordinate = _subordinate_question_words(doc)
        words = [t for t in doc if not t.is_space and not t.is_punct]
        cued = lemma_text([w for w, t in zip(lemmas, words, strict=True) if t.i not in subordinate])
        yes_no = first in self.lexicon.data.yes_no_openers or joined.endswith(("right", "correct", "true"))
        nouns = self._rare_nouns(doc, named)
        return Query(
            text=text,
            language=language,
            lemma_text=joined,
            terms=tuple(dict.fromkeys(terms)),
            expansions=expansions,
            answer_labels=self.lexicon.answer_labels(cued),
            preferred_labels=self.lexicon.preferred_labels(cued),
            specific_labels=self.lexicon.specific_labels(cued),
            topic_words=frozenset(w for c in self.lexicon.topic_cues(cued) if yes_no for w in (c, *grouped.get(c, ()))),
            intents=intents,
            numbers=stated,
            unstated_numbers=tuple(sorted(n for n in stated if not self.library.states(n))),
            premises=premises,
            claims=tuple(w for w in premises if w not in self.lexicon.data.quantifier_premises and not denied[w]),
            denied=tuple(w for w in premises if denied[w]),
            unstated_names=self._unstated_names(doc, named, grouped),
            unknown_nouns=tuple(n for n, forms in nouns if not forms & self.lexicon.corpus),
            noun_forms=tuple(forms for _, forms in nouns),
            name_docs=self._name_docs(doc),
            yes_no=yes_no,
            asks_meaning=asks_meaning,
            # Only a bare "then what?" continues; "and then how old were they?" asks a question of its own.
            previous=quoted if continues else (),
            seen=frozenset(quoted) if excludes else frozenset(),
            aliases=aliases,
            counted=self._counted(doc, grouped),
            anchors=frozenset(t.lemma_.lower() for t in anchored if not t.is_stop),
            initialisms=self._initialisms(doc),
            instances=frozenset(
                t for m in _KIND_OF.finditer(joined) for t in self.library.instances.get(m.group(1), ())
            ),
            context=context,
            context_terms=tuple(dict.fromkeys(context_terms)),
            vector=vectors[0],
            search_vector=vectors[1] if extra else vectors[0],
            sentence_vectors=own,
            # The safety layer reads the whole message, story and all ("my husband ... what are his chances?").
            doc=self.nlp(self._respell(text)) if story else doc,
        )

    def _unstated_names(self, doc: Any, named: set[str], grouped: dict[str, set[str]]) -> tuple[str, ...]:
        """Places, organisations, people and products the question names and no document does ("in Mexico").
        An acronym counts only when the vocabulary knows its spelled-out forms and no document uses any of them
        ("UK"); otherwise a document may spell out what a patient abbreviates."""
        corpus = self.lexicon.corpus

        def stated(form: str) -> bool:
            return all(w in corpus for w in form.split())

        out = []
        for ent in doc.ents:
            if ent.label_ not in NAME_LABELS:
                continue
            words = [
                t
                for t in ent
                if t.is_alpha
                and not t.is_stop
                and t.lower_ not in self.lexicon.data.honorifics
                and not self.lexicon.misspelt(t.lower_)
            ]
            unknown = []
            for t in words:
                if t.is_upper and len(t) <= 5:
                    forms = grouped.get(t.lower_, set())
                    unknown.append(bool(forms) and not any(stated(f) for f in (t.lower_, *forms)))
                else:
                    w = self.lexicon.correct(t.lower_)
                    unknown.append(w not in corpus and w not in named)
            if any(unknown):
                out.append(ent.text)
        out += [m.group(0).lower() for m in _PROVIDER.finditer(doc.text)]  # "your clinic": no document is one
        return tuple(dict.fromkeys(out))

    def _name_docs(self, doc: Any) -> frozenset[str]:
        """The documents that use every word of a name in the question (a person, an organisation ...), when
        only some documents do: a question naming who said something is answered from where they said it. And
        the documents the question calls by their own name ("what did the release say ...?")."""
        honorifics = self.lexicon.data.honorifics
        found: set[str] = set()
        for ent in doc.ents:
            words = {t.lower_ for t in ent if t.is_alpha and not t.is_stop and t.lower_.rstrip(".") not in honorifics}
            owners = {d for d, known in self.library.doc_words.items() if words and words <= known}
            if owners and len(owners) < len(self.library.doc_words):
                found |= owners
        if self._name_words:  # only when several documents are loaded
            typed = {t.lower_ for t in doc}
            found |= {d for d, words in self._name_words.items() if words & typed}
        return frozenset(found)

    def _rare_nouns(self, doc: Any, named: set[str]) -> list[tuple[str, frozenset[str]]]:
        """Nouns of the question the vocabulary does not know, with their forms; those no document uses either
        ("infertility", "teenagers") are the unknown nouns: what the question is about may be something no
        document covers."""
        out: dict[str, frozenset[str]] = {}
        for t in doc:
            if t.pos_ not in ("NOUN", "PROPN") or not t.is_alpha or t.is_stop or self.lexicon.misspelt(t.lower_):
                continue
            forms = frozenset((t.lower_, t.lemma_.lower(), self.lexicon.correct(t.lemma_.lower())))
            if not forms & self._vocabulary_words and not forms & named:
                out.setdefault(t.lower_, forms)
        return list(out.items())

    def _initialisms(self, doc: Any) -> frozenset[str]:
        """What a phrase of the question would be abbreviated to ("relapsing-remitting MS" -> "rrms"); an
        abbreviation the documents use counts whole in lower case too ("relapsing remitting ms")."""
        words = [t for t in doc if t.is_alpha and not t.is_stop and t.pos_ in ("NOUN", "PROPN", "ADJ", "VERB")]
        whole = self.library.acronyms
        letters = [t.lower_ if (t.is_upper and len(t) > 1) or t.lower_ in whole else t.lower_[0] for t in words]
        return frozenset("".join(letters[i:j]) for i in range(len(letters)) for j in range(i + 2, len(letters) + 1))

    def _counted(self, doc: Any, grouped: dict[str, set[str]]) -> frozenset[str]:
        """What "how many X" counts: X and its synonyms (a number in the answer must count the same thing)."""
        for t in doc:
            if t.lower_ in ("many", "much") and t.i > 0 and doc[t.i - 1].lower_ == "how":
                if doc[t.i + 1 : t.i + 2].text.lower() == "of":
                    # "how many of the people were women?" counts women: the noun after the verb "be"
                    nouns = _subset_named(doc[t.i + 2 :]) or [n for n in doc[t.i + 2 : t.i + 5] if n.pos_ == "NOUN"]
                else:
                    # The counted noun comes before the verb: "how many took part?" counts no "part".
                    named = list(
                        takewhile(lambda n: n.pos_ not in ("VERB", "AUX", "ADP", "PUNCT"), doc[t.i + 1 : t.i + 4])
                    )
                    nouns = [n for n in named if n.pos_ in ("NOUN", "PROPN")]
                if nouns:
                    word = self.lexicon.correct(nouns[0].lemma_.lower())  # "peple" counts people
                    return frozenset({word, *grouped.get(word, set())})
                if t.lower_ == "many" and self._unnamed_count:
                    return self._unnamed_count
        return frozenset()

    def _anchored(self, doc: Any) -> list[Any]:
        """The words of the phrases that name a point in time: from an anchor word ("after") to the next verb,
        conjunction or punctuation mark. Right after the cue ("how long after the treatment ...?") the phrase
        is what is asked: the time since that point."""
        out = []
        inside = False
        for t in doc:
            if t.lower_ in self.lexicon.data.time_anchors:
                inside = not (t.i > 0 and doc[t.i - 1].lower_ in ("long", "soon"))
            elif t.is_punct or t.pos_ in ("VERB", "AUX", "CCONJ", "SCONJ"):
                inside = False
            elif inside:
                out.append(t)
        return out

    @staticmethod
    def _context(terms: list[str], lemmas: list[str], history: Sequence[dict[str, str]]) -> str:
        """The last user question when this one leans on it ("How old were they?"), else ""."""
        if not history or len(terms) > 6:
            return ""
        opener = " ".join(lemmas[:2])
        if not (lemmas[:1] and lemmas[0] in _OPENERS) and opener not in _OPENERS and not _PRONOUNS & set(lemmas):
            return ""
        previous = [m.get("content", "") for m in history if m.get("role") == "user" and m.get("content")]
        return previous[-1] if previous else ""
