"""What the bot hands back for one message: the answer, its category, its citations and caveats."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    """Every reply has exactly one of these; staff triage and evaluation key on the names."""

    ANSWERED = "answered"
    NOT_IN_ARTICLE = "not_in_article"
    MEDICAL_ADVICE = "medical_advice"
    EMERGENCY = "emergency"
    OUT_OF_SCOPE = "out_of_scope"
    INJECTION = "injection"
    GREETING = "greeting"
    LANGUAGE = "unsupported_language"


@dataclass(frozen=True)
class Citation:
    """One `[n]` marker: the passage it points at and the verbatim sentence(s) quoted from it."""

    n: int
    passage_id: str
    quote: str
    anchor: str
    title: str
    score: float
    passage_text: str = ""
    doc_id: str = ""
    source_url: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Reply:
    """The bot's answer to one message (Markdown with `[n]` markers) and everything needed to check it.

    `caveats` is what is shown with this answer: at most a one-line cited summary of the risks that travel with
    the claims it makes, then the not-medical-advice footer. `all_caveats` is every risk of the cited documents,
    cited, for a "Show all risks" disclosure. `emergency` names the kind of emergency (stroke, suicide, ...)
    when `category` is EMERGENCY; `language` is the language the message was written in (ISO 639-1).
    """

    answer: str
    category: Category
    citations: tuple[Citation, ...] = ()
    caveats: tuple[str, ...] = ()
    all_caveats: tuple[str, ...] = ()
    emergency: str | None = None
    language: str = "en"
    latency_ms: float = 0.0
    turn_id: int | None = None
    #: Not escalated, but the message showed distress or a possible crisis: the reply ends with where to find help.
    support: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "category": str(self.category),
            "citations": [c.to_dict() for c in self.citations],
            "caveats": list(self.caveats),
            "all_caveats": list(self.all_caveats),
            "emergency": self.emergency,
            "language": self.language,
            "latency_ms": round(self.latency_ms, 2),
            "turn_id": self.turn_id,
            "support": self.support,
        }

    @property
    def full_text(self) -> str:
        """Answer plus caveats, as a patient reads it in a plain-text channel."""
        if not self.caveats:
            return self.answer
        return self.answer + "\n\n" + "\n".join(f"> ⚠️ {c}" for c in self.caveats)
