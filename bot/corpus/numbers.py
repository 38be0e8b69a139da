"""Numbers as a text states them, canonical: digits or number words ("1,500" -> "1500", "Seven" -> "7")."""

from __future__ import annotations

import re

# Not part of a word or a name ("B27", "COVID-19", "SARS-CoV-2"), but a range's end is a number ("26-52").
_NUMBER = re.compile(r"(?<![A-Za-z0-9.,])(?<![A-Za-z]-)(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)")
_UNITS = {
    "zero": 0, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_NUMBER_WORD = re.compile(
    r"\b(?:("
    + "|".join(_TENS)
    + r")(?:[-\s]("
    + "|".join(k for k in _UNITS if k not in ("zero",))
    + r"|one))?|("
    + "|".join(_UNITS)
    + r"))\b",
    re.IGNORECASE,
)
_ONES = {**_UNITS, "one": 1}


def _canonical(raw: str) -> str:
    value = float(raw.replace(",", ""))
    return str(int(value)) if value.is_integer() else f"{value:g}"


def numbers(text: str, *, words: bool = True) -> set[str]:
    """The numbers in `text`, canonical ("1,500" -> "1500", "12%" -> "12", "Seven" -> "7" when `words`).

    "one" is not counted as a number word (it is mostly a pronoun: "no one", "one of them")."""
    found = {_canonical(m.group(1)) for m in _NUMBER.finditer(text)}
    if words:
        for m in _NUMBER_WORD.finditer(text):
            tens, unit, alone = m.group(1), m.group(2), m.group(3)
            if alone:
                found.add(str(_UNITS[alone.lower()]))
            else:
                found.add(str(_TENS[tens.lower()] + (_ONES[unit.lower()] if unit else 0)))
    return found
