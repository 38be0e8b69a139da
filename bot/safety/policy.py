"""What kind of message is this? Emergency first, always; then manipulation, personal advice, small talk, topic.

Rules catch the high-risk phrases; the embedding model's nearest labelled examples catch the wordings the rules
miss. Both run on every message, before retrieval, and nothing in the message can switch them off.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bot.corpus.tokens import content_terms, stem
from bot.reply import Category
from bot.safety import intents

_I = re.IGNORECASE

SELF_HARM = re.compile(
    r"\b(kill(ing)?\s*my\s*self|suicid\w*|sucid\w*|suicde\w*|end(ing)?\s+(my|it)\s+(life|all)|end\s+it\s+all|"
    r"take\s+my\s+(own\s+)?life|(want|wanna|going)\s+to\s+die|wanna\s+die|wish\s+i\s+(was|were)\s+dead|"
    r"don'?t\s+want\s+to\s+(live|be\s+alive|wake\s+up)|self[-\s]?harm\w*|hurt(ing)?\s+my\s*self|"
    r"cut(ting)?\s+my\s*self|no\s+reason\s+to\s+live|better\s+off\s+dead|overdos\w*|over\s+dos\w*|"
    r"(took|swallowed|taken)\s+(a\s+whole\s+bottle|all|too\s+many|lots\s+of|a\s+lot\s+of)\b[^.?!]{0,30}"
    r"(pills|tablets|meds|medication|medicine))",
    _I,
)
# Symptoms that need care now; counted when the message speaks of a person (I, my, he, she...), so a question
# about what happened to the study's participants is not an alarm.
URGENT = re.compile(
    r"(\b(can'?t|cannot|cant|unable\s+to|trouble|difficulty|hard\s+to|struggling\s+to|not\s+able\s+to)\s+"
    r"(breathe?|breathing|breth)\b|short(ness)?\s+of\s+breath|gasping|not\s+breathing|stopped\s+breathing|"
    r"chest\s+(pain|pian|hurts?|tightness|pressure)|heart\s+attack|\bstroke\b|"
    r"(sudden(ly)?|all\s+of\s+a\s+sudden|out\s+of\s+nowhere)\b[^.?!]{0,40}\b(blind|can'?t\s+see|cant\s+see|"
    r"vision|sight|numb|weak|paraly\w*|can'?t\s+move|cant\s+move)|"
    r"(lost|losing|loss\s+of|lose)\s+(my\s+|the\s+|all\s+)?(vision|sight|eyesight)|\bgone\s+blind|went\s+blind|"
    r"\b(can'?t|cant|cannot)\s+see\b|"
    r"(numb|numbness|weak|weakness|droop\w*|paraly\w*|tingl\w*)\b[^.?!]{0,40}\b(one\s+side|left\s+side|"
    r"right\s+side|half\s+(of\s+)?my)|face\s+(is\s+)?droop\w*|slurr?\w*\s+(speech|words|talking)|"
    r"\b(seiz\w*|siez\w*|convuls\w*|fitting)\b|collaps\w*|passed\s+out|pass(ing)?\s+out|faint(ed|ing)\b|"
    r"unconscious|unresponsive|not\s+respond\w*|won'?t\s+wake|\bcoughing\s+(up\s+)?blood|vomit\w*\s+blood|"
    r"worst\s+headache|throat\s+(is\s+)?(closing|swelling)|"
    r"\b(black|dark|blurr\w*|blind|grey|gray)\b[^.?!]{0,30}\b(in|of)\s+(one|my|the|his|her|both)\s+eyes?\b|"
    r"\b(vision|sight|eyes?)\b[^.?!]{0,30}\b(went|gone|going|turned)\s+(black|dark|blind|grey|gray))",
    _I,
)
CALL_NOW = re.compile(
    r"\bcall\s+(911|999|112|an?\s+ambulance)|\b(emergency|urgent)\b[^.?!]{0,20}\b(now|help|please)\b|"
    r"\bi\s*('m|\s+am|m)\s+(dying|having\s+a\s+stroke|having\s+a\s+heart\s+attack)",
    _I,
)
FEVER = re.compile(
    r"\b(fever\w*|fevr|temperature|temp|high\s+temp\w*|chills|shivering|shivery|rigors|shaking|shakes|"
    r"burning\s+up)\b",
    _I,
)
TREATMENT = re.compile(r"\b(transplant\w*|chemo\w*|stem\s*cells?|hdit|hct|hsct|infusion|treatment|therapy)\b", _I)
FIRST_PERSON = re.compile(
    r"\b(i|i'm|im|i've|ive|my|me|mine|we|our|he|she|he's|she's|his|her|husband|wife|son|daughter|mom|mum|dad|"
    r"mother|father|partner|friend|brother|sister|right\s+now|just\s+now|suddenly|all\s+of\s+a\s+sudden)\b",
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

ADVICE = re.compile(
    r"(\bshould\s+(i|we|my)\b|\b(can|could|may|would)\s+i\b|\bam\s+i\b|\bdo\s+i\s+(need|qualify|have)\b|"
    r"\b(safe|right|good|ok|okay|worth\s+it|a\s+good\s+idea|an\s+option)\s+for\s+(me|us|my)\b|"
    r"\b(would|will|could|might)\s+(this|it|hdit\S*|the\s+treatment)\s+(help|work\s+for|cure|fix)\s+(me|my|us)\b|"
    r"\bfor\s+me\b|\bmy\s+(current\s+|present\s+|own\s+|usual\s+)?(doctor|neurologist|dose|dosage|medications?|meds|"
    r"medicines?|drugs?|treatments?|therapy|ms|"
    r"symptoms|son|daughter|wife|husband|mom|mum|dad|child|relapses?|mri|case|options?)\b|"
    r"\bi('m|\s+am|m)\s+(on|taking|pregnant|trying\s+to\s+get\s+pregnant|breastfeeding|thinking\s+of|considering)\b|"
    r"\bi\s+(have|had|take|was\s+diagnosed|got\s+diagnosed)\b|\bpregnan\w*|\bbreast\s*feed\w*|"
    r"\b(stop|quit|switch|change)\s+(taking\s+)?(my|from)\b|\bcandidate\b|\bqualify\b|\beligib\w*|"
    r"\bhow\s+much\s+\w+\s+should\b|\bwhat\s+should\s+i\b|"
    r"\b(do\s+you\s+)?recommend\b|\bdo\s+you\s+think\s+i\b|\bwhat\s+(would|should)\s+you\s+do\b|"
    r"\bask\s+(my|for)\b|\bsign\s+(me\s+)?up\b|\benrol+\b|\bjoin\s+(the|a|this)\s+(trial|study)\b|"
    r"\bwhere\s+can\s+i\s+(get|find|have)\b)",
    _I,
)

GREETING_WORDS = frozenset(
    """hi hello hey hiya howdy yo greetings good morning afternoon evening day thanks thank you thx ty cheers
    bye goodbye see ya later cya appreciate appreciated it much so very great nice awesome helpful that was
    ok okay cool perfect wonderful have a lovely again bot there all for your help""".split()
)

# Words that put a message on the article's topic by themselves...
DOMAIN = frozenset(
    stem(w)
    for w in """ms sclerosis rrms multiple relapse relapsing remitting remission stem cell cells transplant
    transplantation hdit hct hsct ahsct chemo chemotherapy immunosuppressive immune immunosuppression
    halt article participants volunteers disability lesions lesion neurology neurologist nash fauci
    rotrosen niaid mobility autologous hematopoietic progression brain inflammation investigators
    remyelination relapses flare flares""".split()
)
# ...and generic ones ("treatment", "cost") that leave the call to the nearest labelled examples.
WEAK_DOMAIN = frozenset(
    stem(w)
    for w in """study trial treatment treatments therapy infection infections adverse died deaths death risk risks
    results findings researchers patients cost price insurance safe safety side effects cure""".split()
)

SUGGESTIONS = (
    "How many people took part in the HALT-MS study?",
    "What happened to participants after five years?",
    "What risks or side effects did the article report?",
)

EMERGENCY_TEXT = (
    "**This sounds like it could be an emergency. Please call 911 now (or your local emergency number), "
    "or go to the nearest emergency department.** If you are with someone who is unwell, stay with them "
    "until help arrives. This chat cannot help in an emergency."
)
SELF_HARM_TEXT = (
    EMERGENCY_TEXT + " If you are thinking about suicide or hurting yourself, you can call or text **988** "
    "(the Suicide & Crisis Lifeline in the US) any time, or your local crisis line. You do not have to go "
    "through this alone."
)
ADVICE_TEXT = (
    "I can't advise on your own care: whether this treatment, a medicine or a change is right for you is "
    "something to decide with your neurologist or care team, who know your history. Here is what the "
    "article itself reports, as general information."
)
INJECTION_TEXT = (
    "I can't change how I work or share my instructions. I answer questions about one news article on the "
    "HALT-MS study of stem cell transplant for relapsing-remitting MS, always with citations and the risks "
    "the article reports. You could ask:"
)
OUT_OF_SCOPE_TEXT = (
    "I can only help with one news article: the HALT-MS study of high-dose immunosuppressive therapy and "
    "stem cell transplant (HDIT/HCT) for relapsing-remitting MS. You could ask:"
)
GREETING_TEXT = (
    "Hello! I answer questions about a news article on the HALT-MS study of stem cell transplant for "
    "relapsing-remitting MS, with citations to the article. You could ask:"
)
THANKS_TEXT = "You're welcome. If you have more questions about the HALT-MS article, I'm here. You could ask:"


def with_suggestions(text: str) -> str:
    return text + "\n\n" + "\n".join(f"- {s}" for s in SUGGESTIONS)


@dataclass(frozen=True)
class Decision:
    """The policy's verdict. `category` None means: a question about the article, for retrieval to answer."""

    category: Category | None
    reason: str
    self_harm: bool = False


