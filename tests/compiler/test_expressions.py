"""Parsing of templates, filters, conditions, sort specs and json_path, and the positions of
their diagnostics inside YAML strings of every scalar style."""

from __future__ import annotations

from typing import Any

import pytest
from lark.exceptions import UnexpectedInput

from prodigy.compiler.expression_errors import (
    EXPRESSION_MISTAKES,
    SORT_MISTAKES,
    ProblemError,
    scan,
    syntax_problem,
)
from prodigy.compiler.expression_grammar import parse_expr_tree, parse_sort_tree
from prodigy.compiler.expressions import (
    check_json_path,
    parse_condition,
    parse_filter,
    parse_sort,
    parse_template,
)
from prodigy.compiler.source import load_text
from prodigy.runtime.expr.ast import Call, Compare, Exists, Field, Literal, Path, Ref

# ------------------------------------------------------------------------- parse tables


@pytest.mark.parametrize(("text", "canonical"), [
    ("plain", "plain"),
    ("${a.b[0]} $c $1 ${d:-x y}", "${a.b[0]} ${c} ${1} ${d:-x y}"),
    ("$${not a var}", "$${not a var}"),
    ("$$ $$x $", "$$ $$x $"),
    ("${m[key.with.dots]}", "${m[key.with.dots]}"),
    ("${x##*.}", "${x##*.}"),  # not a path: kept whole, never resolves, passes to the shell
    ("${cmd:git rev-parse HEAD}", "${cmd:git rev-parse HEAD}"),
    ("line1\nline2 ${v}\n", "line1\nline2 ${v}\n"),
])
def test_template_canonical(text: str, canonical: str) -> None:
    node, diags = parse_template(text)
    assert not diags and node is not None
    assert str(node) == canonical
    assert parse_template(str(node))[0] == node


@pytest.mark.parametrize(("text", "canonical"), [
    ("severity == 'high' && priority > 5", "severity == 'high' && priority > 5"),
    ("a=1", "a == 1"),
    ("a AND b or NOT c", "a && b || !c"),
    ("!a && b", "!a && b"),
    ("!(a && b)", "!(a && b)"),
    ("not a == 1", "!(a == 1)"),
    ("a || (b || c)", "a || (b || c)"),
    ("(a || b) && c", "(a || b) && c"),
    ("x matches '\\d+' && y contains \"it's\"", "matches(x, '\\d+') && contains(y, \"it's\")"),
    ("x =~ 'a'", "matches(x, 'a')"),
    ("x in [1, 'a', true, null, bare]", "x in [1, 'a', true, null, 'bare']"),
    ("a.b[0]['odd key'].c >= -2.5", "a.b[0]['odd key'].c >= -2.5"),
    ("step-id.exit_code != 0", "step-id.exit_code != 0"),
    ("length(name, 5)", "length(name, 5)"),
    ("contains(location.file, main)", "contains(location.file, 'main')"),
    ("severity == high", "severity == 'high'"),  # C.1 step 7: a bare value is text
    ("a.b != c.d", "a.b != 'c.d'"),
    ("5 < priority", "5 < priority"),  # the field is on the right here
    ("(a) == b", "a == 'b'"),
    ("order == 1 && android && true_value", "order == 1 && android && true_value"),
])
def test_filter_canonical(text: str, canonical: str) -> None:
    node, diags = parse_filter(text)
    assert not diags and node is not None
    assert str(node) == canonical
    assert parse_filter(str(node))[0] == node


@pytest.mark.parametrize(("text", "canonical"), [
    ("${build.success} == true", "${build.success} == true"),
    ("${a} and ${b} OR ${c}", "${a} && ${b} || ${c}"),
    ("${x.exists}", "${x.exists}"),
    ("${unit-tests.exit_code != 0}", "${unit-tests.exit_code} != 0"),
    ("${environment == 'production' && tests_passed}",
     "${environment} == 'production' && ${tests_passed}"),
    ("${a.exists && b}", "${a.exists} && ${b}"),
    ("${step.files_modified:*.rs}", "${step.files_modified:*.rs}"),
    ("${out} contains 'passed'", "contains(${out}, 'passed')"),
])
def test_condition_canonical(text: str, canonical: str) -> None:
    node, diags = parse_condition(text)
    assert not diags and node is not None
    assert str(node) == canonical
    assert parse_condition(str(node))[0] == node


def test_parsed_nodes() -> None:
    node, _ = parse_condition("${a.b} == 'x'")
    assert node == Compare("==", Ref(Path("a", ("b",))), Literal("x"))
    node, _ = parse_condition("${a.exists}")
    assert node == Exists(Path("a"))
    node, _ = parse_filter("contains(tags[0], x)")
    assert node == Call("contains", (Field(Path("tags", (0,))), Literal("x")))


