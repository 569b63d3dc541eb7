"""Parse templates, filters, conditions and sort specs into the runtime's expression AST.

Grammars: `grammar/template.lark` (text with `${...}` references) and
`grammar/expression.lark` (filters, conditions, sort specs), both LALR. Every entry point
returns `(node, diagnostics)`: `node` is None when there are errors, and nothing here raises
for bad input. Results are cached by text, since workflows repeat the same strings a lot.

Template syntax (upstream Prodigy's, plus one escape):
    ${path}            a variable: `a.b`, `a[0]`, `a[key.with.dots]`
    ${path:-default}   literal default text when the variable is undefined (or null)
    ${step.files_changed:*.md:json}   a git change list with modifiers (`expr/modifiers.py`)
    $NAME  $1          the bare forms; `$NAME` means exactly `${NAME}`
    $${               a literal `${` (upstream has no escape; `$$` alone stays `$$`, so the
                       shell's `$$` keeps working)

Filters (map `filter:`) name item fields bare: `severity == 'high' && priority > 5`. A bare
word in a value position is its own text, as upstream reads it: the right side of a
comparison whose left side is a field (`severity == high`), a list item (`x in [a, b]`), and
the text argument of contains/starts_with/ends_with/matches (`contains(path, main)`).
Conditions (`when:`) name workflow variables as `${name}`; a bare word is an error there, but
the documented form `${a.exit_code != 0}` (an expression inside one `${...}`, bare names being
variables) is accepted too. Single `=` means `==` in filters only, as upstream.

`at` is an optional `(source_map, data_path)`: with it, each diagnostic's span points at the
offending characters inside the YAML string; without it, spans are None.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from lark import Token, Tree
from lark.exceptions import LarkError, UnexpectedInput

from prodigy.compiler.expression_builder import ExprBuilder, tree_path
from prodigy.compiler.expression_errors import Problem, ProblemError, scan, syntax_problem
from prodigy.compiler.expression_grammar import (
    MODIFIER_HINT,
    parse_expr_tree,
    parse_sort_tree,
    parse_template_tree,
    split_modifiers,
    var_path,
)
from prodigy.compiler.source import DataPath, SourceMap
from prodigy.runtime.diagnostics import Diagnostic
from prodigy.runtime.expr.ast import Expr, Path, SortKey, SortSpec, Template, Text, Var

At = tuple[SourceMap, DataPath]
Result = tuple[Any, tuple[Problem, ...]]


# ------------------------------------------------------------------------------ public API


def parse_template(text: str, at: At | None = None) -> tuple[Template | None, list[Diagnostic]]:
    node, problems = _template(text)
    return node, _diagnostics(problems, text, at)


def parse_filter(text: str, at: At | None = None) -> tuple[Expr | None, list[Diagnostic]]:
    node, problems = _expression(text, "filter")
    return node, _diagnostics(problems, text, at)


def parse_condition(text: str, at: At | None = None) -> tuple[Expr | None, list[Diagnostic]]:
    node, problems = _expression(text, "condition")
    return node, _diagnostics(problems, text, at)


def parse_sort(text: str, at: At | None = None) -> tuple[SortSpec | None, list[Diagnostic]]:
    node, problems = _sort(text)
    return node, _diagnostics(problems, text, at)


def check_json_path(text: str, at: At | None = None) -> list[Diagnostic]:
    return _diagnostics(_json_path(text), text, at)


def _diagnostics(problems: tuple[Problem, ...], text: str, at: At | None) -> list[Diagnostic]:
    out = []
    for p in problems:
        span = at[0].char_span(at[1], text, p.start, p.end) if at is not None else None
        out.append(Diagnostic(p.code, p.message, span, p.hint))
    return out


# ------------------------------------------------------------------------------- templates


@lru_cache(maxsize=16384)
def _template(text: str) -> Result:
    if "$" not in text:  # most prompts and many commands: nothing to parse
        return Template((Text(text),) if text else ()), ()
    try:
        tree = parse_template_tree(text)
    except UnexpectedInput as exc:
        # Every character is some token except a `$` opening a `${` that never closes.
        pos = getattr(exc, "pos_in_stream", None) or 0
        return None, (Problem("P201", "unclosed `${`", pos, pos + 2,
                              "close it with `}`, or write `$${` for a literal `${`"),)
    parts: list[Text | Var] = []
    problems: list[Problem] = []
    for tok in tree.children:
        assert isinstance(tok, Token)
        if tok.type == "BRACED":
            path_text, sep, default = tok[2:-1].partition(":-")
            if not path_text:
                problems.append(Problem("P201", "empty variable reference", tok.start_pos or 0,
                                        tok.end_pos or 0, "write `${name}` or `$${` for a "
                                        "literal `${`"))
                continue
            path_text, modifiers, problem = split_modifiers(path_text)
            if problem is not None:
                problems.append(Problem("P201", problem, tok.start_pos or 0, tok.end_pos or 0,
                                        MODIFIER_HINT))
                continue
            parts.append(Var(var_path(path_text), default if sep else None, modifiers))
        elif tok.type == "BARE":
            parts.append(Var(Path(tok[1:])))
        else:
            value = "${" if tok.type == "ESCAPE" else str(tok)
            if parts and isinstance(parts[-1], Text):
                parts[-1] = Text(parts[-1].value + value)
            else:
                parts.append(Text(value))
    if problems:
        return None, tuple(problems)
    return Template(tuple(parts)), ()


# ----------------------------------------------------------------- filters and conditions


@lru_cache(maxsize=8192)
def _expression(text: str, mode: str) -> Result:
    if not text.strip():
        return None, (Problem("P201", "empty expression", 0, max(len(text), 1),
                              "write a condition such as `${x} == 'y'`"),)
    try:
        scan(text)
        tree = parse_expr_tree(text)
        builder = ExprBuilder(mode, text)
        node = builder.build(tree)
    except ProblemError as exc:
        return None, (exc.problem,)
    except UnexpectedInput as exc:
        return None, (syntax_problem(exc, text, parse_expr_tree, "expr"),)
    except (LarkError, RecursionError) as exc:
        return None, (Problem("P201", f"invalid expression: {exc}", 0, len(text)),)
    if builder.problems:
        return None, tuple(builder.problems)
    return node, ()


# ------------------------------------------------------------------------------ sort specs


@lru_cache(maxsize=4096)
def _sort(text: str) -> Result:
    if not text.strip():
        return None, (Problem("P206", "empty sort_by", 0, max(len(text), 1)),)
    try:
        scan(text, "P206")
        tree = parse_sort_tree(text)
    except ProblemError as exc:
        return None, (exc.problem,)
    except UnexpectedInput as exc:
        return None, (syntax_problem(exc, text, parse_sort_tree, "sort"),)
    except (LarkError, RecursionError) as exc:
        return None, (Problem("P206", f"invalid sort_by: {exc}", 0, len(text)),)
    keys = []
    for key in tree.children:
        assert isinstance(key, Tree)
        path_tree, *words = key.children
        assert isinstance(path_tree, Tree)
        kinds = {t.type: str(t).lower() for t in words if isinstance(t, Token)}
        descending = kinds.get("DIRECTION", "asc").startswith("desc")
        keys.append(SortKey(tree_path(path_tree), descending,
                            kinds.get("NULLS_POSITION", "last") == "first"))
    return SortSpec(tuple(keys)), ()


# ------------------------------------------------------------------------------- json_path

_JSONPATH_AT = re.compile(r"(?:at |line )(\d+)(?::|, col )(\d+)")


@lru_cache(maxsize=1024)
def _json_path(text: str) -> tuple[Problem, ...]:
    if not text.strip():
        return ()  # an empty path selects the input itself
    try:
        from jsonpath_ng.ext.parser import parse

        parse(text)
    except Exception as exc:  # jsonpath-ng raises assorted exception types for bad input
        found = _JSONPATH_AT.search(str(exc))
        if found:
            line, col = int(found.group(1)), int(found.group(2))
            lines = text.split("\n")
            pos = sum(len(x) + 1 for x in lines[: line - 1]) + col
        else:
            pos = len(text) - 1  # "near the end of string"
        pos = min(max(pos, 0), max(len(text) - 1, 0))
        return (Problem("P207", f"invalid json_path: {exc}", pos, pos + 1),)
    return ()
