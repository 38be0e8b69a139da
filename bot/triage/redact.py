"""Strip personal details from free text before it is logged, queued for staff or exported.

No offline NER model is available, so detection is a set of anchored regular expressions: names only where a
message introduces, titles or signs with one (so names quoted from the article stay), plus e-mails, phones,
dates, street addresses, record/ID numbers and SSNs. Each hit becomes a typed placeholder such as `[PHONE]`.
Labels that carry no identity ("my MRN is", "DOB:", "Dr.") are kept so staff can still read the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# The kinds of PII, each replaced by `[KIND]`.
EMAIL = "EMAIL"
SSN = "SSN"
RECORD = "RECORD"
DOB = "DOB"
PHONE = "PHONE"
ADDRESS = "ADDRESS"
DATE = "DATE"
NAME = "NAME"
KINDS: tuple[str, ...] = (EMAIL, SSN, RECORD, DOB, PHONE, ADDRESS, DATE, NAME)


@dataclass(frozen=True)
class Finding:
    """One piece of PII: its kind and the `[start, end)` character span it occupies in the text."""

    kind: str
    start: int
    end: int

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)

    @property
    def placeholder(self) -> str:
        return f"[{self.kind}]"


# ---------------------------------------------------------------------------------------------- e-mail, SSN

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")

_SSN_BARE = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
_SSN_LABELLED = re.compile(
    r"\b(?:SSN|SS\s?#|social\s+security(?:\s+(?:number|no\.?|#))?)\s*(?:is\s+|was\s+|[:#]\s*)?"
    r"(?P<v>\d{3}[\s.-]?\d{2}[\s.-]?\d{4})(?!\d)",
    re.IGNORECASE,
)

# ------------------------------------------------------------------------------------ record and ID numbers

_RECORD = re.compile(
    r"\b(?:MRN|(?:medical\s+)?record|chart|patient|hospital|insurance|member(?:ship)?|policy|subscriber"
    r"|health\s*card|NHS|medicare|medicaid|account|case)"
    r"(?:\s+(?:ID|number|num|no\.?|nr|#))*"
    r"\s*(?:is\s+|was\s+|[:#]\s*|(?:no\.?|number)\s*)?"
    r"(?P<v>(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{2,}[A-Z0-9])\b",
    re.IGNORECASE,
)
# A long bare run of digits in a patient message is an identifier (a count with commas, "1,500", is not one).
_LONG_NUMBER = re.compile(r"(?<![\w.,/-])\d{8,12}(?![\w/-]|[.,]\d)")
# "patient 5567" or "record AB-99812" needs an ID/number word; unambiguous labels (MRN, policy...) do not.
_RECORD_NEEDS_NOUN = re.compile(r"^(?:patient|record|chart|hospital|account|case|member|membership)$", re.I)

# ------------------------------------------------------------------------------------------------- phones

_PHONE_PATTERNS = (
    # North American: (555) 123-4567, 555.123.4567, 555-123-4567, 5551234567, +1 555 123 4567
    re.compile(r"(?<![\w+.-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-]?)\d{3}[\s.-]?\d{4}(?![\w-]|\.\d)"),
    # International with a country code: +44 20 7946 0958, 0044 20 7946 0958, +33 1 23 45 67 89
    re.compile(r"(?<![\w+.-])(?:\+|00)\d{1,3}(?:[\s.-]?\(?\d{1,5}\)?){2,6}(?![\w-]|\.\d)"),
    # National numbers with a trunk zero: 020 7946 0958, 07700 900123
    re.compile(r"(?<![\w+.-])0\d{2,4}[\s.-]?\d{3,4}[\s.-]?\d{3,4}(?![\w-]|\.\d)"),
)
_PHONE_LABELLED = re.compile(
    r"\b(?:phone|cell|mobile|tel|telephone|landline|whatsapp|fax|call\s+me\s+(?:at|on)|text\s+me\s+(?:at|on)"
    r"|reach\s+me\s+(?:at|on))(?:\s+(?:number|no\.?|#))?\s*(?:is\s+|[:#]\s*)?"
    r"(?P<v>\+?\(?\d[\d\s().-]{5,18}\d)(?![\w-])",
    re.IGNORECASE,
)

# -------------------------------------------------------------------------------------------------- dates

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:[0-3]?\d)(?:st|nd|rd|th)?"
_FULL_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})"  # 03/14/1985, 14.03.85
    r"|\d{4}-\d{1,2}-\d{1,2}"  # 1985-03-14
    rf"|{_MONTH}\s+{_DAY},?\s+\d{{4}}"  # March 14, 1985
    rf"|{_DAY}\s+(?:of\s+)?{_MONTH},?\s+\d{{4}})"  # 14th of March 1985
)
_PARTIAL_DATE = (
    rf"(?:{_MONTH}\s+{_DAY}(?!\d)|{_DAY}\s+(?:of\s+)?{_MONTH}|{_MONTH},?\s+\d{{4}}"
    r"|\d{1,2}[/.-]\d{1,2}(?![/.-]?\d)|(?:19|20)\d{2}(?!\d))"
)
_DATE = re.compile(rf"(?<![\w/.-]){_FULL_DATE}(?![\w/-]|\.\d)", re.IGNORECASE)
_DOB = re.compile(
    r"\b(?:born|DOB|D\.O\.B\.?|date\s+of\s+birth|birth\s*date|birthdate|birthday|b-?day)\b"
    r"(?:[ \t]*[:#,-]|\s+(?:is|was|on|in|of|the|at|my|i)\b)*\s*"  # each connector starts unambiguously
    rf"(?P<v>{_FULL_DATE}|{_PARTIAL_DATE})(?![\w/-]|\.\d)",
    re.IGNORECASE,
)

# ----------------------------------------------------------------------------------------------- addresses

_STREET_ABBR = r"(?:St|Ave|Av|Rd|Blvd|Ln|Dr|Ct|Pl|Ter|Terr|Cir|Pkwy|Hwy|Sq|Wy|Cres)"
_STREET_FULL = (
    r"(?:street|avenue|road|boulevard|lane|drive|court|place|terrace|circle|parkway|highway|square|way"
    r"|crescent|close|alley|trail|row)"
)
_UNIT = r"(?:,?\s*(?i:apt|apartment|suite|ste|unit|flat|fl|floor|room|rm|#)\.?\s*(?:#\s*)?[A-Za-z0-9-]{1,6}\b)?"
_CITY_STATE_ZIP = r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2},?\s*[A-Z]{2}\s*\d{5}(?:-\d{4})?\b)?"
_STREET_WORD = r"(?:[A-Z][a-z]+|\d{1,3}(?:st|nd|rd|th)|[NSEW]\.?)"
_ADDRESS_PATTERNS = (
    # 123 Main Street, 45 Elm Ave, Apt 3, 9 N. Oak St
    re.compile(
        rf"(?<![\w.,])\d{{1,6}}[A-Za-z]?\s+(?:{_STREET_WORD}\s+){{1,4}}(?:{_STREET_ABBR}\b\.?|(?i:{_STREET_FULL})\b)"
        rf"{_UNIT}{_CITY_STATE_ZIP}"
    ),
    # all lower case, which patients type: "123 main street" (at most two words, none of them filler words)
    re.compile(
        rf"(?<![\w.,])\d{{1,6}}\s+(?:(?!(?:the|a|an|my|to|of|on|in|down|up|more|miles|years|days|weeks|hours)\b)"
        rf"[a-z]+\s+){{1,2}}{_STREET_FULL}\b{_UNIT}"
    ),
    re.compile(r"\bP\.?\s?O\.?\s+Box\s+\d+\b", re.IGNORECASE),
)
_ZIP_LABELLED = re.compile(
    r"\b(?:zip|postcode|postal\s+code)(?:\s+code)?\s*(?:is\s+|:\s*)?(?P<v>\d{5}(?:-\d{4})?)\b", re.IGNORECASE
)

# --------------------------------------------------------------------------------------------------- names

_NAME_WORD = r"(?:(?:Mc|Mac|O['\u2019])?[A-Z][a-z]+(?:-[A-Z][a-z]+)?)"
_NAME = rf"{_NAME_WORD}(?:[ \t]+(?:[A-Z]\.[ \t]+)?{_NAME_WORD}){{0,2}}(?:[ \t]+[A-Z]\.)?"
_NAME_ANY_CASE = r"[A-Za-z][a-z'\u2019-]+(?:[ \t]+[A-Za-z][a-z'\u2019-]+){0,2}"

# Capitalised words that follow "I'm" / "this is" / "Thanks," without being names.
_NOT_NAMES = frozenset(
    re.findall(
        r"[a-z]+",
        """
        a an the and or but so not no yes very just really also still only always never already
        currently now here there back sorry glad happy fine good ok okay well sure new old from with
        in on at to for of by about thanks thank hi hello hey dear please again much lots all
        everyone everybody doctor doc nurse team staff wondering worried scared curious interested
        confused concerned afraid nervous anxious excited hoping thinking considering planning
        trying looking asking writing reading going having taking feeling tired living diagnosed
        pretty quite is are was were be been what why how when where who which can could would
        should will do does did have has had am i my me you your we our it its this that these those
        patient caregiver mother mom dad father wife husband son daughter partner dr mr mrs ms miss
        mx prof multiple sclerosis ms rrms ocrevus tysabri kesimpta lemtrada
        mavenclad gilenya monday tuesday wednesday thursday friday saturday sunday january february
        march april may june july august september october november december important interesting
        great amazing scary confusing hard difficult helpful awesome wonderful frustrating terrible
        huge exciting encouraging promising crazy weird strange true right wrong correct god jesus
        lord best regards cheers sincerely love care wishes question questions help info information
        """,
    )
)

_SENTENCE_START = r"(?:^|(?<=[.!?;:,\n])\s*|(?<=\b[Hh]i)\s+|(?<=\b[Hh]ello)\s+|(?<=\b[Hh]ey)\s+)"
_INTRO_STRONG = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name['\u2019]s|name\s*[:=]|call\s+me|i\s+go\s+by|signed|patient\s+name\s*(?:is|:)?)"
    rf"\s*(?P<v>{_NAME_ANY_CASE})",
    re.IGNORECASE,
)
_INTRO_IM = re.compile(rf"\b(?i:i['\u2019]?m|i\s+am)[ \t]+(?P<v>{_NAME})")
_INTRO_THIS_IS = re.compile(rf"{_SENTENCE_START}(?i:this\s+is|it['\u2019]s)[ \t]+(?P<v>{_NAME})", re.MULTILINE)
# "Ms" only capitalised as written ("MS Society" is not a title); the others also in lower case.
_TITLED = re.compile(rf"\b(?:[Mm]rs?|Ms|ms\.|Miss|Mx|[Dd]r|[Pp]rof|[Dd]octor)\.?[ \t]+(?P<v>{_NAME})")
_RELATION = re.compile(
    r"\bmy\s+(?:wife|husband|partner|son|daughter|mother|mom|mum|father|dad|sister|brother|friend|child"
    r"|neurologist|doctor|nurse|physician|gp|carer|caregiver|boyfriend|girlfriend|fianc[eé]e?)"
    r"(?:['\u2019]s\s+name\s+is)?"
    rf",?[ \t]+(?P<v>(?-i:{_NAME}))",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"(?:\A|(?<=[.!?\n]))\s*(?i:hi|hello|hey|dear|good\s+(?:morning|afternoon|evening)|welcome|thanks|thank\s+you)"
    rf"(?:[ \t]*,)?[ \t]+(?P<v>{_NAME})"
)
# Staff notes and patients reporting contact: "spoke with Sarah Connor", "I emailed Dr Patel".
_CONTACTED = re.compile(
    rf"\b(?i:spoke|speaking|talked|talking|met|meeting|spoken)[ \t]+(?i:with|to)[ \t]+(?P<v>{_NAME})"
    rf"|\b(?i:called|phoned|emailed|e-mailed|texted|messaged|contacted|visited|saw)[ \t]+(?P<w>{_NAME})"
)
_SIGNOFF_WORD = (
    r"(?:thanks(?:\s+(?:again|so\s+much|a\s+lot|in\s+advance))?|thank\s+you(?:\s+(?:so\s+much|again))?|thx|ty"
    r"|cheers|regards|best(?:\s+wishes|\s+regards)?|kind\s+regards|warm\s+regards|sincerely|yours(?:\s+truly)?"
    r"|love|take\s+care|xoxo|bye)"
)
_SIGNOFF = re.compile(
    rf"(?:\A|(?<=[.!?\n]))\s*(?i:{_SIGNOFF_WORD})(?:[ \t]*[,!.])?\s*(?:[-\u2013\u2014~]\s*)?"
    rf"(?P<v>{_NAME})\.?(?:[ \t]*[.!])?\s*\Z"
)
_DASH_SIGNOFF = re.compile(rf"(?:^|\s)[-\u2013\u2014~]+[ \t]*(?P<v>{_NAME})\.?\s*\Z")
_LAST_LINE_NAME = re.compile(rf"\n[ \t]*(?P<v>{_NAME})\.?[ \t]*\Z")


def _trim_name(
    text: str, start: int, end: int, *, keep_article_people: bool, public: frozenset[str]
) -> tuple[int, int] | None:
    """Shorten a candidate name to the words before the first non-name word; None when nothing is left."""
    words = list(re.finditer(r"[^\s]+", text[start:end]))
    kept: list[re.Match[str]] = []
    for word in words:
        bare = word.group().strip(".,'\u2019").lower()
        if bare in _NOT_NAMES:
            break
        kept.append(word)
    if not kept:
        return None
    # People the documents name and quote: a patient asking "what did Dr. Smith say?" is not sharing PII.
    if keep_article_people and kept[-1].group().strip(".,'\u2019s").lower() in public:
        return None
    return start + kept[0].start(), start + kept[-1].end()


def _groups(pattern: re.Pattern[str], text: str, *groups: str | int) -> Iterator[tuple[int, int]]:
    """The span of the first of `groups` (default: the whole match) that took part in each match."""
    for match in pattern.finditer(text):
        for group in groups or (0,):
            if match.start(group) >= 0:
                yield match.span(group)
                break


def _names(text: str, public: frozenset[str] = frozenset()) -> Iterator[tuple[int, int]]:
    sources: list[tuple[re.Pattern[str], bool]] = [
        (_INTRO_STRONG, False),
        (_INTRO_IM, False),
        (_INTRO_THIS_IS, False),
        (_TITLED, True),
        (_RELATION, False),
        (_GREETING, False),
        (_CONTACTED, True),
        (_SIGNOFF, False),
        (_DASH_SIGNOFF, False),
        (_LAST_LINE_NAME, False),
    ]
    for pattern, keep_article_people in sources:
        for start, end in _groups(pattern, text, *(g for g in ("v", "w") if g in pattern.groupindex)):
            trimmed = _trim_name(text, start, end, keep_article_people=keep_article_people, public=public)
            if trimmed:
                yield trimmed


def _records(text: str) -> Iterator[tuple[int, int]]:
    for match in _RECORD.finditer(text):
        label = match.group(0)[: match.start("v") - match.start()]
        first_word = label.split()[0] if label.split() else ""
        has_noun = re.search(r"\b(?:ID|number|num|no\.?|nr)\b|#", label, re.IGNORECASE)
        if _RECORD_NEEDS_NOUN.match(first_word.strip(":#")) and not has_noun:
            continue
        yield match.span("v")


def _phones(text: str) -> Iterator[tuple[int, int]]:
    for pattern in _PHONE_PATTERNS:
        for match in pattern.finditer(text):
            digits = sum(ch.isdigit() for ch in match.group())
            if 10 <= digits <= 15:
                yield match.span()
    for match in _PHONE_LABELLED.finditer(text):
        if 7 <= sum(ch.isdigit() for ch in match.group("v")) <= 15:
            yield match.span("v")


def _addresses(text: str) -> Iterator[tuple[int, int]]:
    for pattern in _ADDRESS_PATTERNS:
        yield from _groups(pattern, text)
    yield from _groups(_ZIP_LABELLED, text, "v")


# In the order a conflict between overlapping hits is settled: labelled hits before bare patterns.
_DETECTORS: tuple[tuple[str, Callable[[str], Iterator[tuple[int, int]]]], ...] = (
    (EMAIL, lambda t: _groups(_EMAIL, t)),
    (SSN, lambda t: _groups(_SSN_BARE, t)),
    (SSN, lambda t: _groups(_SSN_LABELLED, t, "v")),
    (RECORD, _records),
    (DOB, lambda t: _groups(_DOB, t, "v")),
    (PHONE, _phones),
    (RECORD, lambda t: _groups(_LONG_NUMBER, t)),
    (ADDRESS, _addresses),
    (DATE, lambda t: _groups(_DATE, t)),
    (NAME, _names),
)


def find_pii(text: str, public_names: frozenset[str] = frozenset()) -> list[Finding]:
    """Every PII span in `text`, non-overlapping and in reading order.

    Overlaps are settled by detector order (an ID after "MRN" beats the phone pattern it also fits), then
    by length. `public_names` (lower case) are people the knowledge documents name: not PII after a title.
    """
    ranked = [
        (rank, -(end - start), start, Finding(kind, start, end))
        for rank, (kind, detect) in enumerate(_DETECTORS)
        for start, end in (_names(text, public_names) if kind == NAME else detect(text))
        if end > start
    ]
    ranked.sort(key=lambda r: r[:3])
    chosen: list[Finding] = []
    for *_, cand in ranked:
        if all(cand.end <= f.start or cand.start >= f.end for f in chosen):
            chosen.append(cand)
    return sorted(chosen, key=lambda f: f.start)


def redact(text: str, public_names: frozenset[str] = frozenset()) -> str:
    """`text` with each piece of PII replaced by its placeholder: "call 555-123-4567" -> "call [PHONE]"."""
    out: list[str] = []
    pos = 0
    for finding in find_pii(text, public_names):
        out.append(text[pos : finding.start])
        out.append(finding.placeholder)
        pos = finding.end
    out.append(text[pos:])
    return "".join(out)