@pytest.mark.parametrize(("text", "canonical"), [
    ("priority", "priority"),
    ("priority DESC, name ASC", "priority DESC, name"),
    ("a descending nulls first,b ascending NULLS LAST", "a DESC NULLS FIRST, b"),
    ("File.score DESC NULLS LAST, Function.unified_score.final_score DESC NULLS LAST",
     "File.score DESC, Function.unified_score.final_score DESC"),
    ("first, last DESC", "first, last DESC"),
])
def test_sort_canonical(text: str, canonical: str) -> None:
    node, diags = parse_sort(text)
    assert not diags and node is not None
    assert str(node) == canonical
    assert parse_sort(str(node))[0] == node


def test_parsing_is_cached_by_text() -> None:
    text = "severity == 'cached' && priority > 1"
    assert parse_filter(text)[0] is parse_filter(text)[0]


@pytest.mark.parametrize("path", ["$.items[*]", "$[*]", "$.a..b", "$.items[?(@.f == 'x')]",
                                  "", "$"])
def test_json_path_ok(path: str) -> None:
    assert check_json_path(path) == []


# ------------------------------------------------------------------------- error messages


@pytest.mark.parametrize(("parse", "text", "code", "message"), [
    (parse_template, "echo ${name", "P201", "unclosed `${`"),
    (parse_template, "a ${} b", "P201", "empty variable reference"),
    (parse_condition, "${a} = 1", "P201", "`=` is not a comparison"),
    (parse_condition, "x == 1", "P201", "bare word `x` in a condition"),
    (parse_condition, "${a} &&", "P201", "`&&` needs an operand after it"),
    (parse_condition, "${a:-1} > 0", "P201", "`:-` defaults are not available in conditions"),
    (parse_condition, "$HOME == 'x'", "P201", "unexpected character `$`"),
    (parse_filter, "frobnicate(x)", "P202", "unknown function `frobnicate`"),
    (parse_filter, "matches(x, 'a[b')", "P205", "invalid regular expression"),
    (parse_filter, "x =~ '(?P<'", "P205", "invalid regular expression"),
    (parse_filter, "(a == 1 && b", "P201", "unclosed `(`"),
    (parse_filter, "a == 1)", "P201", "unmatched `)`"),
    (parse_filter, "a == 'x", "P201", "unterminated string"),
    (parse_filter, "", "P201", "empty expression"),
    (parse_filter, "   ", "P201", "empty expression"),
    (parse_filter, "just some text", "P201", "expected an operator between `just` and `some`"),
    (parse_filter, "field in value", "P201", "`in` needs a list in brackets"),
    (parse_filter, "func{arg}", "P201", "unexpected character `{`"),
    (parse_filter, "a == 1 == 2", "P201", "comparisons cannot be chained"),
    (parse_filter, "a & b", "P201", "unexpected character `&`"),
    (parse_filter, "is_null(a, b)", "P201", "`is_null` takes 1 argument, got 2"),
    (parse_filter, "${a} == 1", "P201", "`${...}` is not available in a filter"),
    (parse_filter, "a == 1e999", "P201", "number out of range"),
    (parse_filter, "a == 1.2.3", "P201", "malformed number"),
    (parse_filter, "(" * 60 + "a" + ")" * 60, "P201", "expression nested too deeply"),
    (parse_sort, "", "P206", "empty sort_by"),
    (parse_sort, "priority UP", "P206", "expected ASC, DESC"),
    (parse_sort, "priority NULLS MIDDLE", "P206", "NULLS must be followed by FIRST or LAST"),
    (parse_sort, "a,,b", "P206", "missing field name"),
    (parse_sort, "a[", "P206", "unclosed `[`"),
])
def test_error_messages(parse: Any, text: str, code: str, message: str) -> None:
    node, diags = parse(text)
    assert node is None
    assert [d.code for d in diags] == [code]
    assert diags[0].message.startswith(message), diags[0].message
    assert diags[0].span is None  # no `at`: no position


def test_unknown_function_suggests_a_near_match() -> None:
    _, diags = parse_filter("start_with(a, 'x')")
    assert diags[0].hint == "did you mean `starts_with`?"


def test_every_problem_in_an_expression_is_reported() -> None:
    _, diags = parse_condition("${a} = 1 && nope(${b}) && matches(${c}, '[')")
    assert [d.code for d in diags] == ["P201", "P202", "P205"]


def test_json_path_errors() -> None:
    diags = check_json_path("<jsonpath-expression>")
    assert [d.code for d in diags] == ["P207"]


