"""The QA item format: the `QAItem` model, its JSONL and CSV parsers and the loader.

Every parser collects ALL problems of a file, each with its line and field, into one `QAFileError`.
`docs/evaluation.md` describes the format.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
)

from bot.reply import Category

_CATEGORY_NAMES = ", ".join(c.value for c in Category)


class Turn(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["user", "assistant"]
    content: StrictStr


class QAItem(BaseModel):
    """One question of a QA set. Only `id` and `question` are required; see docs/evaluation.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr = Field(min_length=1)
    question: StrictStr = Field(min_length=1)
    history: tuple[Turn, ...] = ()
    expected_category: tuple[Category, ...] = ()
    must_include: tuple[tuple[StrictStr, ...], ...] = ()
    must_not_include: tuple[StrictStr, ...] = ()
    reference_quotes: tuple[StrictStr, ...] = ()
    reference_context_ids: tuple[StrictStr, ...] = ()
    expect_caveat: StrictBool | None = None
    tags: tuple[StrictStr, ...] = ()
    source: StrictStr | None = Field(None, min_length=1, description="Where a question from outside came from.")

    _line: int = PrivateAttr(default=0)

    @property
    def line(self) -> int:
        """Where the item starts in its file (1-based; 0 when built in code)."""
        return self._line

    @field_validator("id", "question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("expected_category", mode="before")
    @classmethod
    def _categories(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            if not value:
                raise ValueError("must name at least one category (or leave the field out)")
            for v in value:
                if isinstance(v, str) and v not in {c.value for c in Category}:
                    raise ValueError(f"{v!r} is not a category; use one of: {_CATEGORY_NAMES}")
        return value

    @field_validator("must_include", mode="before")
    @classmethod
    def _groups(cls, value: Any) -> Any:
        """A bare string in the list is a group of one."""
        if isinstance(value, list | tuple):
            return [[v] if isinstance(v, str) else v for v in value]
        return value

    @field_validator("must_include")
    @classmethod
    def _groups_not_empty(cls, value: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        for i, group in enumerate(value):
            if not group:
                raise ValueError(f"group {i} is empty; each group needs at least one string")
            if any(not s.strip() for s in group):
                raise ValueError(f"group {i} has an empty string, which would match any answer")
        return value

    @field_validator("must_not_include")
    @classmethod
    def _regexes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for i, pattern in enumerate(value):
            if not pattern:
                raise ValueError(f"pattern {i} is empty, which would match every answer")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {i} {pattern!r} is not a valid regular expression: {exc}") from exc
        return value

    @field_validator("reference_quotes", "reference_context_ids", "tags")
    @classmethod
    def _no_empty_strings(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not v.strip() for v in value):
            raise ValueError("must not contain empty strings")
        return value

    @property
    def expects(self) -> frozenset[Category]:
        return frozenset(self.expected_category)


class QAFileError(ValueError):
    """A QA file (or its references into the knowledge base) that cannot be used; `errors` lists all."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} problem(s):\n" + "\n".join(self.errors))


def _loc(parts: Iterable[int | str]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(item)"


def _describe(exc: ValidationError) -> list[str]:
    msgs = []
    for e in exc.errors():
        loc = _loc(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = "is required but missing"
        elif e["type"] == "extra_forbidden":
            msg = "is not a known field (typo?)"
        msgs.append(f"field '{loc}': {msg}")
    return msgs


def _build(obj: Any, line: int, errors: list[str], seen: dict[str, int]) -> QAItem | None:
    if not isinstance(obj, dict):
        errors.append(
            f"line {line}: expected a JSON object with at least 'id' and 'question', got {type(obj).__name__}"
        )
        return None
    try:
        item = QAItem.model_validate(obj)
    except ValidationError as exc:
        errors.extend(f"line {line}: {m}" for m in _describe(exc))
        return None
    if item.id in seen:
        errors.append(f"line {line}: field 'id': {item.id!r} is already used on line {seen[item.id]}")
        return None
    seen[item.id] = line
    item._line = line
    return item


def _finish(items: list[QAItem], errors: list[str]) -> list[QAItem]:
    """Every problem at once, or the items: an empty file is a problem too (nothing is skipped silently)."""
    if not items and not errors:
        errors.append("the file has no questions")
    if errors:
        raise QAFileError(errors)
    return items


def parse_jsonl(text: str) -> list[QAItem]:
    """Items from JSONL text (one object a line; blank lines allowed). QAFileError lists ALL problems."""
    errors: list[str] = []
    items: list[QAItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        item = _build(obj, number, errors, seen)
        if item is not None:
            items.append(item)
    return _finish(items, errors)


_LIST_FIELDS = (
    "history",
    "must_include",
    "must_not_include",
    "reference_quotes",
    "reference_context_ids",
    "tags",
)
_CSV_COLUMNS = frozenset(QAItem.model_fields)


def _csv_cell(name: str, cell: str) -> Any:
    """One CSV cell to the JSON value it stands for. Raises ValueError with a reason."""
    text = cell.strip()
    if name in ("id", "question"):
        return cell
    if name == "expect_caveat":
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise ValueError(f"{cell!r} is not true/false")
    if name == "expected_category":
        if text.startswith("["):
            return json.loads(text)
        return [p.strip() for p in text.split("|")] if "|" in text else text
    if name in _LIST_FIELDS:
        if text.startswith("["):
            return json.loads(text)
        if name == "history":
            raise ValueError("history must be a JSON array of {role, content} objects")
        if name == "must_not_include":
            return [text]  # one regular expression: '|' is alternation there, not a separator
        return [p.strip() for p in text.split("|") if p.strip()]
    return cell


def parse_csv(text: str) -> list[QAItem]:
    """Items from CSV text with the JSONL field names as columns. Raises QAFileError listing ALL problems."""
    errors: list[str] = []
    items: list[QAItem] = []
    seen: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise QAFileError(["line 1: the CSV file is empty; it needs a header row with at least id,question"]) from None
    except csv.Error as exc:
        raise QAFileError([f"line 1: not valid CSV ({exc})"]) from exc
    names = [h.strip() for h in header]
    unknown = [n for n in names if n not in _CSV_COLUMNS]
    if unknown:
        errors.append(f"line 1: column(s) {', '.join(map(repr, unknown))} are not known fields (typo?)")
    for required in ("id", "question"):
        if required not in names:
            errors.append(f"line 1: the required column '{required}' is missing")
    if errors:
        raise QAFileError(errors)
    previous_end = reader.line_num
    while True:
        start = previous_end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"line {start}: not valid CSV ({exc})")
            break
        previous_end = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(names):
            errors.append(f"line {start}: {len(row)} cells, but the header has {len(names)} columns")
            continue
        obj: dict[str, Any] = {}
        bad = False
        for name, cell in zip(names, row, strict=True):
            if not cell.strip() and name not in ("id", "question"):
                continue  # an empty cell means the field is absent
            try:
                obj[name] = _csv_cell(name, cell)
            except (ValueError, json.JSONDecodeError) as exc:
                reason = f"not valid JSON ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else str(exc)
                errors.append(f"line {start}: field '{name}': {reason}")
                bad = True
        if bad:
            continue
        item = _build(obj, start, errors, seen)
        if item is not None:
            items.append(item)
    return _finish(items, errors)


def load_items(path: Path | str) -> list[QAItem]:
    """Load a QA set: `.csv` as CSV, anything else as JSONL. QAFileError lists ALL problems, by line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QAFileError([f"{path}: no such file"]) from None
    except UnicodeDecodeError as exc:
        raise QAFileError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc
    except OSError as exc:
        raise QAFileError([f"{path}: cannot be read ({exc.strerror})"]) from exc
    return parse_csv(text) if path.suffix.lower() == ".csv" else parse_jsonl(text)
