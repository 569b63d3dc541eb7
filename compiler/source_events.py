"""The fast way in: libyaml's events composed straight into data and a source map.

PyYAML composes events into node objects (each with two Mark objects) that the loader then walks
again to build the data: for a 100,000-item list that was most of a second and most of the
compile's memory. Here one loop over libyaml's events builds the data and the compact
`SourceMap` at once. It takes only the plain road: on anything unusual (a YAML error, an anchor,
alias, explicit tag or merge key, a duplicate or non-scalar key, a root that is not a mapping or
a sequence, nesting deeper than MAX_DEPTH) it answers None and
`source.load_text` composes the careful way, which words every diagnostic. So a document
either loads here exactly as the careful path would load it, or not at all. More than
MAX_NODES values raise TooLarge (P106), as the careful path's count of distinct nodes does.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from typing import Any

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from prodigy.compiler.source_map import CONTAINER, STYLE_CODE, SourceMap
from prodigy.runtime.errors import ProdigyError

# A bound on alias expansion: a "billion laughs" document must not exhaust memory.
MAX_NODES = 2_000_000
# A bound on nesting. PyYAML's composer recurses per level (Python's stack gives out near 490)
# and its scanner is quadratic in the flow depth (5000 `[` take seconds), so a deeper document
# is rejected as soon as it is seen; real workflows nest a few dozen levels at most.
MAX_DEPTH = 200

BOOL, INT, FLOAT, NULL, MERGE = (f"tag:yaml.org,2002:{name}"
                                 for name in ("bool", "int", "float", "null", "merge"))


class CoreResolver(yaml.resolver.Resolver):
    """YAML 1.2 core schema: no yes/no/on/off booleans, no sexagesimal numbers."""

    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}


_CORE_RULES: list[tuple[str, str, str]] = [
    (BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (FLOAT, r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+.0123456789"),
    (NULL, r"^(?:~|null|Null|NULL|)$", "~nN"),
    (MERGE, r"^(?:<<)$", "<"),
]
for _tag, _pattern, _first in _CORE_RULES:
    CoreResolver.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
CoreResolver.yaml_implicit_resolvers.setdefault("", []).append((NULL, re.compile(r"^$")))


# A `\ud800` escape in a double-quoted string makes a lone surrogate: not a character, so the
# plan could never be written as UTF-8. Only double-quoted scalars can hold one.
SURROGATE = re.compile("[\ud800-\udfff]")


def scalar_value(tag: str | None, value: str) -> object:
    """A scalar's Python value from its resolved tag (an unknown tag keeps the text).

    Raises ValueError for an explicit tag the text does not fit (`!!int x`) and for an integer
    past Python's 4300-digit conversion limit: `source._Builder` words both."""
    if tag == BOOL:
        return value.lower() == "true"
    if tag == INT:
        if value.startswith(("0o", "0x")):
            return int(value[2:], 8 if value[1] == "o" else 16)
        return int(value)
    if tag == FLOAT:
        # YAML spells infinity/NaN `.inf`/`.nan`; Python's float() wants them without the dot.
        return float(value.lower().replace(".inf", "inf").replace(".nan", "nan"))
    if tag == NULL:
        return None
    return value


def compose_fast(text: str, file: str) -> tuple[object, SourceMap] | None:
    """(data, source map) of a plain document, or None: take the careful path."""
    if not yaml.__with_libyaml__:
        return None
    try:
        return _compose(text, file)
    except (yaml.YAMLError, RecursionError, ValueError):
        return None


class TooLarge(ProdigyError):
    """More than MAX_NODES values written out (no alias involved): the careful path would
    take tens of seconds to say the same, so the fast path reports it itself."""

    def __init__(self, line: int, column: int) -> None:
        self.line, self.column = line, column


class _Refused(ProdigyError):
    """The document needs the careful path."""


def _compose(text: str, file: str) -> tuple[object, SourceMap] | None:
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    get: Callable[[], Any] = CParser(text).get_event  # events are untyped in the stubs
    smap = SourceMap(file, text)
    marks, styles, children, key_ids = smap.marks, smap.styles, smap.children, smap.key_ids
    record, style_of = marks.extend, styles.append
    # As Resolver.resolve for a plain scalar: the rules for its first character (the core
    # schema has no rules for any character, the `None` entry).
    rules = CoreResolver.yaml_implicit_resolvers
    if type(get()) is not StreamStartEvent or type(get()) is not DocumentStartEvent:
        return None
    # Open containers, innermost last: [data, child ids, key ids (None for a sequence),
    # pending key (a mapping between a key and its value), node id].
    stack: list[list[Any]] = []
    root: object = None
    count = 0
    while True:
        event = get()
        kind = type(event)
        top = stack[-1] if stack else None
        if kind is ScalarEvent:
            if event.anchor is not None or event.tag is not None:
                return None
            start, end, value = event.start_mark, event.end_mark, event.value
            if event.style == '"' and SURROGATE.search(value):
                return None
            record((start.line, start.column, end.line, end.column, start.index, end.index))
            style_of(STYLE_CODE[event.style])
            node = len(styles) - 1
            if top is not None and top[2] is not None and top[3] is None:
                if (event.implicit[0] and value == "<<") or value in top[2]:
                    return None  # a merge key or a duplicate: the careful path words it
                top[2][value] = node
                top[3] = value
                continue
            count += 1
            data: object = value
            if event.implicit[0]:
                for tag, pattern in rules.get(value[0] if value else "", ()):
                    if pattern.match(value):
                        data = scalar_value(tag, value)
                        break
        elif kind is SequenceStartEvent or kind is MappingStartEvent:
            if event.anchor is not None or event.tag is not None or len(stack) >= MAX_DEPTH:
                return None
            if top is not None and top[2] is not None and top[3] is None:
                return None  # a container as a mapping key
            start = event.start_mark
            record((start.line, start.column, 0, 0, start.index, 0))
            style_of(CONTAINER)
            node = len(styles) - 1
            count += 1
            if kind is SequenceStartEvent:
                data, items = [], array("q")
                children[node] = items
                stack.append([data, items, None, None, node])
            else:
                values: dict[str, int] = {}
                data = {}
                children[node] = values
                stack.append([data, values, key_ids.setdefault(node, {}), None, node])
        elif kind is SequenceEndEvent or kind is MappingEndEvent:
            closed = stack.pop()
            end, at = event.end_mark, closed[4] * 6
            marks[at + 2], marks[at + 3], marks[at + 5] = end.line, end.column, end.index
            continue
        elif kind is DocumentEndEvent:
            rest = type(get())
            return (root, smap) if rest is StreamEndEvent and isinstance(root, dict | list) \
                else None
        else:
            return None  # an alias, or anything else: the careful path words it
        if count > MAX_NODES:
            raise TooLarge(event.start_mark.line, event.start_mark.column)
        if top is None:
            root = data
        elif top[2] is None:
            top[0].append(data)
            top[1].append(node)
        else:
            top[0][top[3]] = data
            top[1][top[3]] = node
            top[3] = None

