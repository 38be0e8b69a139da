"""The extractive answerer: the article's own sentences, cited, with the risks; or "the article does not say"."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.answer.caveats import BENEFIT, CAVEAT_RULES, FOOTER, TREATMENT_TOPIC, Grounding, ground_caveats
from bot.answer.retrieval import CONTEXT_WEIGHT, Hit
from bot.corpus.documents import Passage
from bot.corpus.text import STOPWORDS, SYNONYMS, Vocabulary, content_terms, rephrase, stem, tokens
from bot.reply import Citation

_I = re.IGNORECASE


@dataclass(frozen=True)
class FactKind:
    """The kind of fact a question asks for, and how to recognise a sentence that states one."""

    name: str
    question: re.Pattern[str]
    sentence: re.Pattern[str]


# Order matters: the first kind whose question pattern matches is the one asked for.
FACT_KINDS: tuple[FactKind, ...] = (
    FactKind(
        "drug",
        re.compile(
            r"\b(which|what)\s+(\w+\s+)?(drugs?|medications?|medicines?|agents?|regimen|chemo(therapy)?\s+"
            r"(drugs?|agents?|regimen|was|were|did))\b|\bname\s+of\s+the\s+(drug|chemo\w*|medic\w*)|"
            r"\b(drugs?|medications?)\s+(were|was|are)\s+(used|given)",
            _I,
        ),
        re.compile(r"\b\w+(mab|mide|platin|busulfan|cillin|mycin|statin|sone|tinib|vir|globulin|ATG)\b"),
    ),
    FactKind(
        "dose",
        re.compile(
            r"(?<!high-)(?<!high\s)\b(dose|dosage|doses|mg|milligrams?)\b|\bhow\s+much\s+(chemo\w*|drug|medic\w*)", _I
        ),
        re.compile(r"\d+\s*(mg|g/m|mg/kg|milligrams?)\b", _I),
    ),
    FactKind(
        "cost",
        re.compile(r"\b(cost\w*|price\w*|pay|paid|insurance|insured|afford\w*|expensive|cheap|covered)\b", _I),
        re.compile(r"\$|\b(cost\w*|price\w*|insurance|dollars?)\b", _I),
    ),
    FactKind(
        "place",
        re.compile(
            r"^\s*where\b(?!.*\bpublish)|\bwhich\s+(hospitals?|clinics?|countr\w+|cit\w+|states?|centers?|"
            r"centres?|universit\w+)\b|\blocation\b|\bwhat\s+(hospital|clinic|country|city|center|centre)\b",
            _I,
        ),
        re.compile(r"\b(hospital|clinic|universit\w+|cent(er|re)|city|country|located|[A-Z][a-z]+,\s+[A-Z]{2})\b"),
    ),
    FactKind(
        "risk",
        re.compile(
            r"\b(danger\w*|risks?|risky|safe|safety|side[-\s]?effects?|complications?|adverse|harm\w*|"
            r"hurt|deadly|fatal|kill\w*|die|died|deaths?|sick|ill|illness\w*)\b",
            _I,
        ),
        re.compile(r"\b(adverse|infections?|died|deaths?|risk|safety)\b", _I),
    ),
    FactKind(
        "age",
        re.compile(r"\bhow\s+old\b|\bages?\b|\baged\b|\bage\s+range\b", _I),
        re.compile(r"\baged?\b|\byears?\s+old\b", _I),
    ),
    FactKind(
        "person",
        re.compile(
            r"^\s*who\b|\bwhich\s+(doctors?|researchers?|scientists?)\b|"
            r"\bname\s+of\s+the\s+(doctor|researcher|investigator|scientist|director|person)\b",
            _I,
        ),
        re.compile(r"\bMD\b|\bDr\.|\bsaid\s+[A-Z]|[A-Z][a-z]+\s+[A-Z]\.\s+[A-Z][a-z]+|investigators?\b"),
    ),
    FactKind(
        "time",
        re.compile(r"^\s*when\b|\bwhat\s+year\b|\bhow\s+long\b|\bduration\b|\bfollow[-\s]?up\b|\bhow\s+soon\b", _I),
        re.compile(r"\b\d+[-\s]*(years?|months?|weeks?|days?)\b|\b(19|20)\d\d\b|\bfive\s+years\b|follow-up", _I),
    ),
    FactKind(
        "percent",
        re.compile(r"%|\bpercent\w*|\bproportion\b|\bwhat\s+share\b|\bwhat\s+rate\b|\bsuccess\s+rate\b", _I),
        re.compile(r"\d\s*%|\bpercent", _I),
    ),
    FactKind(
        "number",
        re.compile(
            r"\bhow\s+many\b|\bpercent\w*|%|\bwhat\s+(number|proportion|fraction|share|rate)\b|\bsuccess\s+rate\b|"
            r"\bhow\s+(much|often)\b|\bstatistic\w*",
            _I,
        ),
        re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|majority|most|some)\b", _I),
    ),
)

# Words that carry a false premise when the article never uses them ("so it cures MS?"); named in the reply.
PREMISE_WORDS = re.compile(
    r"^(cure\w*|heal\w*|guarantee\w*|proven|prove\w*|approv\w*|permanent\w*|forever|always|never|"
    r"everyone|everybody|fda|miracle|risk-free|painless)$",
    _I,
)

_YES_NO = re.compile(
    r"^\s*(so\s+)?(is|are|does|do|did|can|could|will|would|was|were|has|have|had)\b|\b(right|true|correct)\s*\??\s*$",
    _I,
)


_ACRONYM_QUESTION = re.compile(
    r"\bwhat\s+(does|do|is)\s+(the\s+)?(?P<x>[A-Za-z][A-Za-z/-]+)\s+(stand\s+for|short\s+for|abbreviat\w*)|"
    r"\b(abbreviation|acronym)\s+(?P<y>[A-Z][A-Za-z/-]+)",
    _I,
)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000", "million": "million"}
_NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b", _I)


_COUNTED = re.compile(r"(\b\d[\d,]*|\b(?:" + "|".join(_NUMBER_WORDS) + r"))\s+([a-z]+)", _I)
_HOW_MANY = re.compile(r"\bhow\s+many\s+(?:of\s+(?:the|those|these)\s+)?([a-z]+)", _I)
_UNITS = frozenset({"year", "years", "month", "months", "week", "weeks", "day", "days", "%"})


def _names(question: str) -> set[str]:
    """Stems of capitalised words not at the start of a sentence: the people and bodies a question names."""
    return {stem(w.lower()) for w in re.findall(r"(?<![.?!]\s)(?<!^)\b[A-Z][a-z]{2,}\b", question.strip())}


def numbers_in(text: str) -> set[str]:
    """The numbers a text states, digits or words ("three" -> "3", "400,000" -> "400000")."""
    return {_NUMBER_WORDS.get(n.lower(), n.replace(",", "")) for n in _NUMBER.findall(text)}


def _counts(sentence: str, counted: set[str]) -> bool:
    """Does a number in the sentence count one of `counted` ("24 volunteers", "Three participants")?"""
    words = tokens(sentence)
    return any(
        (w[0].isdigit() or w in _NUMBER_WORDS)
        and i + 1 < len(words)
        and words[i + 1] not in _UNITS
        and any(stem(t) in counted for t in words[i + 1 : i + 3])
        for i, w in enumerate(words)
    )


def fact_kind(question: str) -> FactKind | None:
    return next((k for k in FACT_KINDS if k.question.search(question)), None)


# Kinds whose sentence pattern is distinctive enough that matching it is half the evidence.
STRONG_KINDS = frozenset({"risk", "age", "person", "percent"})


@dataclass(frozen=True)
class Candidate:
    """One article sentence weighed against the question."""

    passage: Passage
    sentence: str
    cosine: float
    coverage: float
    kind_ok: bool
    strong_kind: bool = False
    unknown: float = 0.0

    @property
    def score(self) -> float:
        return 0.5 * self.cosine + 0.5 * self.coverage + (0.1 if self.kind_ok else 0.0)

    @property
    def supports(self) -> bool:
        """A similarity score alone is not an answer: the kind of fact and the key terms must be there too.
        `unknown` is the share of the question's key terms the article never uses ("hair", "women"): the weaker
        routes to support are closed when much of the question is about something the article lacks."""
        return self.kind_ok and (
            self.coverage >= 0.6
            or (self.coverage >= 0.5 and self.cosine >= 0.2)
            or (self.unknown < 0.5 and self.coverage >= 0.3 and self.cosine >= 0.5)
            or (self.unknown < 0.34 and self.strong_kind and self.coverage >= 0.3)
        )


@dataclass(frozen=True)
class Composition:
    answer: str
    supported: bool
    citations: tuple[Citation, ...]
    caveats: tuple[str, ...]


class _Citations:
    """Numbers citations in order of first use; the same sentence keeps its number."""

    def __init__(self) -> None:
        self.items: list[Citation] = []
        self._by_quote: dict[tuple[str, str], int] = {}

    def cite(self, passage: Passage, sentence: str, score: float) -> str:
        key = (passage.id, sentence)
        if key not in self._by_quote:
            n = len(self.items) + 1
            self._by_quote[key] = n
            self.items.append(
                Citation(
                    n=n,
                    passage_id=passage.id,
                    quote=sentence,
                    anchor=passage.anchor,
                    title=passage.title,
                    score=round(score, 4),
                    passage_text=passage.text,
                )
            )
        return f"[{self._by_quote[key]}]"


class Composer:
    """Builds answers only from article sentences; decides whether the article really answers the question."""

    def __init__(
        self,
        passages: Sequence[Passage],
        sentence_vectors: dict[tuple[str, int], np.ndarray],
        vocabulary: Vocabulary,
    ) -> None:
        self.vocabulary = vocabulary
        self.vectors = sentence_vectors
        self.caveat_evidence = ground_caveats(list(passages))
        # Stemmed content words of every sentence and paragraph, once: the hot path only intersects sets.
        self.sentence_terms = {
            (p.id, i): {stem(t) for t in content_terms(s)} for p in passages for i, s in enumerate(p.sentences)
        }
        self.passage_terms = {
            p.id: set().union(*(self.sentence_terms[(p.id, i)] for i in range(len(p.sentences)))) for p in passages
        }
        n = max(len(self.sentence_terms), 1)
        df: dict[str, int] = {}
        for terms in self.sentence_terms.values():
            for t in terms:
                df[t] = df.get(t, 0) + 1
        self.idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self.unknown_weight = math.log(1 + n)
        self.numbers = {num for p in passages for s in p.sentences for num in numbers_in(s)}
        self.acronyms = {
            abbr.lower(): (p, i)
            for p in passages
            for i, s in enumerate(p.sentences)
            for abbr in re.findall(r"\(([A-Z][A-Za-z]*(?:/[A-Z]+)?)\)", s)
        }

    def _groups(self, question: str) -> list[tuple[str, set[str], float]]:
        """One group per content word of the question: the word as typed, its stems (typed, spelling-mended,
        synonyms), and a weight (idf; words the article never uses weigh the most)."""
        groups = []
        for raw in content_terms(rephrase(question)):
            word = self.vocabulary.correct(raw)
            members = {stem(word), stem(raw)} | {stem(s) for s in SYNONYMS.get(word, ())}
            own = self.idf.get(stem(word))
            known = [self.idf[m] for m in members if m in self.idf]
            groups.append((raw, members, own or (max(known) if known else self.unknown_weight)))
        return groups

    def weigh(self, question: str, context: str, vector: np.ndarray, hits: Sequence[Hit]) -> list[Candidate]:
        """Score every sentence of the hits: the kind of fact and key terms from the question; a follow-up's
        context adds its key terms at half weight."""
        groups = [(members, w) for _, members, w in self._groups(question)]
        if context:
            groups += [(members, w * CONTEXT_WEIGHT) for _, members, w in self._groups(context)]
        total = sum(w for _, w in groups) or 1.0
        unknown = sum(w for members, w in groups if not members & self.idf.keys()) / total
        kind = fact_kind(question)
        counted = self._counted(question, kind)
        acronym = self._acronym(question)
        names = _names(question) & self.idf.keys()
        pairs = [(hit.passage, i, hit.dense) for hit in hits for i in range(len(hit.passage.sentences))]
        if acronym and all((p.id, i) != (acronym[0].id, acronym[1]) for p, i, _ in pairs):
            pairs.append((*acronym, 0.0))
        out = []
        for passage, i, dense in pairs:
            sentence = passage.sentences[i]
            terms = self.sentence_terms[(passage.id, i)]
            coverage = sum(w for members, w in groups if members & terms) / total if groups else 0.0
            sv = self.vectors.get((passage.id, i))
            cosine = float(sv @ vector) if sv is not None else dense
            if acronym:
                kind_ok = strong = (passage.id, i) == (acronym[0].id, acronym[1])
            elif counted:
                kind_ok = strong = _counts(sentence, counted)
            else:
                kind_ok = kind is None or bool(kind.sentence.search(sentence))
                strong = kind is not None and kind.name in STRONG_KINDS
            # A person the question names, quoted in this paragraph, is strong evidence ("what did Fauci say").
            strong = strong or bool(names & self.passage_terms[passage.id])
            out.append(Candidate(passage, sentence, cosine, coverage, kind_ok, strong, unknown))
        return sorted(out, key=lambda c: -c.score)

    def _counted(self, question: str, kind: FactKind | None) -> set[str] | None:
        """What the question counts, as stems (with synonyms), so the answer's number must count the same thing:
        "how many X", or "500 X" when the article never states that number (a premise to correct)."""
        how_many = _HOW_MANY.search(question) if kind is not None and kind.name == "number" else None
        noun = how_many.group(1) if how_many else None
        if noun is None:
            unstated = (m for m in _COUNTED.finditer(question) if not numbers_in(m.group(1)) <= self.numbers)
            noun = next((m.group(2) for m in unstated), None)
        if noun is None or noun.lower() in STOPWORDS:
            return None
        word = self.vocabulary.correct(noun.lower())
        return {stem(word)} | {stem(s) for s in SYNONYMS.get(word, ())}

    def _acronym(self, question: str) -> tuple[Passage, int] | None:
        """For "what does NIAID stand for?": the sentence where the article spells it out, "... (NIAID)"."""
        match = _ACRONYM_QUESTION.search(question)
        if not match:
            return None
        return self.acronyms.get((match.group("x") or match.group("y")).lower())

    def missing_premises(self, question: str) -> list[str]:
        """Premise words ("cure", "FDA") and numbers ("500", "ten") of the question that the article never uses."""
        words = [
            raw
            for raw, members, _ in self._groups(question)
            if PREMISE_WORDS.match(raw) and not any(m in self.idf for m in members)
        ]
        numbers = [raw for raw in _NUMBER.findall(question) if not numbers_in(raw) <= self.numbers]
        return words + numbers

    @staticmethod
    def _choose(supporting: list[Candidate], most: int) -> list[Candidate]:
        """The best supporting sentence, and up to `most - 1` more that score nearly as well."""
        best, *rest = supporting
        chosen = [best, *[c for c in rest if c.score >= 0.8 * best.score][: most - 1]]
        # Sentences of one paragraph read in the article's order; paragraphs in order of their best sentence.
        first_seen = {id(c.passage): i for i, c in reversed(list(enumerate(chosen)))}
        return sorted(chosen, key=lambda c: (first_seen[id(c.passage)], c.passage.sentences.index(c.sentence)))

    def compose(
        self,
        question: str,
        vector: np.ndarray,
        hits: Sequence[Hit],
        *,
        context: str = "",
        lead: str = "",
        fallback: bool = False,
    ) -> Composition:
        """Answer `question` from `hits`. `context` is the earlier question a follow-up leans on; `fallback`
        (personal-advice replies) offers the closest general fact even when it is a weak match."""
        candidates = self.weigh(question, context, vector, hits)
        supporting = [c for c in candidates if c.supports]
        cites = _Citations()
        parts = [lead] if lead else []
        premises = self.missing_premises(question)
        chosen: list[Candidate] = []
        if supporting and not premises:
            chosen = self._choose(supporting, 3)
            if _YES_NO.search(question):
                parts.append("The article does not answer this with a simple yes or no. Here is what it reports:")
        else:
            if fallback:
                parts.append(
                    "The article does not answer this for any one person. What it reports about who was studied "
                    "and the risks is in the notes below."
                )
            else:
                mention = " It does not mention " + ", ".join(f"“{w}”" for w in premises) + "." if premises else ""
                parts.append("The article does not say." + mention)
            closest = candidates[0] if candidates else None
            if supporting:  # a premise the article never states ("so it cures MS?"): what it does report
                chosen = self._choose(supporting, 2)
                parts.append("What it does report:")
            elif closest and (closest.cosine >= 0.3 or closest.coverage >= 0.3):
                chosen = [closest]
                parts.append("The closest thing it does report:")
            supporting = []
        parts.extend(f"{c.sentence} {cites.cite(c.passage, c.sentence, c.score)}" for c in chosen)
        caveats = self.caveats_for(chosen, cites, question, always=fallback)
        return Composition("\n\n".join(parts), bool(supporting), tuple(cites.items), caveats)

    def caveats_for(
        self, chosen: Sequence[Candidate], cites: _Citations, question: str, *, always: bool = False
    ) -> tuple[str, ...]:
        """The risks, cited, whenever the answer is about the treatment (or `always`, for personal-advice
        replies); the not-medical-advice footer in every case."""
        about_treatment = any(TREATMENT_TOPIC.search(c.sentence) or BENEFIT.search(c.sentence) for c in chosen)
        if not (always or about_treatment or TREATMENT_TOPIC.search(question)):
            return (FOOTER,)
        lines = []
        for rule in CAVEAT_RULES:
            evidence: tuple[Grounding, ...] = self.caveat_evidence.get(rule.key, ())
            if evidence:
                markers = " ".join(cites.cite(g.passage, g.sentence, 1.0) for g in evidence)
                lines.append(f"{rule.text} {markers}.")
        return (*lines, FOOTER)
