"""The filter/condition functions: `contains(f, s)`, `matches(f, re)`, `is_null(f)`, ...

The first argument is the value under test (usually an item field); a value of the wrong type
makes a function false rather than an error, so one odd item never aborts a whole map phase.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from prodigy.runtime.expr.ast import Call, Literal
from prodigy.runtime.expr.values import MISSING, is_number, numeric, values_equal

Getter = Callable[[Any], Any]


@lru_cache(maxsize=512)
def regex(pattern: str) -> re.Pattern[str] | None:
    """A compiled regex, or None when invalid (the compiler rejects invalid literal ones, so
    only a pattern that arrives through a variable can be invalid here)."""
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError):
        return None


def _contains(value: Any, needle: Any) -> bool:
    if isinstance(value, str):
        return isinstance(needle, str) and needle in value
    # On an array, membership: `tags contains 'urgent'` (upstream only handled strings).
    if isinstance(value, list | tuple):
        return any(values_equal(v, needle) for v in value)
    return False


def _starts_with(value: Any, prefix: Any) -> bool:
    return isinstance(value, str) and isinstance(prefix, str) and value.startswith(prefix)


def _ends_with(value: Any, suffix: Any) -> bool:
    return isinstance(value, str) and isinstance(suffix, str) and value.endswith(suffix)


def _matches(value: Any, pattern: Any) -> bool:
    if not (isinstance(value, str) and isinstance(pattern, str)):
        return False
    compiled = regex(pattern)
    return compiled is not None and compiled.search(value) is not None


def _length(value: Any, size: Any) -> bool:
    """`length(f, N)`: the length of a string (characters), array or object equals N."""
    if not isinstance(value, str | list | tuple | dict):
        return False
    return is_number(size) and len(value) == size


def _is_null(value: Any) -> bool:
    return value is None  # explicit null only: a missing field is not null here (G.22)


def _is_not_null(value: Any) -> bool:
    return value is not None and value is not MISSING


UNARY: dict[str, Callable[[Any], bool]] = {
    "is_null": _is_null,
    "is_not_null": _is_not_null,
    "is_number": is_number,
    "is_string": lambda v: isinstance(v, str),
    "is_bool": lambda v: isinstance(v, bool),
    "is_array": lambda v: isinstance(v, list | tuple),
    "is_object": lambda v: isinstance(v, dict),
}
BINARY: dict[str, Callable[[Any, Any], bool]] = {
    "contains": _contains,
    "starts_with": _starts_with,
    "ends_with": _ends_with,
    "matches": _matches,
    "length": _length,
}


def compile_call(node: Call, first: Getter, rest: list[Getter], coerce: bool) -> Getter:
    """A closure evaluating `node`; `first`/`rest` are the compiled arguments."""
    if node.name in UNARY:
        test = UNARY[node.name]
        return lambda x: test(first(x))
    binary = BINARY[node.name]
    second_node = node.args[1]
    if node.name == "matches" and isinstance(second_node, Literal):
        # The common case: a literal pattern, compiled once (and validated by the compiler).
        pattern = second_node.value
        compiled = regex(pattern) if isinstance(pattern, str) else None
        if compiled is None:
            return lambda _x: False
        search = compiled.search
        return lambda x: isinstance(v := first(x), str) and search(v) is not None
    second = rest[0]
    if coerce and node.name == "length":
        # Conditions see captured text: `length(${x}, '3')` compares as numbers.
        return lambda x: _length(first(x), numeric(second(x)))
    return lambda x: binary(first(x), second(x))
