"""`Safety.check`: what must happen to a message before any answer (emergency, language, manipulation, greeting,
personal advice, off topic), decided on every message and not switchable off by anything in it.

Three kinds of evidence, and when in doubt between emergency and not, it escalates:
- symptom and risk concepts (medspaCy target rules, lay words and misspellings) read with ConText (negated,
  historical, hypothetical, a general question or one about a study are not happening now);
- the nearest neighbours of the message and of each of its sentences in a labelled example bank (data/bank.yaml);
- the conversation: an emergency told in the previous turn still counts unless the person says it has passed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from langchain_core.embeddings import Embeddings
from spacy.language import Language
from spacy.tokens import Doc

from bot.reply import Category
from bot.safety import replies
from bot.safety.bank import load_bank
from bot.safety.learned import EmergencyModel, ModelFileError, readings
from bot.safety.pipes import DATA, Finding, findings
from bot.safety.text import clean_text

log = logging.getLogger(__name__)
_I = re.IGNORECASE

#: Emergency kinds in the order a reply names them when a message has several (the most specific help first).
KIND_ORDER = (
    "suicide", "poisoning", "post_treatment", "stroke", "cardiac", "anaphylaxis", "breathing", "bleeding",
    "seizure", "head_injury", "unconscious", "confusion", "call_now", "other",
)  # fmt: skip

TREATMENT = re.compile(
    r"\b(transplant\w*|chemo\w*|stem[- ]?cells?|hsct|ahsct|bmt|infusion|conditioning|neutr\w*p[eo]+ni\w*|atg|"
    r"cyclophosphamide|rituximab|day\s*\+?\s*\d+|post[- ]?(transplant|tx|chemo)|discharged|engraft\w*|"
    r"hickman|picc|central line|low (white|blood) (cell|count)s?|immun\w*suppress\w*|treatment)\b",
    _I,
)
PERSON = re.compile(
    r"\b(i|i'm|im|i've|ive|i'd|my|me|mine|we|our|us|he|she|he's|she's|hes|shes|his|her|him|they're|husband|wife|"
    r"son|daughter|mum|mom|mam|dad|mother|father|partner|friend|flatmate|roommate|brother|sister|gran\w*|"
    r"grandpa|grandma|nan|aunt|uncle|baby|toddler|kid|child|boy|girl|neighbou?r|colleague|patient here)\b",
    _I,
)
# Words that make a question personal: the asker, or someone close to them.
PERSONAL = re.compile(
    r"\b(i|i'm|im|i've|ive|i'd|me|my|myself|we|us|our|he|she|him|her|his|husband|wife|son|daughter|mum|mom|dad|"
    r"partner|brother|sister)\b",
    _I,
)
FIRST_PERSON = re.compile(r"\b(i|i'm|im|i've|ive|i'd|i'll|me|my|myself|we|us|our)\b", _I)
# A symptom word negated inside the concept's own words ("my face isnt drooping", "no vomiting, not drowsy").
NEGATED_INSIDE = re.compile(
    r"\b(no|not|isn'?t|isnt|aren'?t|wasn'?t|never|without)\s+(\w+\s+)?(droop\w*|slurr\w*|numb\w*|weak\w*|bleed\w*|"
    r"swollen|swell\w*|confus\w*|drows\w*|vomit\w*|sick|sleepy|dizz\w*|fever\w*|chills|shiver\w*|pain|fluid)\b",
    _I,
)
# Plain denial of suicidal thoughts: the only negation that cancels suicidal talk ("he doesnt see why he should
# bother living" is not a denial).
SUICIDE_DENIAL = re.compile(
    r"\b(not|never|no|isn'?t|isnt|aren'?t|wasn'?t|i'?m not|am not)\s+(\w+\s+)?(suicid\w*|going to (hurt|kill|harm)|"
    r"want(ing)? to (die|kill|hurt)|thinking (of|about) (suicide|ending|killing|hurting))",
    _I,
)
# A story told after the event: care was received or it passed. Cancels everything but suicidal talk.
STORY_RESOLVED = re.compile(
    r"\b(settled down|things have settled|it went( away)?\b|went away|(gave|put) (me|him|her|us) (on )?"
    r"(iv |some )?antibiotics|back on the ward|as directed|we went to (the )?(emergency|hospital|a&e|er|ed)"
    r"|checked (him|her|me|us) "
    r"over|(been|is|was) (completely |totally )?fine since|recovered|i'?m home now|turned out)",
    _I,
)
RESOLVED = re.compile(
    r"\b(fine now|better now|ok now|okay now|it'?s passed|has passed|went away|gone now|false alarm|all good|"
    r"paramedics (are|came)|ambulance (is|came|has)|at the hospital|in hospital now|called 911|called 999)\b",
    _I,
)
# A temperature reading or how one feels, told without a pronoun ("day 9 post transplant, 38.4 and shaky").
_READING = re.compile(
    r"\b(3[5-9][.,]\d|4[01][.,]\d|10[0-4][.,]\d|feel\w*|felt|shak\w*|shiver\w*|today|tonight|now)\b", _I
)
SAFETY_NET = re.compile(
    r"\b(what|who|when|whom)\b[^.?!]{0,50}\b(do|call|ring|contact|phone|tell|supposed)\b[^.?!]{0,60}\bif\b|"
    r"\bif\b[^.?!]{0,80}\b(unwell|sick|ill|fever|temperature|temp|infection|symptoms|bleed\w*|rash|worse)\b"
    r"[^.?!]{0,60}\b(what|who|call|ring|contact|do)\b|\b(when|how soon) should\b[^.?!]{0,40}\b(call|contact|go)\b",
    _I,
)
SAFETY_NET_TOPIC = re.compile(
    r"\b(unwell|sick|ill|fever\w*|temperature|temp|infection\w*|symptoms?|bleed\w*|rash|worse|side effects?|"
    r"reaction|chills|shiver\w*|pain)\b",
    _I,
)

INJECTION = re.compile(
    r"(\b(ignore|disregard|forget|override|bypass|skip)\b[^.?!]{0,40}\b(instruction\w*|rules?|prompts?|"
    r"directions?|guidelines?|caveats?|warnings?|disclaimers?|safety|restrictions?|everything)|"
    r"\b(system|hidden|secret|initial|original|developer)\s+(prompt|instructions?|message|rules?)|"
    r"\byour\s+(prompt|instructions?|rules|guidelines|programming)\b|\brepeat\s+after\s+me\b|\bsay\s+exactly\b|"
    r"\b(pretend|imagine)\s+(you\s+are|you're|to\s+be)\b|\bact\s+as\b|\brole[-\s]?play\b|\byou\s+are\s+now\b|"
    r"\bfrom\s+now\s+on\b|\bjailbreak\w*|\bDAN\b|developer\s+mode|do\s+anything\s+now|\bnew\s+rules?\b|"
    r"<\s*/?\s*(system|assistant|user|im_start|im_end|instructions?|prompt)\b[^>]*>|\[/?\s*(system|inst)\s*\]|"
    r"^\s*(system|assistant)\s*:|"
    r"\b(no|without)\s+(any\s+|the\s+)?(caveats?|warnings?|disclaimers?)\b|"
    r"\bdon'?t\s+(add|include|give|show|mention)\s+(any\s+)?(the\s+)?(caveats?|warnings?|disclaimers?|risks?)\b|"
    r"\bprint\s+(your|the)\s+(prompt|instructions|rules|configuration))",
    _I | re.MULTILINE,
)


def score_may_speak(text: str) -> bool:
    """Whether the learned score may escalate a message the rules and the bank did not. A story told after care was
    received ("as directed we went to the emergency department") is the rules' reading to make; a request to change
    the rules or play a part gets the manipulation reply (a crisis said inside one is still the concepts' to find)."""
    return not (STORY_RESOLVED.search(text) or INJECTION.search(text))


_RELATIVE = (
    r"(my|our)\s+(\w+\s+)?(wife|husband|partner|son|daughter|child|kid|mum|mom|mam|dad|mother|father|brother|"
    r"sister|friend|grand\w+|aunt|uncle|fianc\w*|boyfriend|girlfriend|cousin|niece|nephew)"
)
# A request about one's own or a relative's care, with or without "should". Strong: the asking itself is personal.
# Each rule is named for what it recognises; the name goes into the verdict's reason (safety-eval, debugging).
ADVICE_RULES: tuple[tuple[str, str], ...] = (
    ("asks whether they should", r"\bshould\s+(i|we|my|he|she|they)\b|\b(i|we)\s+should\b|\bwhat\s+should\s+(i|we)\b"),
    # "can I explain ... to my family?" asks how to say something, not whether one may have a treatment
    (
        "asks whether they can or may",
        r"\b(can|could|may)\s+(i|we)\b(?!\s+(explain|tell|talk|describe|say)\b)|\bwhere\s+can\s+(i|we)\b",
    ),
    ("asks what would or will happen to them", r"\bwould\s+(i|we|he|she)\s+(qualify|be|get)|\b(will|would)\s+i\b"),
    # "would you really choose it?": the asker wants the answerer's own pick, as with "what would you do?"
    (
        "asks what the assistant would choose",
        r"\bwould\s+you\s+(really\s+|personally\s+|yourself\s+)?(choose|pick|opt\s+for|go\s+for|have\s+it|do\s+it)\b|"
        r"\bwhat\s+(would|should|do)\s+you\s+(do|pick|choose|recommend|advise|suggest|go\s+for)\b|"
        r"\bwhat\s+would\s+you\s+\w+\s+in\s+my\b|\bif\s+(i|you)\s+were\s+(you|me|your|my|in\s+my)\b|"
        r"\bif\s+i\s+was\s+your\b|\b(do\s+you\s+)?recommend\b|\bdo\s+you\s+think\s+(i|he|she|my|we)\b",
    ),
    (
        "asks whether a person is eligible, able or fit",
        r"\b(am\s+i|is\s+(she|he))\s+(a|an|too|eligible|suitable|able|likely|going|at|ok|okay|safe|allowed)\b|"
        # "surely I'm ready to go back to work?": whether a person is fit for something is their clinician's call
        r"\b(am\s+i|i'?m|i\s+am|is\s+(she|he)|(she|he)'?s|(she|he)\s+is)\s+(ready|fit|well\s+enough|strong\s+enough)\s+"
        r"(to|for)\b|\b(do|does)\s+(i|he|she)\s+(qualify|need|have\s+to)\b|"
        # "how do I know if I am a good candidate?", "whether my wife is eligible": eligibility of a person
        r"\b(if|whether)\s+(i|i'?m|we|he|she|my\s+\w+)\s+(am\s+|is\s+|are\s+|would\s+be\s+)?(an?\s+)?"
        r"(good\s+|suitable\s+|right\s+)?(candidate|eligible|suitable|qualif\w+)\b",
    ),
    (
        "asks whether it suits them",
        r"\b(safe|right|good|ok|okay|worth\s+it|a\s+good\s+idea|an\s+option|the\s+best\s+option|best|suitable)"
        r"(\s+\w+){0,2}\s+for\s+(me|us|my|him|her)\b|\bworth\s+(me|us|him|her)\b|"
        r"\b(someone|people|patients|a\s+person)\s+like\s+(me|us|him|her|my\s+\w+)\b|"
        r"\bwhich\s+(one|drug|treatment|option|is\s+better)\b[^.?!]{0,30}\b(should|would|me|i)\b|"
        r"\b(in|given)\s+my\s+(situation|shoes|case|position)\b|\bsign\s+(me|him|her)\s+up\b|\bfor\s+(me|us|him|her)\s*\?",
    ),
    (
        "asks about timing around their own treatment",
        r"\bhow\s+(long|soon)\s+(should|do|must|would)\s+(i|we|he|she)\b|\bhow\s+(long|soon)\s+(after|before|until)\s+"
        r"(stopping\s+|my\s+|his\s+|her\s+|the\s+last\s+|last\s+|a\s+dose\s+of\s+)?(\w+mab|\w*dmts?|ocrevus|tysabri|"
        r"kesimpta|lemtrada|copaxone|tecfidera|gilenya|mavenclad|aubagio|steroids?|pregnancy|(having\s+)?(a|my)\s+baby|"
        r"infusion)\b|\b(stop|quit|switch|change)\s+(taking\s+)?(my|from|to)\b",
    ),
    (
        "asks about their own outlook or risk",
        r"\b(my|his|her)\s+(chances|prognosis|outlook|life\s+expectancy)\b|\bmy\s+(\w+\s+)?risk\b|"
        r"\bhow\s+do\s+(i|we)\s+(handle|cope|deal|manage)\b|"
        r"\b(help|helps|improve|speed\s+up)\s+(his|her|my)\s+(recovery|ms|symptoms|chances)\b",
    ),
)
_ADVICE_RULES = tuple((name, re.compile(pattern, _I)) for name, pattern in ADVICE_RULES)
ADVICE_STRONG = re.compile("|".join(f"(?:{pattern})" for _, pattern in ADVICE_RULES), _I)


def strong_advice(text: str) -> str:
    """The name of the first strong advice rule the text meets, or ''. Most messages meet none: one search of the
    joined rules tells, and only a match is searched rule by rule for its name."""
    if not ADVICE_STRONG.search(text):
        return ""
    return next((name for name, pattern in _ADVICE_RULES if pattern.search(text)), "")


# Weak: the message tells of one's own or a relative's illness or care; advice when it asks something on topic.
ADVICE_WEAK = re.compile(
    r"(\bmy\s+(current\s+|present\s+|own\s+|usual\s+|last\s+|specific\s+|particular\s+)?(doctor|neuro\w*|dose|dosage|medications?|meds|"
    r"medicines?|drugs?|treatments?|therapy|ms|edss|symptoms|relapses?|mri|lesions?|case|options?|disability|"
    r"history|condition|diagnosis|dmt|infusion)\b|"
    + _RELATIVE
    + r"|\bi('m|\s+am|m)\s+(on|taking|pregnant|trying|breastfeeding|thinking|considering|going\s+to|about\s+to|"
    r"\d+|only|due|starting|planning)\b|\bi\s+(have|take|was\s+diagnosed|got\s+diagnosed|"
    r"started|stopped|switched|plan)\b|\bi'?ve\s+(had|been|got)\b|\bpregnan\w*|\bbreast\s*feed\w*)",
    _I,
)
# A hypothetical or "what to look out for" question: general, even with "should I" (it gets the safety net).
HYPOTHETICAL_ASK = re.compile(
    r"\b(hypothetical\w*|just\s+in\s+case|what\s+if|look\s+out\s+for|watch\s+(out\s+)?for|supposed\s+to\s+"
    r"(ring|call|contact)|signs?\s+of|what\s+(should|do|would)\s+(i|we|you|one)\s+do\s+if|who\s+(do|should|would)\s+(i|we)\s+"
    r"(call|ring|contact|phone)\s+if)\b",
    _I,
)
# Asking where to read something ("where can I find the results?") is a request for information, not for care.
INFORMATION_ASK = re.compile(
    r"\b(where|how)\s+(can|could|do)\s+(i|we)\s+(find|read|see|look\s+at|get|access)\s+"
    r"(the\s+|more\s+|this\s+|that\s+|an?\s+|some\s+|any\s+)?(\S+\s+){0,2}"
    r"(data|results?|information|info|details|article|paper|publication|report|news|coverage|source)\b",
    _I,
)
# "How long will I have to be in the hospital?", "would I be an outpatient?": where and how long a person stays
# for a treatment is how the treatment is given, not a decision about their care (two labellers agreed).
LOGISTICS_ASK = re.compile(
    r"\b(will|would)\s+i\s+(have\s+to\s+|need\s+to\s+)?(be|stay|spend|travel)\b[^?.!]{0,30}?"
    r"\b(hospital|outpatient|inpatient|away\s+from\s+home|abroad)\b",
    _I,
)
# Personal words in a question that is really about the documents, hypothetical, or general: not advice.
ADVICE_VETO = re.compile(
    r"\b((does|did)\s+the\s+(article|study|report|trial)|the\s+(article|report)\s+(say|says|mention)|"
    r"in\s+(the|this|that)\s+(\S+\s+)?(study|trial|article)|hypothetical\w*|just\s+in\s+case|^say\s+my|what\s+if|"
    r"look\s+out\s+for|"
    r"watch\s+(out\s+)?for|supposed\s+to\s+(ring|call|contact)|is\s+(that|this|it)\s+normal|"
    r"(in|since|back\s+in)\s+(19|20)\d\d|years\s+(ago|back)|when\s+i\s+was\s+\d+|how\s+(often|common|likely)|"
    r"does\s+that\s+happen)\b",
    _I,
)
# General questions that mention eligibility without a person: answered from the documents.
GENERAL_ELIGIBILITY = re.compile(
    r"^\s*(who|what\s+(kind|sort|type)\s+of\s+(people|patients)|which\s+(people|patients)|is\s+it\s+only\s+for|"
    r"what\s+(are|is)\s+the\s+(eligibility|criteria|age))\b",
    _I,
)

# A question about what was found or done ("what did they find?"): general even after a personal story.
FACT_QUESTION = re.compile(
    r"^\s*(what|who|when|where|which|how\s+(many|much|long|old))\b(?!\s+(should|would|could))", _I
)


def _general_question_after_context(doc: Doc) -> bool:
    """A personal story, then a factual question about the documents that names no person ("My husband has MS
    and I read about a study. What did they find?"): the story is context, the question is general."""
    sents = [s.text.strip() for s in doc.sents if s.text.strip()]
    asked = [s for s in sents if s.endswith("?")] or sents[-1:]
    if len(sents) < 2 or len(asked) == len(sents):
        return False
    return all(FACT_QUESTION.search(q) and not PERSONAL.search(q) for q in asked)


GREETING_WORDS = frozenset(
    """hi hello hey hiya howdy yo greetings good morning afternoon evening day thanks thank you thx ty cheers
    bye goodbye see ya later cya appreciate appreciated it much so very great nice awesome helpful that was
    ok okay cool perfect wonderful have a lovely again bot there all for your help""".split()
)
_THANKS = re.compile(r"\b(thanks?|thank\s+you|thx|ty|cheers|appreciate\w*)\b", _I)
_BYE = re.compile(r"\b(bye|goodbye|see\s+ya|cya|later)\b", _I)


@dataclass(frozen=True)
class SafetyVerdict:
    """What safety decided. `category` None: a question for the documents to answer (maybe with a safety net)."""

    category: Category | None
    reason: str
    emergency: str | None = None
    reply_text: str = ""
    safety_net: bool = False
    support: bool = False  # words of distress: the reply ends with where to find support


def _digest(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()


@lru_cache(maxsize=1)
def i18n_rules() -> dict[str, tuple[list[tuple[str, re.Pattern[str]]], re.Pattern[str] | None]]:
    raw: dict[str, Any] = yaml.safe_load((DATA / "emergency_i18n.yaml").read_text(encoding="utf-8"))
    return {
        lang: (
            [(kind, re.compile(p, _I)) for kind, p in spec["emergency"].items()],
            re.compile(spec["general"], _I) if spec.get("general") else None,
        )
        for lang, spec in raw.items()
    }


@lru_cache(maxsize=1)
def distress() -> re.Pattern[str]:
    """Words of distress that are not an emergency on their own (`data/distress.yaml`)."""
    raw: dict[str, list[str]] = yaml.safe_load((DATA / "distress.yaml").read_text(encoding="utf-8"))
    return re.compile(r"\b(" + "|".join(f"(?:{p})" for p in raw["patterns"]) + r")\b", _I)


def medical_topic_words() -> frozenset[str]:
    raw: dict[str, list[str]] = yaml.safe_load((DATA / "medical_topic.yaml").read_text(encoding="utf-8"))
    return frozenset(str(w).strip().lower() for w in raw["words"])


#: Words that point at something already in view ("it", "that"), not at the asker or the helper. spaCy tags
#: "that" of "was that safe" as an adverb or determiner, so the word is what counts, not its tag.
_POINTING = frozenset({"it", "this", "that", "they", "them", "these", "those"})


class Safety:
    """Built once per process; `check` runs on every message before any answering."""

    #: A bank neighbour this close is an emergency on its own; `EMERGENCY_SIM` with an emergency majority too.
    EMERGENCY_NEAR = 0.78
    EMERGENCY_SIM = 0.62
    ADVICE_SIM = 0.68
    OUT_OF_SCOPE_MARGIN = 0.02
    #: Escalated messages remembered (as digests) for their follow-ups.
    REMEMBERED = 4096

    def __init__(
        self,
        nlp: Language,
        embeddings: Embeddings,
        topic_terms: Iterable[str],
        cache_dir: Path | str | None = None,
        *,
        subject: str = "the documents this assistant was given",
        suggestions: Sequence[str] = replies.DEFAULT_SUGGESTIONS,
        learned: EmergencyModel | None = None,
    ) -> None:
        self.nlp = nlp
        self.bank = load_bank(embeddings, cache_dir)
        if learned is not None and len(learned.embedding_weights) != self.bank.vectors.shape[1]:
            raise ModelFileError(
                f"the emergency model has {len(learned.embedding_weights)} embedding weights, the embedding model "
                f"makes {self.bank.vectors.shape[1]} dimensions; run `python -m bot fit-safety`"
            )
        self.learned = learned
        self._escalated: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._bank_emergency = np.array([label.startswith("emergency") for label in self.bank.labels], dtype=bool)
        self.topic = frozenset(t.lower() for t in topic_terms) | medical_topic_words()
        self.subject = subject
        self.suggestions = tuple(suggestions)

    # -- emergencies ---------------------------------------------------------------------------------------------

    @staticmethod
    def _current(f: Finding) -> bool:
        """Is this finding happening now, to someone here? Suicidal talk is only cancelled by plain evidence."""
        if f.kind == "suicide":
            if "HISTORICAL" in f.context or SUICIDE_DENIAL.search(f.sentence):
                return False
            if f.context & {"HYPOTHETICAL", "GENERAL"}:
                # "How do you smile when all you want to do is die?": a "you" inside the words themselves is the
                # speaker's own wish said in general, as people say it; "if someone ..." is about another person.
                speaker = FIRST_PERSON.search(f.sentence) or re.search(r"\byou\b", f.text, _I)
                return bool(speaker and not re.search(r"\bif (someone|a|anyone)\b", f.sentence, _I))
            return True
        return f.current and not NEGATED_INSIDE.search(f.text)

    def _rules(self, text: str, doc: Doc) -> tuple[str | None, str, bool]:
        """(kind, reason, cancelled) from the concepts: a current strong concept, or fever in a treatment context."""
        found = findings(doc)
        story = bool(STORY_RESOLVED.search(text))
        current = [f for f in found if self._current(f) and (f.kind == "suicide" or not story)]
        strong = [f for f in current if f.strength == "strong"]
        if strong:
            kinds = sorted({f.kind for f in strong}, key=lambda k: KIND_ORDER.index(k) if k in KIND_ORDER else 99)
            kind = kinds[0]
            if (
                kind != "suicide"
                and "post_treatment" not in kinds
                and TREATMENT.search(text)
                and any(f.kind == "fever" for f in current)
            ):
                # A strong sign with a fever after treatment ("feverish and breathless after my transplant"):
                # the transplant team's number is the one extra thing that reply must give.
                fever = next(f.text for f in current if f.kind == "fever")
                return "post_treatment", f"post_treatment: “{fever}” with “{strong[0].text}”", False
            return kind, f"{kind}: “{next(f.text for f in strong if f.kind == kind)}”", False
        weak = [f for f in current if f.strength == "weak"]
        if weak and TREATMENT.search(text) and (PERSON.search(text) or _READING.search(text)):
            return "post_treatment", f"fever or chills after treatment: “{weak[0].text}”", False
        if len({f.text.lower() for f in weak}) >= 2 and PERSON.search(text) and FIRST_PERSON.search(text):
            return "post_treatment", "several infection signs", False
        return None, "", bool(found)

    def _neighbours(self, vectors: np.ndarray, cancelled: bool) -> tuple[str | None, str]:
        """An emergency by the bank: a near neighbour, or a close one with an emergency majority among the nearest."""
        best: tuple[float, str | None, str] = (0.0, None, "")
        for row in self.bank.neighbours(vectors, k=5):
            if not row:
                continue
            top_sim, top_label, top_text = row[0]
            votes = sum(s for s, label, _ in row if label.startswith("emergency"))
            total = sum(s for s, _, _ in row) or 1.0
            if not top_label.startswith("emergency"):
                continue
            near = top_sim >= self.EMERGENCY_NEAR + (0.08 if cancelled else 0.0)
            close = top_sim >= self.EMERGENCY_SIM + (0.1 if cancelled else 0.0) and votes / total >= 0.6
            if (near or close) and top_sim > best[0]:
                best = (top_sim, top_label.split(":", 1)[1], top_text)
        if best[1] is None:
            return None, ""
        return best[1], f"close to “{best[2]}” ({best[0]:.2f})"

    def emergency(self, text: str, doc: Doc, vectors: np.ndarray, *, learned: bool = True) -> tuple[str | None, str]:
        """(kind, reason) if the message may be an emergency, else (None, ''). `learned=False`: the rules and the
        bank alone (what the learned score is fitted beside)."""
        kind, reason, _ = self._emergency(text, doc, vectors, learned=learned)
        return kind, reason

    def _emergency(
        self, text: str, doc: Doc, vectors: np.ndarray, *, learned: bool = True
    ) -> tuple[str | None, str, float | None]:
        """`emergency`, with the learned score when it was read (the rules and the bank silent, a person spoken of,
        nothing that keeps the score silent): below the threshold, it may still ask for the line on where to find
        help."""
        kind, reason, cancelled = self._rules(text, doc)
        if kind:
            return kind, reason, None
        if not PERSON.search(text):
            return None, "", None
        kind, reason = self._neighbours(vectors, cancelled)
        if kind or not learned or self.learned is None or not len(vectors) or not score_may_speak(text):
            return kind, reason, None
        vector = np.asarray(vectors[0], dtype=np.float32)
        escalates, score = self.learned.escalates(
            vector, readings(text, doc, vector, self.bank.vectors, self._bank_emergency)
        )
        if not escalates:
            return None, "", score
        # The reply of the kind the nearest emergency example has: its one extra thing (988, the transplant team).
        sims = self.bank.vectors @ vector
        nearest = int(np.argmax(np.where(self._bank_emergency, sims, -1.0))) if self._bank_emergency.any() else -1
        kind = self.bank.labels[nearest].split(":", 1)[1] if nearest >= 0 else "other"
        return kind, f"learned score {score:.2f} ≥ {self.learned.threshold:.2f}; nearest {kind} example", score

    def _foreign_emergency(self, text: str, language: str) -> tuple[str | None, str]:
        rules, general = i18n_rules().get(language, ([], None))
        hits = [kind for kind, pattern in rules if pattern.search(text)]
        if not hits:
            return None, ""
        if general is not None and general.search(text) and not any(k in ("suicide", "call_now") for k in hits):
            return None, f"general question in {language} ({hits[0]} words)"
        hits.sort(key=lambda k: KIND_ORDER.index(k) if k in KIND_ORDER else 99)
        return hits[0], f"{hits[0]} words in {language}"

    # -- the verdict ---------------------------------------------------------------------------------------------

    def check(
        self,
        text: str,
        doc: Doc,
        vectors: np.ndarray,
        language: str,
        history: Sequence[dict[str, str]] = (),
    ) -> SafetyVerdict:
        """Classify one cleaned message. `vectors`: unit embeddings, row 0 the message, then one per sentence."""
        if language != "en":
            kind, reason = self._foreign_emergency(text, language)
            if kind is None and not reason:
                # Code-mixed messages: the English concepts still count (unless it is a general question).
                english_kind, english_reason, _ = self._rules(text, doc)
                kind, reason = (english_kind, english_reason) if english_kind else (None, reason)
            if kind is not None:
                self._remember(text, kind)
                return SafetyVerdict(Category.EMERGENCY, reason, kind, replies.emergency_text(kind, language))
            return SafetyVerdict(
                Category.LANGUAGE, reason or f"written in {language}", None, replies.english_only_text(language)
            )
        kind, reason, score = self._emergency(text, doc, vectors)
        if kind is None:
            kind, reason = self._follow_up(text, history)
        if kind is not None:
            self._remember(text, kind)
            return SafetyVerdict(Category.EMERGENCY, reason, kind, replies.emergency_text(kind, "en"))
        verdict = self._not_an_emergency(text, doc, vectors, history)
        # Not escalated, yet words of distress, or a learned score in the band below escalation: the reply ends
        # with where to find help.
        concern = score is not None and self.learned is not None and score >= self.learned.support_threshold
        if verdict.category is not Category.INJECTION and (concern or distress().search(text)):
            return replace(verdict, support=True)
        return verdict

    def _not_an_emergency(
        self, text: str, doc: Doc, vectors: np.ndarray, history: Sequence[dict[str, str]]
    ) -> SafetyVerdict:
        """Manipulation, a greeting, personal advice, the subject or off topic, for an English message."""
        if INJECTION.search(text):
            return SafetyVerdict(
                Category.INJECTION,
                "instruction-override or prompt request",
                reply_text=replies.injection_text(self.subject, self.suggestions),
            )
        words = re.findall(r"[a-z']+", text.lower())
        if words and len(words) <= 8 and all(w.strip("'") in GREETING_WORDS for w in words):
            thanks, bye = bool(_THANKS.search(text)), bool(_BYE.search(text))
            return SafetyVerdict(
                Category.GREETING,
                "greeting or thanks",
                reply_text=replies.greeting_text(self.subject, self.suggestions, thanks=thanks, bye=bye),
            )
        safety_net = bool(SAFETY_NET.search(text) and SAFETY_NET_TOPIC.search(text) and TREATMENT.search(text))
        advice = self._advice(text, doc, vectors) if self._topical(doc) or ADVICE_STRONG.search(text) else ""
        if advice and (self._topical(doc) or self._on_topic(doc, vectors, bool(history))):
            return SafetyVerdict(Category.MEDICAL_ADVICE, advice, safety_net=safety_net)
        if safety_net or self._on_topic(doc, vectors, bool(history)):
            return SafetyVerdict(None, "about the subject", safety_net=safety_net)
        return SafetyVerdict(
            Category.OUT_OF_SCOPE,
            "off topic",
            reply_text=replies.out_of_scope_text(self.subject, self.suggestions),
        )

    def _follow_up(self, text: str, history: Sequence[dict[str, str]]) -> tuple[str | None, str]:
        """An emergency told in the previous user turn still stands unless this message says it has passed: one
        this process escalated (by any evidence, the learned score included), one the previous reply escalated (a
        conversation carried over from another process, or from before a restart), or one the rules find in it."""
        previous = [t.get("content", "") for t in history if t.get("role") == "user"][-1:]
        if not previous or RESOLVED.search(text):
            return None, ""
        with self._lock:
            remembered = self._escalated.get(_digest(clean_text(previous[0])))
        if remembered:
            return remembered, f"follow-up to an emergency ({remembered}, escalated in the previous turn)"
        told = [t.get("content", "") for t in history if t.get("role") == "assistant"][-1:]
        if told and (kind := replies.escalated_kind(told[0])):
            return kind, f"follow-up to an emergency ({kind}, the previous reply escalated it)"
        kind, reason, _ = self._rules(previous[0], self.nlp(previous[0]))
        return (kind, f"follow-up to an emergency ({reason})") if kind else (None, "")

    def _remember(self, text: str, kind: str) -> None:
        """Keep (a digest of) an escalated message, so its follow-up is escalated too; the oldest go first."""
        with self._lock:
            self._escalated[_digest(text)] = kind
            self._escalated.move_to_end(_digest(text))
            while len(self._escalated) > self.REMEMBERED:
                self._escalated.popitem(last=False)

    def _advice(self, text: str, doc: Doc, vectors: np.ndarray) -> str:
        personal = bool(re.search(r"\b(i|me|my|we|us|our)\b", text, _I))
        if GENERAL_ELIGIBILITY.search(text) and not personal:
            return ""
        if HYPOTHETICAL_ASK.search(text):
            return ""
        # How a treatment is given ("how long will I be in hospital?") is read past by both advice rules.
        asked = LOGISTICS_ASK.sub(" ", text)
        if rule := strong_advice(INFORMATION_ASK.sub(" ", asked)):
            return f"asks about the person's own or a relative's care ({rule})"
        if INFORMATION_ASK.search(text):  # "I read a report ... where can I read a more balanced one?"
            return ""
        if (
            ADVICE_WEAK.search(asked)
            and PERSONAL.search(text)  # "the chances of pregnancy after ...?" tells of nobody's care
            and "?" in text + "?"
            and not ADVICE_VETO.search(text)
            and self._topical(doc)
            and not _general_question_after_context(doc)
        ):
            return "tells of the person's own or a relative's care and asks about it"
        row = self.bank.neighbours(vectors[:1], k=3)[0]
        if (
            row
            and row[0][1] == "advice"
            and row[0][0] >= self.ADVICE_SIM
            and PERSONAL.search(text)
            and not ADVICE_VETO.search(text)
        ):
            return f"close to advice example “{row[0][2]}” ({row[0][0]:.2f})"
        return ""

    def _topical(self, doc: Doc) -> bool:
        lemmas = {t.lemma_.lower() for t in doc if not t.is_punct} | {t.lower_ for t in doc}
        return bool(lemmas & self.topic)

    def _on_topic(self, doc: Doc, vectors: np.ndarray, has_history: bool) -> bool:
        if self._topical(doc):
            return True
        content = [t for t in doc if t.is_alpha and not t.is_stop]
        if has_history and len(content) <= 6:
            return True
        # A question with no noun of its own that points with a pronoun ("did it work?", "was that safe?") can only
        # mean what this helper is about: nothing in it names another subject.
        if not any(t.pos_ in ("NOUN", "PROPN") for t in doc) and any(t.lower_ in _POINTING for t in doc):
            return True
        row = self.bank.neighbours(vectors[:1], k=3)[0]
        if not row:
            return True
        outside = max((s for s, label, _ in row if label == "out_of_scope"), default=0.0)
        inside = max((s for s, label, _ in row if label != "out_of_scope"), default=0.0)
        return not (outside + self.OUT_OF_SCOPE_MARGIN >= inside or inside < 0.3)
