"""Decoding and evaluating the expressions stored in node params, on the driver side.

Params are frozen (JSON lists became tuples), while the expression codec reads JSON lists, so
values are thawed before decoding. A bare string is a template without variables by the
codec's definition, so it renders as itself without a decode.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from prodigy.runtime.expr import Template, eval_condition, from_json, render_template
from prodigy.runtime.nodes import thaw


@lru_cache(maxsize=8192)
def _decode(encoded: Any) -> Any:
    return from_json(thaw(encoded))


def _decoded(encoded: Any) -> Any:
    try:
        return _decode(encoded)
    except TypeError:  # unhashable (a dict somewhere inside): decode without the cache
        return from_json(thaw(encoded))


def render(encoded: Any, scope: Mapping[str, Any]) -> str:
    """An encoded template as text; None renders as the empty string."""
    if encoded is None:
        return ""
    if isinstance(encoded, str):
        return encoded
    template = _decoded(encoded)
    if not isinstance(template, Template):
        raise ValueError(f"expected a template, got {type(template).__name__}")
    return render_template(template, scope)


def render_optional(encoded: Any, scope: Mapping[str, Any]) -> str | None:
    return None if encoded is None else render(encoded, scope)


def test(encoded: Any, scope: Mapping[str, Any]) -> bool:
    """Evaluate an encoded `when:` condition (a template is tested for truthy text)."""
    expr = _decoded(encoded)
    if isinstance(expr, Template):
        text = render_template(expr, scope).strip().lower()
        return text not in ("", "false", "0", "null", "no")
    return eval_condition(expr, scope)
