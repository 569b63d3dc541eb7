"""Build the runtime AST from a parsed filter or condition, checking what the grammar leaves
open: function names and arity, regex literals, `=` in conditions, and what a bare name
means (an item field in a filter, an error in a condition, a variable inside `${...}`).
"""

from __future__ import annotations

import difflib
import math
import re

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from prodigy.compiler.expression_errors import Problem, ProblemError, scan, syntax_problem
from prodigy.compiler.expression_grammar import (
    MODIFIER_HINT,
    parse_expr_tree,
    split_modifiers,
    var_path,
)
from prodigy.runtime.expr.ast import (
    FUNCTIONS,
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
)

# `${...}` content in a condition that is just a variable path (no spaces, no operators).
_SIMPLE_VAR = re.compile(r"[^\s=!<>&|()'\",]+\Z")
_ESCAPE = re.compile(r"\\([\\'\"])")
_STRING_ARG = frozenset({"contains", "starts_with", "ends_with", "matches"})


class ExprBuilder:
    """Tree -> AST for one expression; `mode` decides what a bare name means:
    filter: an item field; condition: an error; inner (inside `${...}`): a variable."""

    def __init__(self, mode: str, text: str, offset: int = 0) -> None:
        self.mode, self.text, self.offset = mode, text, offset
        self.problems: list[Problem] = []

    def fail(self, code: str, message: str, where: Tree[Token] | Token,
             hint: str | None = None) -> Literal:
        start, end = bounds(where)
        self.problems.append(Problem(code, message, start + self.offset, end + self.offset,
                                     hint))
        return Literal(None)  # a placeholder, so one pass reports every problem

    def build(self, node: Tree[Token] | Token) -> Expr:
        if isinstance(node, Token):
            return self.variable(node) if node.type == "VAR" else self.fail(
                "P201", f"unexpected `{node}`", node)
        kids = node.children
        rule = node.data
        if rule == "expr":
            return self.build(kids[0])
        if rule in ("or_expr", "and_expr"):
            operands = tuple(self.build(k) for k in kids)
            return Or(operands) if rule == "or_expr" else And(operands)
        if rule == "negate":
            return Not(self.build(kids[1]))
        if rule == "compare":
            op = kids[1]
            assert isinstance(op, Token)
            left = self.build(kids[0])
            if op == "=" and self.mode != "filter":
                self.fail("P201", "`=` is not a comparison", op, "use == to compare")
            # Upstream compares a field with a value, and reads a bare word on the right as
            # text: `severity == high` means 'high'. Keep that for filters.
            text_right = self.mode == "filter" and isinstance(left, Field)
            right = self.text_or_build(kids[2]) if text_right else self.build(kids[2])
            return Compare("==" if op == "=" else str(op), left, right)
        if rule == "member":
            items = kids[2].children if isinstance(kids[2], Tree) else []
            values = tuple(self.literal_arg(i) for i in items)
            return In(self.build(kids[0]), values)
        if rule == "infix":
            name = "contains" if str(kids[1]).lower() == "contains" else "matches"
            return self.call(name, kids[1], [kids[0], kids[2]])
        if rule == "call":
            name_token = kids[0]
            return self.call(str(name_token), name_token, kids[1:])
        if rule == "literal":
            token = kids[0]
            assert isinstance(token, Token)
            return self.literal(token)
        if rule == "path":
            return self.bare_name(node)
        return self.fail("P201", f"unexpected {rule}", node)

    def literal(self, token: Token) -> Literal:
        kind = token.type
        if kind == "STRING":
            return Literal(_ESCAPE.sub(r"\1", token[1:-1]))
        if kind == "NUMBER":
            number: int | float = float(token) if any(c in token for c in ".eE") else int(token)
            if isinstance(number, float) and not math.isfinite(number):
                return self.fail("P201", f"number out of range: {token}", token)
            return Literal(number)
        return Literal({"TRUE": True, "FALSE": False}.get(kind))

    def literal_arg(self, node: Tree[Token] | Token) -> Literal:
        """A value position (list item, text argument): a bare word there is its own text,
        as upstream reads `severity in [high, low]` and `contains(path, main)`."""
        if isinstance(node, Tree) and node.data == "path":
            start, end = bounds(node)
            return Literal(self.text[start:end])
        if isinstance(node, Tree) and node.data == "literal":
            token = node.children[0]
            assert isinstance(token, Token)
            return self.literal(token)
        built = self.build(node)
        return built if isinstance(built, Literal) else self.fail(
            "P201", "expected a value", node, "write a quoted string, a number, true/false/null")

    def text_or_build(self, node: Tree[Token] | Token) -> Expr:
        """A value position that may also hold an expression (`contains(${a}, ${b})`)."""
        if isinstance(node, Tree) and node.data == "path":
            return self.literal_arg(node)
        return self.build(node)

    def bare_name(self, node: Tree[Token]) -> Expr:
        path = tree_path(node)
        if self.mode == "filter":
            return Field(path)
        if self.mode == "inner":
            if path.segments and path.segments[-1] == "exists":
                return Exists(Path(path.root, path.segments[:-1]))
            return Ref(path)
        start, end = bounds(node)
        word = self.text[start:end]
        return self.fail("P201", f"bare word `{word}` in a condition", node,
                         f"wrap variables as ${{{word}}} and quote text as '{word}'")

    def call(self, name: str, where: Tree[Token] | Token,
             args: list[Tree[Token] | Token]) -> Expr:
        if name not in FUNCTIONS:
            close = difflib.get_close_matches(name, FUNCTIONS, n=1)
            hint = (f"did you mean `{close[0]}`?" if close else
                    "known functions: " + ", ".join(sorted(FUNCTIONS)))
            return self.fail("P202", f"unknown function `{name}`", where, hint)
        arity = FUNCTIONS[name]
        if len(args) != arity:
            plural = "s" if arity > 1 else ""
            return self.fail("P201", f"`{name}` takes {arity} argument{plural}, got "
                             f"{len(args)}", where)
        built = [self.build(args[0])]
        if arity == 2:
            second = self.text_or_build(args[1]) if name in _STRING_ARG else self.build(args[1])
            built.append(second)
            if name == "matches" and isinstance(second, Literal):
                self.check_regex(second, args[1])
        return Call(name, tuple(built))

    def check_regex(self, pattern: Literal, where: Tree[Token] | Token) -> None:
        if not isinstance(pattern.value, str):
            return
        try:
            re.compile(pattern.value)
        except (re.error, OverflowError, RecursionError) as exc:
            start, end = bounds(where)
            raw = self.text[start:end]
            pos = getattr(exc, "pos", None)
            if isinstance(pos, int) and raw[1:-1] == pattern.value:
                start, end = start + 1 + pos, start + 2 + pos  # the offending character
            message = getattr(exc, "msg", str(exc))
            self.problems.append(Problem("P205", f"invalid regular expression: {message}",
                                         start + self.offset, end + self.offset))

    def variable(self, token: Token) -> Expr:
        """`${...}` in a condition: a variable path, `${x.exists}`, or a whole expression."""
        if self.mode == "filter":
            return self.fail("P201", "`${...}` is not available in a filter", token,
                             "name item fields directly: `severity == 'high'`")
        content = token[2:-1]
        if not content.strip():
            return self.fail("P201", "empty variable reference", token, "write `${name}`")
        if ":-" in content:
            return self.fail("P201", "`:-` defaults are not available in conditions", token,
                             "test `${name.exists}` to see whether a variable is defined")
        path_text, modifiers, wrong = split_modifiers(content)
        if wrong is not None:
            return self.fail("P201", wrong, token, MODIFIER_HINT)
        if modifiers is not None:
            return Ref(var_path(path_text), modifiers)
        if _SIMPLE_VAR.match(content):
            path = var_path(content)
            if path.segments and path.segments[-1] == "exists":
                return Exists(Path(path.root, path.segments[:-1]))
            return Ref(path)
        start = (token.start_pos or 0) + 2
        try:
            scan(content)
            tree = parse_expr_tree(content)
        except ProblemError as exc:
            self.problems.append(exc.problem.shifted(self.offset + start))
            return Literal(None)
        except UnexpectedInput as exc:
            problem = syntax_problem(exc, content, parse_expr_tree, "expr")
            self.problems.append(problem.shifted(self.offset + start))
            return Literal(None)
        inner = ExprBuilder("inner", content, self.offset + start)
        node = inner.build(tree)
        self.problems.extend(inner.problems)
        return node


def bounds(node: Tree[Token] | Token) -> tuple[int, int]:
    if isinstance(node, Token):
        start = node.start_pos or 0
        return start, node.end_pos if node.end_pos is not None else start + len(node)
    return node.meta.start_pos, node.meta.end_pos


def tree_path(node: Tree[Token]) -> Path:
    root, *rest = (t for t in node.children if isinstance(t, Token))
    segments: list[str | int] = []
    for token in rest:
        if token.type == "INT":
            segments.append(int(token))
        elif token.type == "STRING":
            segments.append(_ESCAPE.sub(r"\1", token[1:-1]))
        else:
            segments.append(str(token))
    return Path(str(root), tuple(segments))
