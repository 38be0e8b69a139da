"""The spaCy side of safety: medspaCy target rules for symptom and risk concepts, and ConText for their context.

`add_safety_pipes(nlp)` runs once on the caller's English pipeline. Concepts come from `data/concepts.yaml` (lay
words, misspellings); ConText gets medspaCy's default rules plus `data/context.yaml` (historical "years ago",
hypothetical "what if", general questions about a study or a drug's side effects).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from spacy.language import Language
from spacy.tokens import Doc, Span

DATA = Path(__file__).resolve().parent / "data"
TARGET_PIPE = "medspacy_target_matcher"
CONTEXT_PIPE = "medspacy_context"
#: Concepts go to their own span group, so the caller's named entities (doc.ents) are left as the NER made them.
SPAN_GROUP = "safety"
#: Tokens between a negation and the concept it negates, at most ("not having any chest pain": 2).
NEGATION_REACH = 5
_INABILITY = frozenset({"ca", "can", "could", "wo", "would", "unable"})
#: ConText categories that mean "not happening now to someone here".
CANCELLING = frozenset({"NEGATED_EXISTENCE", "HISTORICAL", "HYPOTHETICAL", "GENERAL"})


@dataclass(frozen=True)
class Concept:
    kind: str
    strength: str
    patterns: tuple[str, ...]


@lru_cache(maxsize=1)
def concepts() -> dict[str, Concept]:
    raw: dict[str, Any] = yaml.safe_load((DATA / "concepts.yaml").read_text(encoding="utf-8"))
    return {
        kind: Concept(kind, str(spec.get("strength", "strong")), tuple(str(p) for p in spec["patterns"]))
        for kind, spec in raw.items()
    }


@lru_cache(maxsize=1)
def context_rules() -> tuple[dict[str, str], ...]:
    raw: list[dict[str, str]] = yaml.safe_load((DATA / "context.yaml").read_text(encoding="utf-8"))
    return tuple(raw)


#: Modules medspaCy imports but this helper never uses: their code runs on first use instead of at every start.
DEFERRED = ("nltk",)
#: What the import system reads of a module already in `sys.modules` at every `import` statement, and what
#: `inspect` reads of every loaded module (wordfreq finds its data with `inspect.stack()`): set before it runs.
_IMPORT_ATTRIBUTES = frozenset(
    {"__spec__", "__name__", "__class__", "__dict__", "__file__", "__loader__", "__package__", "__cached__"}
)
_load_lock = threading.Lock()


class _RunsOnFirstUse(types.ModuleType):
    """A real module whose code runs when something first reads from it. The standard library's `LazyLoader`
    runs it as soon as an `import` statement names it (CPython 3.11 reads `__spec__` to check for a module that
    is still initialising), so that is served here without running anything."""

    def __getattribute__(self, attribute: str) -> Any:
        if attribute in _IMPORT_ATTRIBUTES:
            return super().__getattribute__(attribute)
        with _load_lock:
            if type(self) is _RunsOnFirstUse:
                spec = super().__getattribute__("__spec__")
                object.__setattr__(self, "__class__", types.ModuleType)  # from here on, a plain module
                spec.loader.exec_module(self)
        return getattr(self, attribute)


def defer_unused_imports(names: tuple[str, ...] = DEFERRED) -> None:
    """medspaCy imports QuickUMLS, and QuickUMLS imports NLTK (which imports SciPy's statistics and scikit-learn)
    for a stop-word list it reads only when a QuickUMLS matcher is built. This helper builds none, so NLTK's code
    runs on first use, not at import: about 4 s of every start and 120 MB of memory. A module already imported,
    or not installed, is left alone."""
    for name in names:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        module.__class__ = _RunsOnFirstUse
        sys.modules[name] = module


def add_safety_pipes(nlp: Language) -> None:
    """Add the sentencizer, the concept target matcher and ConText (idempotent)."""
    defer_unused_imports()
    import medspacy  # noqa: F401  (registers the medspaCy factories)
    from medspacy.context import ConTextRule
    from medspacy.target_matcher import TargetRule

    # medspaCy's ConText keeps an empty token matcher when every rule is a regex; spaCy warns on each message.
    warnings.filterwarnings("ignore", message=r"\[W036\]")
    if "sentencizer" not in nlp.pipe_names and "senter" not in nlp.pipe_names:
        # Before the parser, so sentences are punctuation sentences (the parser respects preset boundaries).
        nlp.add_pipe("sentencizer", first=True)
    if TARGET_PIPE not in nlp.pipe_names:
        matcher = nlp.add_pipe(TARGET_PIPE, config={"result_type": "group", "span_group_name": SPAN_GROUP})
        matcher.add(  # type: ignore[attr-defined]
            [
                TargetRule(literal=f"{c.kind}:{i}", category=c.kind.upper(), pattern=pattern)
                for c in concepts().values()
                for i, pattern in enumerate(c.patterns)
            ]
        )
    if CONTEXT_PIPE not in nlp.pipe_names:
        context = nlp.add_pipe(CONTEXT_PIPE, config={"input_span_type": "group", "span_group_name": SPAN_GROUP})
        context.add(  # type: ignore[attr-defined]
            [
                ConTextRule(
                    literal=rule["literal"],
                    category=rule["category"],
                    pattern=rule["pattern"],
                    direction=rule.get("direction", "BIDIRECTIONAL"),
                )
                for rule in context_rules()
            ]
        )


def modifiers(ent: Span, inside: set[int] | None = None) -> frozenset[str]:
    """The ConText categories that modify one matched concept.

    A modifier made of words inside a concept ("n't" in "can't breathe", "wasnt" in "wishes she wasnt here") is
    part of the symptom's own wording, not context, and is ignored.
    """
    inside = inside if inside is not None else set(range(ent.start, ent.end))
    out = set()
    for m in getattr(ent._, "modifiers", ()) or ():
        start, end = m.modifier_span
        if any(i in inside for i in range(start, end)):
            continue
        # A negation negates what is near it: "I don't see the point, I want to kill myself" is not negated.
        gap = ent.start - end if end <= ent.start else start - ent.end
        if m.category == "NEGATED_EXISTENCE" and gap > NEGATION_REACH:
            continue
        # "can't move his left side", "couldn't lift her arm": inability, a symptom, not a negation.
        if m.category == "NEGATED_EXISTENCE" and start > 0 and ent.doc[start - 1].lower_ in _INABILITY:
            continue
        out.add(str(m.category))
    return frozenset(out)


@dataclass(frozen=True)
class Finding:
    """One concept found in a message: its kind, its text, the sentence, and the context that modifies it."""

    kind: str
    strength: str
    text: str
    sentence: str
    context: frozenset[str]

    @property
    def current(self) -> bool:
        return not (self.context & CANCELLING)


def findings(doc: Doc) -> list[Finding]:
    """Every concept medspaCy's target matcher found in `doc`, with its ConText modifiers."""
    table = concepts()
    found: list[Finding] = []
    spans = list(doc.spans.get(SPAN_GROUP, ()))
    inside = {i for ent in spans for i in range(ent.start, ent.end)}
    for ent in spans:
        kind = ent.label_.lower()
        if kind not in table:
            continue
        found.append(Finding(kind, table[kind].strength, ent.text, ent.sent.text, modifiers(ent, inside)))
    return found