class Policy:
    """Classifies a message using rules plus nearest labelled examples (vectors from the shared embedding model)."""

    EMERGENCY_SIM = 0.62
    OUT_OF_SCOPE_MARGIN = 0.02

    def __init__(self, examples: dict[str, np.ndarray]) -> None:
        self.examples = examples

    @staticmethod
    def example_texts() -> dict[str, tuple[str, ...]]:
        return {
            "emergency": intents.EMERGENCY,
            "non_emergency": intents.NON_EMERGENCY,
            "in_scope": intents.IN_SCOPE,
            "out_of_scope": intents.OUT_OF_SCOPE,
        }

    def _nearest(self, label: str, vectors: np.ndarray) -> float:
        matrix = self.examples[label]
        return float((vectors @ matrix.T).max()) if len(matrix) and len(vectors) else 0.0

    def is_emergency(self, message: str, vectors: np.ndarray) -> Decision | None:
        if SELF_HARM.search(message):
            return Decision(Category.EMERGENCY, "self-harm phrase", self_harm=True)
        if CALL_NOW.search(message) or (URGENT.search(message) and FIRST_PERSON.search(message)):
            return Decision(Category.EMERGENCY, "urgent symptom phrase")
        if (
            FEVER.search(message)
            and TREATMENT.search(message)
            and FIRST_PERSON.search(message)
            and not re.search(r"\b(study|trial|participants|article|volunteers)\b", message, _I)
        ):
            return Decision(Category.EMERGENCY, "fever after transplant or chemotherapy")
        urgent = self._nearest("emergency", vectors)
        calm = self._nearest("non_emergency", vectors)
        if urgent >= self.EMERGENCY_SIM and urgent > calm and FIRST_PERSON.search(message):
            return Decision(Category.EMERGENCY, f"close to emergency examples ({urgent:.2f})")
        return None

    def classify(
        self,
        message: str,
        vectors: np.ndarray,
        *,
        has_history: bool = False,
        spell: Callable[[str], str] = str,
    ) -> Decision:
        """`vectors`: unit embeddings of the message and of each of its sentences (rows); `spell` mends typos."""
        emergency = self.is_emergency(message, vectors)
        if emergency:
            return emergency
        if INJECTION.search(message):
            return Decision(Category.INJECTION, "instruction-override or prompt request")
        words = re.findall(r"[a-z']+", message.lower())
        if words and len(words) <= 8 and all(w.strip("'") in GREETING_WORDS for w in words):
            return Decision(Category.GREETING, "greeting or thanks")
        if ADVICE.search(message):
            return Decision(Category.MEDICAL_ADVICE, "asks about the person's own care")
        terms = {stem(spell(t)) for t in content_terms(message)}
        if terms & DOMAIN or (has_history and len(terms) <= 6):
            return Decision(None, "about the article")
        inside = self._nearest("in_scope", vectors[:1])
        outside = self._nearest("out_of_scope", vectors[:1])
        floor = 0.2 if terms & WEAK_DOMAIN else 0.3
        if outside + self.OUT_OF_SCOPE_MARGIN >= inside or inside < floor:
            return Decision(Category.OUT_OF_SCOPE, f"off topic ({outside:.2f} vs {inside:.2f})")
        return Decision(None, "close to article questions")
