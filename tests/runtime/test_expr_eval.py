"""Evaluation of the expression language: stringification, resolution, filters, conditions,
sorting, json_path and the plan codec. Tables cite the upstream behaviour they pin (B.x, C.x,
G.x in shared/reference/upstream-prodigy.md); `test_sane_*` tests pin deliberate fixes."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cmp_to_key
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodigy.compiler.expressions import parse_condition, parse_filter, parse_sort, parse_template
from prodigy.runtime.expr import (
    MISSING,
    Scope,
    eval_condition,
    eval_filter,
    filter_items,
    from_json,
    render_template,
    resolve,
    select_json_path,
    sort_items,
    stringify,
    template_refs,
    to_json,
    truthy,
)
from prodigy.runtime.expr.ast import Path, SortKey, SortSpec
from prodigy.runtime.expr.values import type_rank

# Recursive strategies can take hypothesis a while to describe; that is not a failure.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


def tpl(text: str) -> Any:
    node, diags = parse_template(text)
    assert not diags, diags
    return node


def flt(text: str) -> Any:
    node, diags = parse_filter(text)
    assert not diags, diags
    return node


def cond(text: str) -> Any:
    node, diags = parse_condition(text)
    assert not diags, diags
    return node


def render(text: str, **variables: Any) -> str:
    return render_template(tpl(text), Scope(variables))


# ---------------------------------------------------------------------------- stringify (B.2)

@pytest.mark.parametrize(("value", "text"), [
    (None, ""),
    (True, "true"),
    (False, "false"),
    (5, "5"),
    (7.5, "7.5"),
    (5.0, "5.0"),  # serde_json prints an integral f64 with ".0"
    (-0.5, "-0.5"),
    (1e20, "1e20"),
    ("verbatim ${x}", "verbatim ${x}"),
    (["a", "b", "c"], "a, b, c"),  # G.16
    (["only"], "only"),  # G.16: a single-item array renders as the item
    ([], ""),  # G.16
    ([1, "a"], '[1,"a"]'),  # G.16: a mixed array is compact JSON
    ([{"a": 1}], '[{"a":1}]'),
    ({"a": 1, "b": [1, 2], "c": None}, '{"a":1,"b":[1,2],"c":null}'),
    ({"é": "ü"}, '{"é":"ü"}'),
])
def test_stringify(value: Any, text: str) -> None:
    assert stringify(value) == text


# ------------------------------------------------------------------------ resolution (B.1)

def test_resolution_prefers_the_flat_dotted_key() -> None:
    scope = Scope({"map.successful": 3, "map": {"successful": 99}})
    assert resolve(Path("map", ("successful",)), scope) == (True, 3)


@pytest.mark.parametrize(("text", "variables", "expected"), [
    ("${user.address.city}", {"user": {"address": {"city": "Oslo"}}}, "Oslo"),  # G.12
    ("${items[0]}", {"items": ["a", "b"]}, "a"),  # G.12
    ("${data.items[0].name}", {"data": {"items": [{"name": "n"}]}}, "n"),  # G.12
    ("${items.1}", {"items": ["a", "b"]}, "b"),
    ("${m[key.with.dots]}", {"m": {"key.with.dots": "v"}}, "v"),  # G.18
    ("${items[0].name}", {"items[0]": {"name": "flat"}}, "flat"),  # B.1 step 2
    ("${item.name}", {"item.name": "flat", "item": {"name": "walked"}}, "flat"),
    ("${a[5]}", {"a": [1]}, "${a[5]}"),  # out of range: unresolved
    ("${a.b}", {"a": '{"b": 1}'}, "${a.b}"),  # B.1: strings are not re-parsed as JSON
    ("${a.b.c}", {"a": {"b": 1}}, "${a.b.c}"),
])
def test_resolution(text: str, variables: dict[str, Any], expected: str) -> None:
    assert render(text, **variables) == expected


def test_child_scope_sees_parent_variables() -> None:  # G.15
    parent = Scope({"x": 1, "y": "parent"})
    child = parent.child({"y": "child"})
    assert render_template(tpl("${x} ${y}"), child) == "1 child"
    assert set(child) == {"x", "y"} and len(child) == 2
    assert resolve(Path("nope"), child) == (False, None)


# ------------------------------------------------------------------------- templates (B.3)

@pytest.mark.parametrize(("text", "variables", "expected"), [
    ("${name}/$name", {"name": "n"}, "n/n"),  # G.11
    ("$PATH $HOME", {}, "${PATH} ${HOME}"),  # B.3: bare names re-emitted braced
    ("$HOME/x", {"HOME": "/w"}, "/w/x"),  # a workflow variable wins over the shell's
    ("$v", {"v": 1}, "1"),
    ("x$v", {"v": 1}, "x1"),
    ("$1 and $2", {"1": "one"}, "one and ${2}"),
    ("${timeout:-600}", {}, "600"),  # G.13
    ("${timeout:-600}", {"timeout": 30}, "30"),
    ("${x:-a:-b}", {}, "a:-b"),  # only the first `:-` splits
    ("${x:-}", {}, ""),
    ("${undefined}", {}, "${undefined}"),  # G.14
    ("${a.b[0]}", {}, "${a.b[0]}"),
    ("${map.total} ${map.successful} ${map.failed}",
     {"map": {"total": 3, "successful": 2, "failed": 1}}, "3 2 1"),  # G.20
    ("${results}", {"results": [{"ok": True}]}, '[{"ok":true}]'),  # G.17
    ("$${HOME} $$ $$$", {}, "${HOME} $$ $$$"),  # the escape, and `$$` left alone
    ("echo $(date) $? $# $@ ${x%.*}", {}, "echo $(date) $? $# $@ ${x%.*}"),
    ("${n}", {"n": None}, ""),
])
def test_render(text: str, variables: dict[str, Any], expected: str) -> None:
    assert render(text, **variables) == expected


def test_sane_default_applies_to_null() -> None:
    assert render("${x:-none}", x=None) == "none"


@pytest.mark.parametrize(("item", "text", "expected"), [
    ({"a": {"b": 5}}, "${item.a.b}", "5"),  # B.4 quirk fixed: nested access works
    ({"n": 42, "s": "x"}, "${item}", '{"n":42,"s":"x"}'),  # numbers stay numbers
    ("src/main.rs", "${item}", "src/main.rs"),  # a non-object item is ${item}
    ({"tags": ["a", "b"]}, "${item.tags}", "a, b"),
])
def test_sane_items_keep_their_types(item: Any, text: str, expected: str) -> None:
    assert render(text, item=item) == expected


def test_template_refs() -> None:
    refs = template_refs(tpl("${a.b[0]} $c ${d:-x} text $${e}"))
    assert [(p.root, p.segments) for p in refs] == [("a", ("b", 0)), ("c", ()), ("d", ())]


# ------------------------------------------------------------------------ filters (C.1, G.22)

ITEMS: list[dict[str, Any]] = [
    {"id": 0, "severity": "high", "priority": 7, "status": "active", "tags": ["urgent"],
     "location": {"file": "src/main.rs"}, "email": "a@example.com", "name": "Alice",
     "created_at": "2024-03-01T00:00:00Z", "optional_field": None, "score": 5.0},
    {"id": 1, "severity": "critical", "priority": 2, "status": "pending", "tags": ["later"],
     "location": {"file": "lib.rs"}, "email": "bob@test.org", "name": "Bob",
     "created_at": "2023-12-31T00:00:00Z", "score": "10"},
    {"id": 2, "severity": "low", "priority": 9, "status": "closed", "tags": [],
     "location": {"file": "src/util.py"}, "name": "Carol", "optional_field": 3,
     "File": {"score": 40}},
    {"id": 3, "severity": "high", "priority": 3, "status": "pending", "flag": True,
     "Function": {"unified_score": {"final_score": 31}}},
]


@pytest.mark.parametrize(("expr", "expected"), [
    ("severity == 'high' && priority > 5", [0]),  # C.1
    ("File.score >= 30 OR Function.unified_score.final_score >= 30", [2, 3]),  # C.1
    ("severity in ['high', 'critical']", [0, 1, 3]),  # C.1
    ("optional_field == null", [0, 1, 3]),  # C.1: explicit null and missing
    ("optional_field != null", [2]),
    ("!is_null(optional_field)", [1, 2, 3]),  # C.1: missing is not null for is_null
    ("is_null(optional_field)", [0]),  # G.22
    ("is_not_null(optional_field)", [2]),
    ("(status == 'active' || status == 'pending') && !(priority < 3)", [0, 3]),  # C.1
    ("created_at > '2024-01-01T00:00:00Z'", [0]),  # C.1: ISO dates compare as strings
    ("  priority  >  5  ", [0, 2]),  # G.22 whitespace
    ("(((priority > 5)))", [0, 2]),  # G.22 nested parens
    ("severity == 'low' && priority == 9 || id == 3", [2, 3]),  # G.22 mixed
    ("length(name, 5)", [0, 2]),  # G.22: "Alice", "Carol"
    ("matches(email, '^[a-z]+@example\\.com$')", [0]),  # G.22
    ("contains(location.file, main)", [0]),  # G.22: bare second argument
    ("score > 5", []),  # G.22: the string "10" is not > 5 in a filter
    ("missing_field > 5", []),  # G.22
    ("tags[0] == 'urgent'", [0]),  # G.24
    ("priority != 7", [1, 2, 3]),
    ("priority < 3", [1]),
    ("priority <= 3", [1, 3]),
    ("priority >= 9", [2]),
    ("name < 'B'", [0]),
    ("severity = 'low'", [2]),  # a single `=` is equality in filters (upstream)
    ("severity == high", [0, 3]),  # C.1 step 7: a bare word on the right is text
    ("!(severity == 'high')", [1, 2]),
    ("NOT severity == 'high'", [1, 2]),  # NOT binds looser than a comparison
    ("severity == 'high' and not flag", [0]),
    ("!flag && severity == 'high'", [0]),  # `!` binds tighter than &&
    ("flag", [3]),  # a bare field is a truthiness test
    ("starts_with(location.file, 'src/')", [0, 2]),
    ("ends_with(location.file, '.rs')", [0, 1]),
    ("contains(name, 'o')", [1, 2]),
    ("name contains 'o'", [1, 2]),
    ("email matches 'test'", [1]),
    ("email =~ '^a'", [0]),
    ("is_number(score)", [0]),
    ("is_string(score)", [1]),
    ("is_bool(flag)", [3]),
    ("is_array(tags)", [0, 1, 2]),
    ("is_object(location)", [0, 1, 2]),
    ("length(tags, 0)", [2]),
    ("length(location, 1)", [0, 1, 2]),
    ("id in []", []),
    ("status in [pending, closed]", [1, 2, 3]),  # bare words in a list are strings
    ("contains(tags, 'urgent')", [0]),
])
def test_filter(expr: str, expected: list[int]) -> None:
    node = flt(expr)
    assert [item["id"] for item in ITEMS if eval_filter(node, item)] == expected
    assert [item["id"] for item in filter_items(ITEMS, node)] == expected


def test_sane_numeric_equality_ignores_int_float() -> None:
    # Upstream compares serde values exactly, so `priority == 5` misses {"priority": 5}.
    assert eval_filter(flt("score == 5"), {"score": 5.0})
    assert eval_filter(flt("score == 5.0"), {"score": 5})
    assert not eval_filter(flt("flag == 1"), {"flag": True})


def test_sane_in_lists_are_typed() -> None:
    # Upstream turns every list value into a string, so `id in [1, 2]` never matched.
    assert eval_filter(flt("id in [1, 2]"), {"id": 2})
    assert not eval_filter(flt("id in ['1', '2']"), {"id": 2})
    assert eval_filter(flt("v in [null]"), {})


def test_sane_contains_strips_quotes() -> None:
    # Upstream looked for the quotes too: contains(path, 'src') searched for "'src'".
    assert eval_filter(flt("contains(path, 'src')"), {"path": "src/x"})


def test_sane_non_object_items_have_no_fields() -> None:
    assert not eval_filter(flt("a == 1"), "text")
    assert eval_filter(flt("a == null"), ["list"])


# ---------------------------------------------------------------------- conditions (B.8)

@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), (1, True), (0, False), (0.0, False), (-2.5, True),
    ("yes", True), ("", False), ("false", False), ("0", False), ("no", True), (None, False),
    ([], False), ([0], True), ({}, False), ({"a": 1}, True),
])
def test_truthiness(value: Any, expected: bool) -> None:
    assert truthy(value) is expected
    assert eval_condition(cond("${x}"), Scope({"x": value})) is expected


@pytest.mark.parametrize(("expr", "variables", "expected"), [
    ("${build.success} == true", {"build.success": "true"}, True),  # G.4, captured as text
    ("${build.success} == true", {"build": {"success": True}}, True),
    ("${build.success} == true", {"build": {"success": False}}, False),
    ("${undefined}", {}, False),  # undefined is null, hence false
    ("!${undefined}", {}, True),
    ("${undefined} == null", {}, True),
    ("${count} > 5", {"count": "10"}, True),  # numeric-looking text meets a number
    ("${count} == 10", {"count": "10.0"}, True),
    ("${count} >= 80", {"count": 79}, False),
    ("${branch} == 'main'", {"branch": "main"}, True),
    ("${branch} != 'main'", {"branch": "dev"}, True),
    ("${a} && ${b}", {"a": "true", "b": "1"}, True),
    ("${a} || ${b}", {"a": "false", "b": "0"}, False),
    ("(${coverage} >= 80 || ${override}) && ${branch} == 'main'",
     {"coverage": "70", "override": "true", "branch": "main"}, True),
    ("${x.exists}", {"x": ""}, True),
    ("${x.exists}", {}, False),
    ("${a.b.exists}", {"a": {"b": None}}, True),
    ("${out} contains 'passed' and ${log} contains 'Finished'",
     {"out": "3 passed", "log": "Finished"}, True),
    ("${DATABASE_URL} =~ 'localhost'", {"DATABASE_URL": "pg://localhost/db"}, True),
    ("${unit-tests.exit_code != 0}", {"unit-tests": {"exit_code": 1}}, True),
    ("${(is_pr || is_main) && tests_passed}",
     {"is_pr": "false", "is_main": True, "tests_passed": "true"}, True),
    ("${x} in ['a', 1]", {"x": "1"}, True),
    ("length(${x}, 3)", {"x": "abc"}, True),
    ("contains(${haystack}, ${needle})", {"haystack": "abc", "needle": "b"}, True),
    ("starts_with(${a}, 'x') || ends_with(${a}, ${b})", {"a": "yz", "b": "z"}, True),
    ("is_null(${x})", {"x": None}, True),
    ("is_null(${x})", {}, False),
])
def test_condition(expr: str, variables: dict[str, Any], expected: bool) -> None:
    assert eval_condition(cond(expr), Scope(variables)) is expected


def test_sane_ordering_mismatched_types_is_false() -> None:
    # Upstream raised an evaluation error; here the comparison is simply false.
    assert not eval_condition(cond("${x} > 5"), Scope({"x": "abc"}))
    assert not eval_condition(cond("${x} < 5"), Scope({"x": [1]}))


def test_sane_exists_checks_the_full_path() -> None:
    # Upstream answers true when only the first segment exists.
    assert not eval_condition(cond("${a.b.exists}"), Scope({"a": {}}))


# -------------------------------------------------------------------------- sort (C.2, G.23)

def _sort(spec: str, items: list[dict[str, Any]]) -> list[Any]:
    node, diags = parse_sort(spec)
    assert not diags, diags
    return [item["id"] for item in sort_items(items, node)]


SORTABLE = [
    {"id": "a", "priority": 2, "name": "b"},
    {"id": "b", "priority": None, "name": "a"},
    {"id": "c", "priority": 5, "name": "c"},
    {"id": "d", "name": "d"},
    {"id": "e", "priority": 2, "name": "a"},
    {"id": "f", "priority": 5.5, "name": "z", "unified_score": {"final_score": 3}},
]


@pytest.mark.parametrize(("spec", "expected"), [
    ("priority", ["a", "e", "c", "f", "b", "d"]),  # single field; nulls last, stable
    ("priority ASC", ["a", "e", "c", "f", "b", "d"]),
    ("priority DESC", ["f", "c", "a", "e", "b", "d"]),  # G.23 nulls last for DESC too
    ("priority DESC, name ASC", ["f", "c", "e", "a", "b", "d"]),  # G.23
    ("priority NULLS FIRST", ["b", "d", "a", "e", "c", "f"]),  # G.23
    ("priority descending nulls first", ["b", "d", "f", "c", "a", "e"]),
    ("priority asc nulls last, name desc", ["a", "e", "c", "f", "d", "b"]),
    ("unified_score.final_score DESC", ["f", "a", "b", "c", "d", "e"]),  # G.23 nested
    ("name", ["b", "e", "a", "c", "d", "f"]),
])
def test_sort(spec: str, expected: list[str]) -> None:
    assert _sort(spec, SORTABLE) == expected


def test_sort_mixed_types_by_rank() -> None:
    values = [{"id": i, "v": v} for i, v in enumerate(
        [{"k": 1}, "s", [1, 2], None, 3, True, [9], {}, False, "a", 1.5])]
    assert [type_rank(item["v"]) for item in values] == [5, 3, 4, 0, 2, 1, 4, 5, 1, 3, 2]
    ordered = _sort("v", values)
    assert ordered == [8, 5, 10, 4, 9, 1, 6, 2, 7, 0, 3]
    assert _sort("v DESC", values) == [0, 7, 2, 6, 1, 9, 4, 10, 5, 8, 3]


_json_values = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(-5, 5, allow_nan=False),
    st.text(alphabet="ab", max_size=2), st.lists(st.integers(0, 1), max_size=2),
    st.dictionaries(st.sampled_from("xy"), st.integers(0, 1), max_size=2))
_rows = st.lists(st.dictionaries(st.sampled_from("ab"), _json_values), max_size=12)
_keys = st.lists(st.tuples(st.sampled_from("ab"), st.booleans(), st.booleans()),
                 min_size=1, max_size=2)


def _reference_sort(rows: list[dict[str, Any]], keys: list[Any]) -> list[int]:
    """C.2 written as a comparator, independently of the implementation."""
    def rank(v: Any) -> int:
        for i, kind in enumerate((bool, (int, float), str, list, dict)):
            if isinstance(v, kind):
                return i
        raise AssertionError(v)

    def inner(v: Any) -> Any:
        return len(v) if isinstance(v, list | dict) else v

    def cmp(a: dict[str, Any], b: dict[str, Any]) -> int:
        for field, desc, nulls_first in keys:
            va, vb = a.get(field), b.get(field)
            if va is None or vb is None:
                if va is None and vb is None:
                    continue
                return (-1 if va is None else 1) * (1 if nulls_first else -1)
            ka, kb = (rank(va), inner(va)), (rank(vb), inner(vb))
            c = (ka > kb) - (ka < kb)
            if c:
                return -c if desc else c
        return 0
    return [r["id"] for r in sorted(rows, key=cmp_to_key(cmp))]


@settings(max_examples=300, deadline=None)
@given(_rows, _keys)
def test_sort_matches_a_reference_comparator(rows: list[dict[str, Any]],
                                              keys: list[Any]) -> None:
    rows = [{**row, "id": i} for i, row in enumerate(rows)]
    spec = SortSpec(tuple(SortKey(Path(f), desc, first) for f, desc, first in keys))
    assert [r["id"] for r in sort_items(rows, spec)] == _reference_sort(rows, keys)


def test_sort_does_not_modify_its_input() -> None:
    items = [{"id": 2, "v": 2}, {"id": 1, "v": 1}]
    node, _ = parse_sort("v")
    assert node is not None
    assert [i["id"] for i in sort_items(items, node)] == [1, 2]
    assert [i["id"] for i in items] == [2, 1]


# ------------------------------------------------------------------------- json_path (C.3)

DATA = {"items": [{"n": 1}, {"n": 2}], "data": {"items": ["x", "y"]},
        "nested": [[1, 2], [3]], "tasks": [{"tags": ["urgent"]}, {"tags": ["later"]}]}


@pytest.mark.parametrize(("path", "expected"), [
    ("$.items[*]", [{"n": 1}, {"n": 2}]),  # G.24
    ("$.data.items[*]", ["x", "y"]),  # G.24
    ("$.items[0]", [{"n": 1}]),  # G.24
    ("$.nested[*][*]", [1, 2, 3]),  # G.24 nested arrays
    ("$.items[?(@.n > 1)]", [{"n": 2}]),
    ("$.missing[*]", []),  # C.3: no results, not an error
    ("$..n", [1, 2]),
])
def test_select_json_path(path: str, expected: list[Any]) -> None:
    assert select_json_path(DATA, path) == expected


def test_json_path_then_filter_on_an_array_index() -> None:  # G.24
    selected = select_json_path(DATA, "$.tasks[*]")
    assert filter_items(selected, flt("tags[0] == 'urgent'")) == [{"tags": ["urgent"]}]


def test_empty_json_path_selects_the_data() -> None:
    assert select_json_path([1, 2], "") == [1, 2]
    assert select_json_path({"a": 1}, " ") == [{"a": 1}]


def test_invalid_json_path_raises_value_error() -> None:
    with pytest.raises(ValueError, match="invalid json_path"):
        select_json_path({}, "$.items[")


# ---------------------------------------------------------------------------------- codec

@pytest.mark.parametrize("text", ["plain text", "", "a ${b.c[0]:-d} $e $${f}"])
def test_codec_templates(text: str) -> None:
    node = tpl(text)
    encoded = to_json(node)
    assert json.loads(json.dumps(encoded)) == encoded
    assert from_json(encoded) == node
    if "$" not in text:
        assert encoded == text  # a template without variables is a plain string


@pytest.mark.parametrize("parse", [flt, cond])
def test_codec_expressions(parse: Any) -> None:
    text = ("(a == 1 || b != 'x') && !contains(c, 'y') && d in [1, 'two', null, true]"
            if parse is flt else "${a} >= 2.5 && ${b.exists} || matches(${c[0]}, '^x')")
    node = parse(text)
    encoded = to_json(node)
    assert json.loads(json.dumps(encoded, separators=(",", ":"))) == encoded
    assert from_json(encoded) == node


def test_codec_sort_spec() -> None:
    node, _ = parse_sort("a.b[0] DESC NULLS FIRST, c")
    assert node is not None
    assert to_json(node) == ["sort", [["a", "b", 0], "desc", "first"], [["c"], "asc", "last"]]
    assert from_json(to_json(node)) == node


@pytest.mark.parametrize("bad", [3, None, [], ["nope"], ["call", "evil", ["lit", 1]],
                                 ["==", ["lit", 1]], ["tpl", 5], ["sort", [["a"], "up", "x"]]])
def test_codec_rejects_garbage(bad: Any) -> None:
    with pytest.raises(ValueError):
        from_json(bad)


_tags = st.sampled_from(["tpl", "var", "text", "lit", "field", "ref", "exists", "not", "and",
                         "or", "==", "<", "in", "call", "sort", "contains", "is_null", "asc",
                         "desc", "first", "last"])
_any_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=3), _tags),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=2), inner,
                                                                 max_size=2),
    max_leaves=12)


@settings(max_examples=500, deadline=None)
@given(_any_json)
def test_codec_decodes_or_raises_value_error(data: Any) -> None:
    try:
        node = from_json(data)
    except ValueError:
        return
    assert from_json(to_json(node)) == node


def test_missing_is_falsy_and_distinct_from_null() -> None:
    assert not MISSING and MISSING is not None and repr(MISSING) == "MISSING"


def test_runtime_needs_no_parser() -> None:
    code = ("import sys, prodigy.runtime.expr as e; "
            "t = e.from_json(['tpl', 'x=', ['var', ['x']]]); "
            "print(e.render_template(t, e.Scope({'x': 1}))); "
            "bad = [m for m in ('lark', 'networkx', 'prodigy.compiler') if m in sys.modules]; "
            "sys.exit(repr(bad) if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "x=1"
