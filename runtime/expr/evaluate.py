"""Evaluate expression ASTs: render templates, resolve paths, run filters and conditions.

Filters run once per map item, so an expression is compiled once into nested Python closures
(cached per AST object) instead of being walked node by node for every item; comparisons
against a literal get specialised closures. Conditions use the same compiler with coercion on.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from prodigy.runtime.expr.ast import (
    And,
    Call,
    Compare,
    Exists,
    Expr,
    Field,
    In,
    Literal,
    Not,
    Or,
    Path,
    Ref,
    Segment,
    Template,
    Text,
)
from prodigy.runtime.expr.functions import compile_call
from prodigy.runtime.expr.modifiers import SH, sh_word
from prodigy.runtime.expr.modifiers import render as render_list
from prodigy.runtime.expr.values import (
    MISSING,
    compare,
    is_number,
    stringify,
    truthy,
    values_equal,
)

Getter = Callable[[Any], Any]
_NUM = (int, float)
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class Scope(Mapping[str, Any]):
    """Root variables by name, falling back to a parent scope (a map agent's scope sees the
    workflow's variables; a foreach body sees its step's)."""

    __slots__ = ("_parent", "_vars")

    def __init__(self, variables: Mapping[str, Any] | None = None,
                 parent: Mapping[str, Any] | None = None) -> None:
        self._vars: Mapping[str, Any] = variables if variables is not None else {}
        self._parent = parent

    def __getitem__(self, key: str) -> Any:
        if key in self._vars:
            return self._vars[key]
        if self._parent is None:
            raise KeyError(key)
        return self._parent[key]

    def __contains__(self, key: object) -> bool:
        return key in self._vars or (self._parent is not None and key in self._parent)

    def __iter__(self) -> Iterator[str]:
        seen = set(self._vars)
        yield from self._vars
        if self._parent is not None:
            yield from (k for k in self._parent if k not in seen)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def child(self, variables: Mapping[str, Any]) -> Scope:
        return Scope(variables, self)


# ------------------------------------------------------------------------------ resolution


@lru_cache(maxsize=4096)
def _flat_candidates(path: Path) -> tuple[tuple[str, tuple[Segment, ...]], ...]:
    """Flat keys to try, longest first: `a.b.c`, then `a.b` walking `c`, then `a` walking
    `b.c`. Upstream stores some values under dotted names (`map.successful`, `item.name`)."""
    return tuple((str(Path(path.root, path.segments[:k])), path.segments[k:])
                 for k in range(len(path.segments), -1, -1))


def _walk(value: Any, segments: tuple[Segment, ...]) -> tuple[bool, Any]:
    for seg in segments:
        if isinstance(value, (dict, Mapping)):  # dict is tried first: the hot path
            key = seg if isinstance(seg, str) else str(seg)
            if key not in value:
                return False, None
            value = value[key]
        elif isinstance(value, list | tuple):
            # `items.0` reaches the same element as `items[0]`.
            index = seg if isinstance(seg, int) else int(seg) if seg.isdigit() else -1
            if not 0 <= index < len(value):
                return False, None
            value = value[index]
        else:
            # A string is never re-parsed as JSON here (upstream B.1): values stay typed.
            return False, None
    return True, value


def resolve(path: Path, scope: Mapping[str, Any]) -> tuple[bool, Any]:
    """Look a path up: the whole dotted name as a flat key first, then walk from the root."""
    for key, rest in _flat_candidates(path):
        if key in scope:
            found, value = _walk(scope[key], rest)
            if found:
                return True, value
    return False, None


# ------------------------------------------------------------------------------- templates


def render_template(template: Template, scope: Mapping[str, Any]) -> str:
    """Interpolate a template. Unresolved references stay in the text as `${path}` so the
    shell can still expand its own variables; `${x:-d}` falls back to `d` when x is
    undefined or null. A reference with modifiers renders its list through them."""
    out: list[str] = []
    for part in template.parts:
        if isinstance(part, Text):
            out.append(part.value)
            continue
        found, value = resolve(part.path, scope)
        if found and value is not None:
            modifiers = part.modifiers
            out.append(stringify(value) if modifiers is None else render_list(value, modifiers))
        elif part.default is not None:
            out.append(part.default)
        elif found:  # null: nothing, or with `:sh` an empty word, so `rm ${x:sh}` stays `rm ''`
            out.append(sh_word(None) if part.modifiers == SH else "")
        else:
            out.append(str(part))
    return "".join(out)


# ------------------------------------------------------------------- filters and conditions

_CACHE: dict[tuple[int, bool], tuple[Expr, Getter]] = {}
_CACHE_LIMIT = 2048


def compile_expr(expr: Expr, coerce: bool = False) -> Callable[[Any], bool]:
    """A predicate for `expr`: over a map item (filters) or a Scope (conditions, coerce=True).

    Cached by object identity (the cache keeps the node alive, so an id is never reused
    while cached): hashing a frozen tree for every item would cost more than evaluating it.
    """
    key = (id(expr), coerce)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is expr:
        return hit[1]
    fn = _as_bool(expr, coerce)
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[key] = (expr, fn)
    return fn


def eval_filter(expr: Expr, item: Any) -> bool:
    return bool(compile_expr(expr)(item))


def filter_items(items: Iterable[Any], expr: Expr) -> list[Any]:
    keep = compile_expr(expr)
    return [item for item in items if keep(item)]


def eval_condition(expr: Expr, scope: Mapping[str, Any]) -> bool:
    return bool(compile_expr(expr, coerce=True)(scope))


def field_getter(path: Path) -> Getter:
    """Read a field of an item; MISSING when absent (a non-object item has no fields)."""
    root, segments = path.root, (path.root, *path.segments)
    if not path.segments:
        def get_top(item: Any) -> Any:
            if type(item) is dict:
                return item.get(root, MISSING)
            found, value = _walk(item, segments)
            return value if found else MISSING
        return get_top

    def get(item: Any) -> Any:
        found, value = _walk(item, segments)
        return value if found else MISSING
    return get


_BOOLEAN = (Compare, In, Call, Not, And, Or, Exists)


def _as_bool(node: Expr, coerce: bool) -> Getter:
    get = _compile(node, coerce)
    if isinstance(node, _BOOLEAN):
        return get
    return lambda x: truthy(get(x))


def _compile(node: Expr, coerce: bool) -> Getter:
    if isinstance(node, Literal):
        value = node.value
        return lambda _x: value
    if isinstance(node, Field):
        return field_getter(node.path)
    if isinstance(node, Ref):
        path, modifiers = node.path, node.modifiers

        def ref(scope: Any) -> Any:
            found, value = resolve(path, scope)
            return value if found else MISSING

        def listed(scope: Any) -> Any:  # a list with modifiers: its rendered text
            found, value = resolve(path, scope)
            return render_list(value, modifiers) if found and modifiers is not None else MISSING
        return ref if modifiers is None else listed
    if isinstance(node, Exists):
        exists_path = node.path
        return lambda scope: resolve(exists_path, scope)[0]
    if isinstance(node, Not):
        inner = _as_bool(node.operand, coerce)
        return lambda x: not inner(x)
    if isinstance(node, And | Or):
        return _logical(node, coerce)
    if isinstance(node, Compare):
        return _compare(node, coerce)
    if isinstance(node, In):
        return _member(node, coerce)
    return compile_call(node, _compile(node.args[0], coerce),
                        [_compile(a, coerce) for a in node.args[1:]], coerce)


def _logical(node: And | Or, coerce: bool) -> Getter:
    parts = [_as_bool(op, coerce) for op in node.operands]
    if isinstance(node, And):
        if len(parts) == 2:
            a, b = parts
            return lambda x: a(x) and b(x)
        return lambda x: all(p(x) for p in parts)
    if len(parts) == 2:
        a, b = parts
        return lambda x: a(x) or b(x)
    return lambda x: any(p(x) for p in parts)


def _compare(node: Compare, coerce: bool) -> Getter:
    left, op = _compile(node.left, coerce), node.op
    if not coerce and isinstance(node.right, Literal):
        fast = _compare_literal(left, op, node.right.value)
        if fast is not None:
            return fast
    right = _compile(node.right, coerce)
    return lambda x: compare(op, left(x), right(x), coerce)


def _compare_literal(left: Getter, op: str, c: Any) -> Getter | None:
    """Specialised comparisons against a literal: the hot path of map filters."""
    if isinstance(c, str):
        if op == "==":
            return lambda x: left(x) == c
        if op == "!=":
            return lambda x: left(x) != c
        order = _ORDER[op]
        return lambda x: type(v := left(x)) is str and order(v, c)
    if is_number(c):
        if op == "==":
            return lambda x: type(v := left(x)) in _NUM and v == c
        if op == "!=":
            return lambda x: not (type(v := left(x)) in _NUM and v == c)
        order = _ORDER[op]
        return lambda x: type(v := left(x)) in _NUM and order(v, c)
    if c is None and op in ("==", "!="):
        want = op == "=="
        return lambda x: ((v := left(x)) is None or v is MISSING) is want
    return None


def _member(node: In, coerce: bool) -> Getter:
    get = _compile(node.operand, coerce)
    consts = [v.value for v in node.values]
    if not coerce and all(isinstance(c, str) for c in consts):
        pool = frozenset(consts)
        return lambda x: type(v := get(x)) is str and v in pool

    def member(x: Any) -> bool:
        value = get(x)
        if coerce:
            return any(compare("==", value, c, True) for c in consts)
        return any(values_equal(value, c) for c in consts)
    return member

