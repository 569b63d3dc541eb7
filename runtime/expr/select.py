"""The map data pipeline's selection steps: `json_path` selection and `sort_by` ordering.

jsonpath-ng is imported here rather than by the compiler alone because selection runs at run
time; the compiler only validates the same expression text up front.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from prodigy.runtime.expr.ast import Path, SortSpec
from prodigy.runtime.expr.evaluate import field_getter
from prodigy.runtime.expr.values import MISSING, sort_value


def sort_items(items: list[Any], spec: SortSpec) -> list[Any]:
    """Items ordered by `spec` (upstream C.2 semantics); the input list is not modified.

    One stable sort per key, least significant key first, gives a multi-key sort in which
    each key keeps its own direction. Nulls (and missing fields) are pulled out of each pass
    and put first or last as the key says, whatever the direction, as upstream does.
    """
    ordered = list(items)
    for key in reversed(spec.keys):
        values = _values(ordered, key.path)
        null = [i for i, v in enumerate(values) if v is None or v is MISSING]
        if null:
            present = [i for i, v in enumerate(values) if v is not None and v is not MISSING]
        else:
            present = list(range(len(values)))
        kinds = set(map(type, values)) - _NULLS
        if not (kinds <= _NUMBERS or kinds == _STRINGS):
            # Mixed or structured values: order by type rank, then within a type. Plain
            # numbers or plain strings (the usual case) compare as they are: much faster.
            values = [sort_value(v) for v in values]
        # Sorting indices by a precomputed key list keeps the comparisons on plain values;
        # reverse=True keeps ties in input order, so every pass is stable.
        present.sort(key=values.__getitem__, reverse=key.descending)
        order = null + present if key.nulls_first else present + null
        ordered = [ordered[i] for i in order]
    return ordered


_NULLS = frozenset({type(None), type(MISSING)})
_NUMBERS = frozenset({int, float})
_STRINGS = frozenset({str})


def _values(items: list[Any], path: Path) -> list[Any]:
    if not path.segments:
        root, get = path.root, field_getter(path)
        # Inline the common case (top-level field of an object): no call per item.
        return [it.get(root, MISSING) if type(it) is dict else get(it) for it in items]
    get = field_getter(path)
    return [get(it) for it in items]


@lru_cache(maxsize=256)
def _compiled_json_path(expr: str) -> Any:
    from jsonpath_ng.ext.parser import parse  # deferred: only map phases with json_path need it

    return parse(expr)


def select_json_path(data: Any, expr: str) -> list[Any]:
    """The values `expr` selects from `data`; an empty path selects the data itself (the
    items of an array, or the one value otherwise). Raises ValueError for an invalid path,
    which the compiler has already ruled out for paths written in a workflow."""
    if not expr.strip():
        return list(data) if isinstance(data, list) else [data]
    try:
        compiled = _compiled_json_path(expr)
    except Exception as exc:  # jsonpath-ng raises several unrelated exception types
        raise ValueError(f"invalid json_path {expr!r}: {exc}") from exc
    return [match.value for match in compiled.find(data)]
