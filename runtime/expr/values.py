"""JSON value semantics shared by templates, filters, conditions and sorting.

Values are plain JSON-shaped Python data (None, bool, int, float, str, list, dict). `MISSING`
marks a field or variable that does not exist at all; most operations treat it like null, but
`is_null` tells them apart (upstream pins `is_null(missing)` as false).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

_NUMERIC = re.compile(r"\s*-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*\Z")


def is_number(value: Any) -> bool:
    # bool is an int subclass in Python but a distinct type in JSON.
    return type(value) in (int, float)


def format_number(value: float | int) -> str:
    """Numbers as serde_json prints them: `5`, `7.5`, and `5.0` for an integral float."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return "null"  # JSON has no NaN/inf; serde_json refuses to hold them at all
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = "-" if exp.startswith("-") else ""
        text = f"{mantissa}e{sign}{exp.lstrip('+-').lstrip('0') or '0'}"
    return text


def to_json_text(value: Any) -> str:
    """Compact JSON, keys in insertion order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def stringify(value: Any) -> str:
    """How a value renders inside a template (upstream B.2).

    null -> "", bools as true/false, numbers as text, strings verbatim, an array of only
    strings joined with ", " (so an empty array is ""), any other array or object as compact JSON.
    """
    if value is None or value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, list | tuple):
        if all(isinstance(v, str) for v in value):
            return ", ".join(value)
        return to_json_text(list(value))
    return to_json_text(value)


def truthy(value: Any) -> bool:
    """Condition truthiness (upstream B.8), extended to arrays and objects (non-empty)."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value not in ("", "false", "0")
    try:
        return len(value) > 0
    except TypeError:
        return True


def type_rank(value: Any) -> int:
    """Sort order across types: null < bool < number < string < array < object."""
    if value is None or value is MISSING:
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, int | float):
        return 2
    if isinstance(value, str):
        return 3
    if isinstance(value, list | tuple):
        return 4
    return 5


def values_equal(a: Any, b: Any) -> bool:
    """Typed JSON equality: a missing value equals null, 5 equals 5.0, true never equals 1."""
    if a is MISSING:
        a = None
    if b is MISSING:
        b = None
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    return bool(a == b)


def coerce_pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Condition operands: a numeric-looking string meets a number as a number, and a
    "true"/"false" string meets a bool as a bool (captured outputs arrive as text)."""
    if isinstance(a, str) and not isinstance(b, str):
        swapped_b, swapped_a = coerce_pair(b, a)
        return swapped_a, swapped_b
    if isinstance(b, str):
        if is_number(a) and _NUMERIC.match(b):
            return a, _number(b)
        if isinstance(a, bool) and b.strip() in ("true", "false"):
            return a, b.strip() == "true"
    return a, b


def _number(text: str) -> int | float:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


def numeric(value: Any) -> Any:
    """A numeric-looking string as its number; anything else unchanged."""
    if isinstance(value, str) and _NUMERIC.match(value):
        return _number(value)
    return value


def order(op: str, a: Any, b: Any) -> bool:
    """`< <= > >=`: numbers with numbers, strings with strings; anything else is false."""
    if is_number(a) and is_number(b):
        pass
    elif not (isinstance(a, str) and isinstance(b, str)):
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def compare(op: str, a: Any, b: Any, coerce: bool = False) -> bool:
    if coerce:
        a, b = coerce_pair(a, b)
    if op == "==":
        return values_equal(a, b)
    if op == "!=":
        return not values_equal(a, b)
    return order(op, a, b)


def sort_value(value: Any) -> tuple[int, Any]:
    """A key that orders non-null values of one type naturally and mixed types by rank.

    Arrays and objects compare by length, as upstream does; strings by code point, which is
    the same order as upstream's UTF-8 byte comparison.
    """
    rank = type_rank(value)
    if rank == 1:
        return rank, int(value)
    if rank in (2, 3):
        return rank, value
    if rank >= 4:
        return rank, len(value)
    return rank, 0
