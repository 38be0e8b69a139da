"""PII redaction on realistic patient messages, and the article's own vocabulary left alone."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.triage.redact import KINDS, Finding, find_pii, redact
from tests.conftest import KNOWLEDGE


@pytest.fixture(scope="module")
def public(nlp: Any) -> frozenset[str]:
    """The people the knowledge documents name, as the bot hands them to the store."""
    from bot.corpus.documents import load_knowledge
    from bot.corpus.library import Library
    from bot.corpus.vocabulary import load_vocabulary

    return Library(load_knowledge(KNOWLEDGE), nlp, load_vocabulary()).public_names


# (what a patient typed, what may be written to disk)
PATIENT_MESSAGES: list[tuple[str, str]] = [
    (
        "Hi, I'm Sarah Connor, DOB 04/12/1979, my MRN is 55821934 — should I stop Ocrevus?",
        "Hi, I'm [NAME], DOB [DOB], my MRN is [RECORD] — should I stop Ocrevus?",
    ),
    (
        "My name is jane doe and I have RRMS. Can I join HALT-MS?",
        "My name is [NAME] and I have RRMS. Can I join HALT-MS?",
    ),
    (
        "This is Mary. My neurologist Dr. Patel said I might qualify. Call me at (555) 123-4567.",
        "This is [NAME]. My neurologist Dr. [NAME] said I might qualify. Call me at [PHONE].",
    ),
    (
        "hello this is Tom O'Brien, email tom.obrien@example.co.uk, phone +44 20 7946 0958",
        "hello this is [NAME], email [EMAIL], phone [PHONE]",
    ),
    (
        "I live at 123 Main Street, Springfield, IL 62704 and my insurance ID is XJ-4482-119.",
        "I live at [ADDRESS] and my insurance ID is [RECORD].",
    ),
    (
        "My address is 45 Elm Ave, Apt 3. Do the 69% results apply to me?",
        "My address is [ADDRESS]. Do the 69% results apply to me?",
    ),
    (
        "Was born on March 14, 1985. Is HDIT/HCT safe at my age?\n- Jane",
        "Was born on [DOB]. Is HDIT/HCT safe at my age?\n- [NAME]",
    ),
    (
        "patient ID 5567, record number: AB-99812. What did Dr. Nash say about the 5-year results?",
        "patient ID [RECORD], record number: [RECORD]. What did Dr. Nash say about the 5-year results?",
    ),
    (
        "My SSN is 123-45-6789, does insurance cover the transplant?",
        "My SSN is [SSN], does insurance cover the transplant?",
    ),
    (
        "text me on 555.123.4567 or 5551234567 please. Thanks, Jane Doe",
        "text me on [PHONE] or [PHONE] please. Thanks, [NAME]",
    ),
    (
        "Mrs. Kowalski here. My daughter Anna has MS, she was born in 2001.",
        "Mrs. [NAME] here. My daughter [NAME] has MS, she was born in [DOB].",
    ),
    (
        "My birthday is 14th of March 1992 and my member number is 88321-02.",
        "My birthday is [DOB] and my member number is [RECORD].",
    ),
    ("Thank you so much!\nEmily Rose", "Thank you so much!\n[NAME]"),
    (
        "my wife Linda had a relapse on 2023-02-11. Her MS Society contact is Mr Brown.",
        "my wife [NAME] had a relapse on [DATE]. Her MS Society contact is Mr [NAME].",
    ),
    (
        "I am Carlos and my date of birth: 7/4/76. cell 07700 900123",
        "I am [NAME] and my date of birth: [DOB]. cell [PHONE]",
    ),
    (
        "My phone number is 555 0123 456, social security number 123 45 6789",
        "My phone number is [PHONE], social security number [SSN]",
    ),
    (
        "Diagnosed 03/14/2015. Reach me at +1 (617) 555-0199 or j.smith+ms@gmail.com\n\nRegards,\nJohn Smith",
        "Diagnosed [DATE]. Reach me at [PHONE] or [EMAIL]\n\nRegards,\n[NAME]",
    ),
    (
        "Ms. Jones, 9 N. Oak St. Apt 4B, zip code 02139. Is the trial still recruiting?",
        "Ms. [NAME], [ADDRESS], zip code [ADDRESS]. Is the trial still recruiting?",
    ),
    (
        "My medical record 000451288 says RRMS since 2012. Any news? — Jane D.",
        "My medical record [RECORD] says RRMS since 2012. Any news? — [NAME]",
    ),
    (
        "I'm Jessica McDonald-Smith, my husband Raj gets Tysabri. Could he do HDIT/HCT?",
        "I'm [NAME], my husband [NAME] gets Tysabri. Could he do HDIT/HCT?",
    ),
]

# Things patients ask about the article: nothing here is personal and nothing may change.
ARTICLE_QUESTIONS = [
    "What did Richard Nash, MD say about the 5-year results?",
    "Is it true that 69% survived without progression?",
    "The study had 24 volunteers aged 26 to 52 years with RRMS, right?",
    "How many people have MS: 400,000 in the US and 2.5 million worldwide?",
    "What is HDIT/HCT and how does HALT-MS compare to standard of care?",
    "Three participants died during the study - was it the treatment?",
    "What did Anthony S. Fauci, MD, director of NIAID say? And Dr. Fauci's view on a randomized trial?",
    "Daniel Rotrosen, MD said it may help patients who do not respond to existing therapies.",
    "Does the MS Society or the Multiple Sclerosis Foundation fund this?",
    "I'm worried about infections after 1 round of chemotherapy. Is that in the article?",
    "I'm 45 and I'm on Ocrevus. This is Important: is it better after 5 years?",
    "Results at 5 years: 69% (24 volunteers), follow-up of 5 years post treatment.",
    "Thanks!",
    "What is the best Treatment",
]


@pytest.mark.parametrize(("message", "expected"), PATIENT_MESSAGES, ids=[m[:30] for m, _ in PATIENT_MESSAGES])
def test_patient_messages_are_redacted(message: str, expected: str, public: frozenset[str]) -> None:
    assert redact(message, public) == expected


def test_no_fragment_of_personal_data_survives(public: frozenset[str]) -> None:
    """The digits and names from the messages above are gone, not just relabelled in part."""
    personal = [
        "Sarah", "Connor", "1979", "55821934", "Patel", "123-4567", "O'Brien", "example.co.uk", "7946",
        "62704", "XJ-4482", "Elm", "1985", "5567", "99812", "6789", "Kowalski", "Anna", "88321", "Emily",
        "Linda", "Carlos", "7/4/76", "900123", "0123", "617", "gmail", "John Smith", "Jones", "Oak", "02139",
        "000451288", "Jessica", "McDonald", "Raj",
    ]  # fmt: skip
    redacted = "\n".join(redact(message, public) for message, _ in PATIENT_MESSAGES)
    left = [p for p in personal if p in redacted]
    assert left == []


@pytest.mark.parametrize("question", ARTICLE_QUESTIONS)
def test_article_vocabulary_is_left_intact(question: str, public: frozenset[str]) -> None:
    assert redact(question, public) == question
    assert find_pii(question, public) == []


def test_people_the_documents_name_come_from_the_documents(public: frozenset[str]) -> None:
    assert redact("What did Dr. Nash say?") == "What did Dr. [NAME] say?", "without the documents, a name is a name"
    assert redact("What did Dr. Nash say?", public) == "What did Dr. Nash say?"


def test_the_whole_article_passes_through_unchanged() -> None:
    text = (KNOWLEDGE / "halt-ms-news.md").read_text(encoding="utf-8")
    assert find_pii(text) == []


def test_find_pii_reports_kind_and_exact_span() -> None:
    text = "Call (555) 123-4567 or mail a.b@example.org, MRN 1234567."
    found = find_pii(text)
    assert [(f.kind, text[f.start : f.end]) for f in found] == [
        ("PHONE", "(555) 123-4567"),
        ("EMAIL", "a.b@example.org"),
        ("RECORD", "1234567"),
    ]
    assert found[0] == Finding("PHONE", 5, 19)
    assert found[0].span == (5, 19)
    assert {f.kind for f in found} <= set(KINDS)


def test_labels_win_over_look_alike_patterns() -> None:
    """A ten-digit record number after "MRN" is a record, not a phone; a labelled birth date is a DOB."""
    assert redact("MRN 5551234567") == "MRN [RECORD]"
    assert redact("call 5551234567") == "call [PHONE]"
    assert redact("DOB: 1980-03-12, relapse 1990-01-01") == "DOB: [DOB], relapse [DATE]"


def test_names_need_an_introduction_title_or_sign_off() -> None:
    # Capitalised words alone are not names; the same words after "I'm" / a title / a sign-off are.
    assert redact("Sarah Connor asked about Ocrevus") == "Sarah Connor asked about Ocrevus"
    assert redact("I'm Sarah Connor") == "I'm [NAME]"
    assert redact("Dr Sarah Connor") == "Dr [NAME]"
    assert redact("Can I ask one more thing?\n\nSarah Connor") == "Can I ask one more thing?\n\n[NAME]"
    assert redact("Thanks Again") == "Thanks Again"
    assert redact("I am Not sure") == "I am Not sure"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello Sarah Connor! The article says 69% survived.", "Hello [NAME]! The article says 69% survived."),
        ("Spoke with Sarah Connor, she is safe.", "Spoke with [NAME], she is safe."),
        ("Called Mrs. Connor back on 555-123-4567", "Called Mrs. [NAME] back on [PHONE]"),
        ("Hi Doctor, thanks", "Hi Doctor, thanks"),
        ("Hi, I saw Dr. Nash on TV", "Hi, I saw Dr. Nash on TV"),
    ],
)
def test_greetings_and_staff_notes(text: str, expected: str, public: frozenset[str]) -> None:
    """Bot answers and staff notes are redacted too, so they name people in their own ways."""
    assert redact(text, public) == expected


@pytest.mark.parametrize(
    "hostile",
    [
        "born" + " :  " * 500,
        "Thanks" + " " * 1990 + "x",
        "Hi" + " " * 1998,
        "+1" + " 1" * 999,
        "a." * 1000,
        "a@" + "b." * 999,
        "MRN " + "A-" * 998,
        "I'm Sarah " * 200,
        "12 Main " * 250,
    ],
    ids=lambda s: repr(s[:12]),
)
def test_hostile_input_cannot_stall_redaction(hostile: str) -> None:
    """Every message is redacted on the request path; 2,000 crafted characters must not hang it."""
    started = time.perf_counter()
    redact(hostile)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(("message", "_"), PATIENT_MESSAGES)
def test_redaction_is_idempotent(message: str, _: str) -> None:
    once = redact(message)
    assert redact(once) == once


_sentences = st.sampled_from(["My number is {}.", "{}", "call {} after 5 years", "Reach me: {} (HALT-MS)"])


@settings(max_examples=150, deadline=None)
@given(
    template=_sentences,
    area=st.integers(200, 999),
    exchange=st.integers(200, 999),
    line=st.integers(0, 9999),
    style=st.sampled_from(
        ["({a}) {e}-{l}", "{a}-{e}-{l}", "{a}.{e}.{l}", "{a} {e} {l}", "{a}{e}{l}", "+1 {a} {e} {l}"]
    ),
)
def test_any_us_phone_format_is_removed(template: str, area: int, exchange: int, line: int, style: str) -> None:
    number = style.format(a=area, e=exchange, l=f"{line:04d}")
    out = redact(template.format(number))
    assert "[PHONE]" in out
    assert f"{line:04d}" not in out.replace("[PHONE]", "")


@settings(max_examples=150, deadline=None)
@given(
    user=st.from_regex(r"[a-z][a-z0-9._+-]{0,15}[a-z0-9]", fullmatch=True),
    domain=st.from_regex(r"[a-z][a-z0-9-]{0,10}\.(com|org|co\.uk|de|health)", fullmatch=True),
)
def test_any_email_is_removed(user: str, domain: str) -> None:
    address = f"{user}@{domain}"
    out = redact(f"Please write to {address}, thanks")
    assert out == "Please write to [EMAIL], thanks"
    assert not re.search(r"@", out)