@pytest.mark.parametrize(("table", "parse", "table_id"), [
    (EXPRESSION_MISTAKES, parse_expr_tree, "expr"),
    (SORT_MISTAKES, parse_sort_tree, "sort"),
])
def test_every_example_mistake_gets_its_own_message(table: Any, parse: Any,
                                                    table_id: str) -> None:
    for mistake in table.values():
        for example in mistake.examples:
            with pytest.raises((UnexpectedInput, ProblemError)) as info:
                scan(example)
                parse(example)
            if isinstance(info.value, UnexpectedInput):
                problem = syntax_problem(info.value, example, parse, table_id)
                assert problem.hint == mistake.hint, example


# ------------------------------------------------------- positions inside YAML scalars

def _scalar(style: str, text: str) -> str:
    if style == "plain":
        return text
    if style == "single":
        return "'" + text.replace("'", "''") + "'"
    if style == "double":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return style + "\n      " + text  # literal `|` or folded `>`


# (parser, YAML key, expression, code, needle): the diagnostic must start at the needle.
POSITION_CASES = [
    ("template", "shell", "echo ok ${name", "P201", "${name"),
    ("condition", "when", "${a} == 1 && ${b} = 2", "P201", "= 2"),
    ("condition", "when", "${a} == 1 &&", "P201", "&&"),
    ("condition", "when", "${a} == 1 && b == 2", "P201", "b == 2"),
    ("filter", "filter", "x > 1 && frobnicate(x)", "P202", "frobnicate"),
    ("filter", "filter", "x > 1 && matches(x, 'a[b')", "P205", "[b"),
    ("filter", "filter", "x > 1 && (y == 2 || z", "P201", "(y"),
    ("filter", "filter", "x > 1 && y == 2)", "P201", ")"),
    ("filter", "filter", "x > 1 && y == 'unterminated", "P201", "'unterminated"),
    ("sort", "sort_by", "priority DESC, name UPWARDS", "P206", "UPWARDS"),
    ("json_path", "json_path", "$.items[?(@.f ~ 3)]", "P207", "~"),
]
STYLES = ["plain", "single", "double", "|", ">"]
PARSERS: dict[str, Any] = {"template": parse_template, "condition": parse_condition,
                           "filter": parse_filter, "sort": parse_sort}


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(("kind", "key", "expr", "code", "needle"), POSITION_CASES)
def test_error_positions_in_yaml(style: str, kind: str, key: str, expr: str, code: str,
                                 needle: str) -> None:
    source = f"name: demo\nsteps:\n  - {key}: {_scalar(style, expr)}\n    other: 1\n"
    loaded = load_text(source, "wf.yml")
    assert loaded.ok, loaded.diagnostics
    path = ("steps", 0, key)
    value = loaded.data["steps"][0][key]  # type: ignore[index]
    at = (loaded.source_map, path)
    if kind == "json_path":
        diags = check_json_path(value, at)
    else:
        _, diags = PARSERS[kind](value, at)
    assert [d.code for d in diags] == [code]
    span = diags[0].span
    assert span is not None and span.file == "wf.yml"
    if style == "single":
        needle = needle.replace("'", "''")  # a quote's span starts at the first of the pair
    expected = _line_col(source, source.index(needle, source.index(f"{key}:")))
    assert (span.line, span.col) == expected, (style, diags[0].message)


@pytest.mark.parametrize(("style", "body", "needle"), [
    ("|", "${a} == 1 &&\n      ${b} = 2", "= 2"),
    (">", "${a} == 1\n      && ${b} = 2", "= 2"),
    ("|", "${a} == 1 &&\n        (${b} == 2", "(${b}"),
    ("|-", "echo one\n      echo ${two", "${two"),
])
def test_error_positions_in_multiline_blocks(style: str, body: str, needle: str) -> None:
    key = "shell" if "echo" in body else "when"
    source = f"steps:\n  - {key}: {style}\n      {body}\n"
    loaded = load_text(source, "wf.yml")
    value = loaded.data["steps"][0][key]  # type: ignore[index]
    parse = parse_template if key == "shell" else parse_condition
    _, diags = parse(value, (loaded.source_map, ("steps", 0, key)))
    assert len(diags) == 1
    span = diags[0].span
    assert span is not None
    assert (span.line, span.col) == _line_col(source, source.index(needle))


def test_empty_expression_points_at_the_scalar() -> None:
    source = "steps:\n  - when: ''\n"
    loaded = load_text(source, "wf.yml")
    _, diags = parse_condition("", (loaded.source_map, ("steps", 0, "when")))
    assert diags[0].code == "P201" and diags[0].span is not None
    assert (diags[0].span.line, diags[0].span.col) == (2, 11)
