"""Modifiers of the git change lists (upstream B.5): glob filters and the json, lines and csv
formats, in templates and in conditions."""

from __future__ import annotations

from typing import Any

import pytest

from prodigy.compiler.expressions import parse_condition, parse_template
from prodigy.runtime.expr import Scope, eval_condition, from_json, render_template, to_json
from prodigy.runtime.expr.modifiers import problem, render

FILES = ["README.md", "docs/guide.md", "src/lib.rs", "src/bin/main.rs", "Cargo.toml",
         "notes file.txt"]


@pytest.mark.parametrize(("modifiers", "expected"), [
    ((), "README.md docs/guide.md src/lib.rs src/bin/main.rs Cargo.toml notes file.txt"),
    (("*.md",), "README.md docs/guide.md"),  # `*` crosses `/`, as upstream's glob
    (("*.rs,*.toml",), "src/lib.rs src/bin/main.rs Cargo.toml"),  # alternatives
    (("src/**/*.rs",), "src/lib.rs src/bin/main.rs"),  # `**/` may match no directory
    (("src/*",), "src/lib.rs src/bin/main.rs"),
    (("?argo.tom[lx]",), "Cargo.toml"),
    (("[!A-Z]*",), "docs/guide.md src/lib.rs src/bin/main.rs notes file.txt"),
    (("*.py",), ""),
    (("json",), '["README.md","docs/guide.md","src/lib.rs","src/bin/main.rs","Cargo.toml",'
                '"notes file.txt"]'),
    (("*.md", "lines"), "README.md\ndocs/guide.md"),
    (("newline", "*.md"), "README.md\ndocs/guide.md"),  # filters apply first, the format last
    (("*.rs", "csv"), "src/lib.rs,src/bin/main.rs"),
    (("comma",), "README.md,docs/guide.md,src/lib.rs,src/bin/main.rs,Cargo.toml,notes file.txt"),
    (("src/*", "*main*"), "src/bin/main.rs"),  # successive filters narrow
    (("*.py", "json"), "[]"),
])
def test_render(modifiers: tuple[str, ...], expected: str) -> None:
    assert render(FILES, modifiers) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (None, "[]"),
    ("a.md b.rs", '["a.md","b.rs"]'),  # upstream's values are space-joined strings
    (("x",), '["x"]'),
    (3, '["3"]'),
])
def test_render_other_values(value: Any, expected: str) -> None:
    assert render(value, ("json",)) == expected


@pytest.mark.parametrize(("modifiers", "message"), [
    (("json",), None),
    (("*.md", "lines"), None),
    (("[ab]",), None),
    (("yaml",), "unknown modifier `:yaml`"),
    (("",), "empty modifier `:`"),
    (("json", "csv"), "two formats: `:json` and `:csv`"),
])
def test_problem(modifiers: tuple[str, ...], message: str | None) -> None:
    assert problem(modifiers) == message


def _tpl(text: str) -> Any:
    node, diags = parse_template(text)
    assert not diags, diags
    assert from_json(to_json(node)) == node  # what the plan holds decodes to the same
    return node


CHANGES = {"step.files_changed": ["a.md", "b.rs"], "step.files_added": [],
           "step.insertions": 4, "workflow.commits": ["c1", "c2"]}


@pytest.mark.parametrize(("text", "expected"), [
    ("${step.files_changed}", "a.md b.rs"),  # space-separated, not the usual ", "
    ("${step.files_changed:*.md}", "a.md"),
    ("${step.files_changed:json}", '["a.md","b.rs"]'),
    ("${workflow.commits:lines}", "c1\nc2"),
    ("${workflow.commits:csv}", "c1,c2"),
    ("[${step.files_added}]", "[]"),
    ("${step.insertions}", "4"),
    ("${step.files_changed[0]}", "a.md"),  # an index reads the list itself
    ("${step.files_deleted:-none}", "none"),
    ("${step.files_deleted:json}", "${step.files_deleted:json}"),  # unknown: left in place
])
def test_templates(text: str, expected: str) -> None:
    assert render_template(_tpl(text), Scope(CHANGES)) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("${step.files_changed:*.md}", True),
    ("${step.files_changed:*.py}", False),
    ("${step.files_added}", False),
    ("${step.files_added} == ''", True),
    ("${step.files_changed} == 'a.md b.rs'", True),
    ("${step.files_changed:*.rs,*.toml} != ''", True),
    ("${step.insertions} > 3", True),
    ("contains(${step.files_changed}, 'b.rs')", True),
])
def test_conditions(text: str, expected: bool) -> None:
    node, diags = parse_condition(text)
    assert not diags, diags
    assert from_json(to_json(node)) == node
    assert eval_condition(node, Scope(CHANGES)) is expected
