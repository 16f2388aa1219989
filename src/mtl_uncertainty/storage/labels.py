"""How a number is written where people read it (job folder names, report rows): short, never ambiguous.

A float written with more significant digits than people type (an Optuna trial's
1.3397250122983564) is cut to 4 significant digits (1.34), or to more where that would make two
values of one sweep look alike; numbers as people type them (1e-4, 0.5, 16) keep their text. Only
the text changes: a run computes with the value it was given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SHORT_DIGITS = 4
TYPED_DIGITS = 6
"""A float written with more significant digits than this was drawn by a program, and is shortened."""
MAX_DIGITS = 17
"""Enough significant digits to tell any two different floats apart."""

_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+(?=[eE]))([eE][+-]?\d+)?")


def significant_digits(text: str) -> int:
    """How many significant digits a number's text carries (leading zeros not counted)."""
    mantissa = re.split("[eE]", text.lstrip("+-"))[0].replace(".", "")
    return len(mantissa.lstrip("0"))


def short_number(text: str, digits: int = SHORT_DIGITS) -> str:
    """`text`, or, for a float written with more than TYPED_DIGITS significant digits, that float to `digits`."""
    if not _FLOAT.fullmatch(text) or significant_digits(text) <= TYPED_DIGITS:
        return text
    return f"{float(text):.{digits}g}"


def distinct_digits(texts: Iterable[str]) -> int:
    """The fewest significant digits (SHORT_DIGITS or more) that keep different texts different."""
    values = set(texts)
    for digits in range(SHORT_DIGITS, MAX_DIGITS):
        if len({short_number(t, digits) for t in values}) == len(values):
            return digits
    return MAX_DIGITS
