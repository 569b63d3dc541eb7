"""Property tests: rendering and re-parsing generated ASTs is the identity, and no input text
makes a parser raise (it returns registered diagnostics instead)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from prodigy.compiler.expressions import (
    check_json_path,
    parse_condition,
    parse_filter,
    parse_sort,
    parse_template,
)
from prodigy.runtime.diagnostics import CODES
from prodigy.runtime.expr import Scope, eval_condition, eval_filter, from_json, to_json
from prodigy.runtime.expr.ast import (
    COMPARE_OPS,
    KEYWORDS,
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
    SortKey,
    SortSpec,
    Template,
    Text,
    Var,
)

SETTINGS = settings(max_examples=300, deadline=None)
# Recursive strategies can take hypothesis a while to describe; that is not a failure.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

# ------------------------------------------------------------------------------ templates

_text = st.text(alphabet="x {}.-:$\n\"'é\\", min_size=1, max_size=12)
_tname = st.text(alphabet="ab1_-:$ {*%#/", min_size=1, max_size=6).filter(
    lambda s: ":-" not in s)
_tkey = st.text(alphabet="ab1.:$ {*", min_size=1, max_size=6).filter(
    lambda s: ":-" not in s and not s.isdigit())
_tpath = st.builds(Path, _tname, st.lists(
    st.one_of(_tname, _tkey, st.integers(0, 99)), max_size=3).map(tuple))
_default = st.none() | st.text(alphabet="ab :-${\n", max_size=6)
_part = st.one_of(st.builds(Text, _text), st.builds(Var, _tpath, _default))
_NAME_CHAR = re.compile(r"[A-Za-z0-9_]")


def _normalise(parts: list[Any]) -> Template:
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, Text) and merged and isinstance(merged[-1], Text):
            merged[-1] = Text(merged[-1].value + part.value)
        else:
            merged.append(part)
    return Template(tuple(merged))


def _expressible(template: Template) -> bool:
    """Texts the template syntax cannot write: `$name` in text (always a variable), and a
    text ending in `$` before a variable (it would read as the escape `$${`) unless the
    variable has a bare form that nothing after it extends."""
    parts = template.parts
    for i, part in enumerate(parts):
        if isinstance(part, Text) and re.search(r"\$[A-Za-z0-9_]", part.value):
            return False
        if isinstance(part, Text) and part.value.endswith("$") and i + 1 < len(parts):
            var = parts[i + 1]
            assert isinstance(var, Var)
            bare = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+", var.path.root)
            if var.default is not None or var.path.segments or not bare:
                return False
            after = parts[i + 2] if i + 2 < len(parts) else None
            if isinstance(after, Text) and _NAME_CHAR.match(after.value):
                return False
    return True


@SETTINGS
@given(st.lists(_part, max_size=6).map(_normalise))
def test_template_roundtrip(template: Template) -> None:
    assume(_expressible(template))
    parsed, diags = parse_template(str(template))
    assert not diags
    assert parsed == template
    assert from_json(to_json(template)) == template


# ---------------------------------------------------------------------------- expressions

_name = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,6}", fullmatch=True).filter(
    lambda s: s.lower() not in KEYWORDS)
_key = st.one_of(_name, st.integers(0, 50), st.text(max_size=5))
_epath = st.builds(Path, _name, st.lists(_key, max_size=3).map(tuple))
_ref_path = st.builds(Path, _name, st.lists(st.one_of(_name, st.integers(0, 50)),
                                            max_size=3).map(tuple)).filter(
    lambda p: not p.segments or p.segments[-1] != "exists")
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
_literal = st.builds(Literal, _scalar)


def _exprs(leaf: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    def extend(inner: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
        return st.one_of(
            st.builds(Not, inner),
            st.builds(And, st.lists(inner, min_size=2, max_size=3).map(tuple)),
            st.builds(Or, st.lists(inner, min_size=2, max_size=3).map(tuple)),
            # A field compared with a field is not expressible in a filter: a bare word
            # on the right of a field is text, as upstream reads `severity == high`.
            st.builds(Compare, st.sampled_from(COMPARE_OPS), inner, inner).filter(
                lambda c: not (isinstance(c.left, Field) and isinstance(c.right, Field))),
            st.builds(In, inner, st.lists(_literal, max_size=3).map(tuple)),
            st.builds(Call, st.sampled_from(["is_null", "is_not_null", "is_number",
                                             "is_string", "is_bool", "is_array",
                                             "is_object"]), st.tuples(inner)),
            # A field as the text argument is not expressible (a bare word there is text).
            st.builds(Call, st.sampled_from(["contains", "starts_with", "ends_with"]),
                      st.tuples(inner, inner)).filter(lambda c: not isinstance(c.args[1], Field)),
            st.builds(Call, st.just("matches"),
                      st.tuples(inner, st.builds(Literal, st.sampled_from(["^a", "b+", r"\d"])))),
            st.builds(Call, st.just("length"), st.tuples(inner, inner)),
        )
    return st.recursive(leaf, extend, max_leaves=8)


_filters = _exprs(st.one_of(_literal, st.builds(Field, _epath)))
_conditions = _exprs(st.one_of(_literal, st.builds(Ref, _ref_path),
                               st.builds(Exists, _ref_path)))


@SETTINGS
@given(_filters)
def test_filter_roundtrip(expr: Expr) -> None:
    parsed, diags = parse_filter(str(expr))
    assert not diags, (str(expr), diags)
    assert parsed == expr
    assert from_json(to_json(expr)) == expr


@SETTINGS
@given(_conditions)
def test_condition_roundtrip(expr: Expr) -> None:
    parsed, diags = parse_condition(str(expr))
    assert not diags, (str(expr), diags)
    assert parsed == expr
    assert from_json(to_json(expr)) == expr


_sorts = st.builds(SortSpec, st.lists(
    st.builds(SortKey, _epath, st.booleans(), st.booleans()), min_size=1, max_size=3
).map(tuple))


@SETTINGS
@given(_sorts)
def test_sort_roundtrip(spec: SortSpec) -> None:
    parsed, diags = parse_sort(str(spec))
    assert not diags
    assert parsed == spec
    assert from_json(to_json(spec)) == spec


# ------------------------------------------------------------------------- arbitrary text

_TOKENS = ["a", "b.c", "x[0]", "'s'", '"t"', "1", "-2.5", "true", "null", "==", "=", "!=",
           "<", ">=", "&&", "||", "!", "and", "OR", "not", "in", "[", "]", "(", ")", ",",
           "matches", "contains", "=~", "${v}", "${", "}", "$", "$$", "is_null(", "length(",
           "DESC", "NULLS", "FIRST", "\\", "\n", "'", ":-", "é"]
_texts = st.one_of(st.text(max_size=40),
                   st.lists(st.sampled_from(_TOKENS), max_size=10).map(" ".join),
                   st.lists(st.sampled_from(_TOKENS), max_size=10).map("".join))
_ITEM = {"a": 1, "b": {"c": "x"}, "x": [1, 2], "v": None}


def _check(result: tuple[Any, list[Any]]) -> Any:
    node, diags = result
    assert (node is None) == bool(diags)
    assert all(d.code in CODES and d.span is None for d in diags)
    return node


@SETTINGS
@given(_texts)
def test_arbitrary_text_never_raises(text: str) -> None:
    template = _check(parse_template(text))
    if template is not None:
        assert parse_template(str(template))[0] == template
    condition = _check(parse_condition(text))
    if condition is not None:
        assert parse_condition(str(condition))[0] == condition
        eval_condition(condition, Scope({"v": "1", "a": {"b": [1]}}))
    filt = _check(parse_filter(text))
    if filt is not None:
        assert parse_filter(str(filt))[0] == filt
        eval_filter(filt, _ITEM)
        eval_filter(filt, "not an object")
    spec = _check(parse_sort(text))
    if spec is not None:
        assert parse_sort(str(spec))[0] == spec
    assert all(d.code == "P207" for d in check_json_path(text))
