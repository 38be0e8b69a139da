"""The risks that travel with every claim about the treatment, each tied to the article sentence that states it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.corpus.documents import Passage

FOOTER = "This is education about one news article, not medical advice. Talk to your neurologist about your own care."

# A sentence about the treatment (its effects, the study of it); answers citing one get the full caveat set.
TREATMENT_TOPIC = re.compile(
    r"HDIT|HCT|HALT-MS|transplant|stem cell|chemotherapy|immunosuppressive|treatment|therap|remission|"
    r"participants|volunteers|investigators|the study|trial|mobility|adverse|infection|died|deaths|risk|"
    r"safe|side.?effect|complication|danger",
    re.IGNORECASE,
)
# Claims of benefit: never shown without the risks (tests and evaluation check this invariant).
BENEFIT = re.compile(
    r"69%|remission|mobility|more effective|improvements?|stabiliz|promise|encouraging|survived without",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CaveatRule:
    """A plain-language caveat and the phrases locating the article sentence(s) that ground it."""

    key: str
    text: str
    evidence: tuple[str, ...]


CAVEAT_RULES: tuple[CaveatRule, ...] = (
    CaveatRule("investigational", "HDIT/HCT is an investigational treatment", ("investigational combination",)),
    CaveatRule(
        "small_study",
        "The study was small (24 volunteers) and did not directly compare HDIT/HCT with standard care; "
        "the researchers call for a large, randomized trial to do that",
        ("24 volunteers", "large, randomized trial"),
    ),
    CaveatRule(
        "deaths",
        "Three participants died during the study; according to the study, none of the deaths were due to "
        "the treatment",
        ("Three participants died",),
    ),
    CaveatRule(
        "adverse_events",
        "There were adverse events such as infections, which the study describes as minimal and expected",
        ("Adverse events, such as infections",),
    ),
    CaveatRule(
        "confirmation",
        "The benefits and risks need further evaluation, and the findings need confirming in larger studies",
        ("further evaluation of the benefits and risk", "confirmed in larger studies"),
    ),
    CaveatRule(
        "population",
        "It was studied in one type of MS: people with relapsing-remitting MS who still had active disease "
        "despite medication",
        ("still experiencing active inflammation",),
    ),
)


@dataclass(frozen=True)
class Grounding:
    """Where a caveat's evidence stands: the passage and the verbatim sentence."""

    passage: Passage
    sentence: str


def ground_caveats(passages: list[Passage]) -> dict[str, tuple[Grounding, ...]]:
    """Find each rule's evidence sentences; a rule whose evidence is missing from knowledge/ is dropped, not faked."""
    grounded: dict[str, tuple[Grounding, ...]] = {}
    for rule in CAVEAT_RULES:
        found = []
        for phrase in rule.evidence:
            match = next(
                (Grounding(p, s) for p in passages for s in p.sentences if phrase.lower() in s.lower()),
                None,
            )
            if match is None:
                break
            found.append(match)
        else:
            grounded[rule.key] = tuple(found)
    return grounded
