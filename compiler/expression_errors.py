"""Error messages for the expression language, chosen from a table of example mistakes.

This follows lark's `match_examples` idea: each entry lists a few malformed inputs; the LALR
parser fails on each of them in some parser state, seeing some kind of token. When a user's
text fails in the same state on the same kind of token, the entry's message applies. We key
on (state, token type) rather than lark's (stack depth, state, token) so that one example
also covers the same mistake nested inside parentheses.

Mistakes the grammar accepts on purpose (a single `=` in a condition, a bare word, an unknown
function, an invalid regex) are reported by the AST builder in `expressions.py`; unbalanced
brackets, unterminated strings and an unclosed `${` are found by `scan` before parsing, so
their diagnostics point at the opening character rather than at the end of the text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from prodigy.runtime.errors import ProdigyError

MAX_DEPTH = 48  # deeper nesting is surely a mistake, and keeps the AST builder's recursion safe


@dataclass(frozen=True, slots=True)
class Problem:
    """A diagnostic before it has a file position: character offsets into the parsed text."""

    code: str
    message: str
    start: int
    end: int
    hint: str | None = None

    def shifted(self, offset: int) -> Problem:
        return Problem(self.code, self.message, self.start + offset, self.end + offset, self.hint)


class ProblemError(ProdigyError):
    """An expression problem found while building the AST; the builder turns it into a
    diagnostic at the expression's position."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Mistake:
    message: str  # may use {token} (the unexpected text) and {prev} (the text before it)
    hint: str
    examples: tuple[str, ...]


EXPRESSION_MISTAKES: dict[str, Mistake] = {
    "dangling": Mistake(
        "`{prev}` needs an operand after it",
        "complete the expression, e.g. `a && b` or `x == 'value'`",
        ("a &&", "a ||", "a and", "a or", "!", "not", "a ==", "a !=", "a <", "a >=",
         "a in", "a matches", "a contains", "a =~", "a == 1 &&", "!a ||")),
    "missing_operand": Mistake(
        "expected a value before `{token}`",
        "each operator needs a value on both sides",
        ("&& a", "|| a", "== 1", "a && && b", "a || || b", "a == == b", "a && == b",
         "!&& a", "a in [1] && || b", "< 1", "a matches == 'x'")),
    "missing_operator": Mistake(
        "expected an operator between `{prev}` and `{token}`",
        "combine conditions with && or ||, compare with == != < <= > >=, and quote text "
        "as 'like this'",
        ("a b", "a 'x'", "'x' b", "a == 1 b", "a == 'x' 'y'", "f(a) b", "(a) b", "1 2",
         "${a} ${b}", "${a} b", "a.b c", "a[0] b", "true b", "a == b c", "a == f(x) y",
         "a == 1 (b)", "a in [1] b", "!a b", "a ${b}", "a == 1 ${b}")),
    "chained": Mistake(
        "comparisons cannot be chained (`{token}`)",
        "split it: `a < b && b < c`",
        ("a == 1 == 2", "a < b < c", "a == 1 in [1]", "a == 1 matches 'x'",
         "a in [1] == 2", "a matches 'x' == 1", "a == f(x) == 1")),
    "in_needs_list": Mistake(
        "`in` needs a list in brackets",
        "write `x in ['a', 'b']`",
        ("a in b", "a in 'x'", "a in 1", "a in ${x}", "a in (1)", "a in f(x)", "a in true")),
    "list_item": Mistake(
        "a list holds values separated by commas",
        "write `x in ['a', 'b', 3]`",
        ("a in [1 2]", "a in [(1)]", "a in [a == 1]", "a in [1,, 2]", "a in [,1]",
         "a in [${x}]", "a in [[1]]", "a in [1,]", "a in [f(x)]")),
    "argument": Mistake(
        "expected a function argument, found `{token}`",
        "arguments are separated by commas: `contains(field, 'text')`",
        ("f(a,)", "f(,a)", "f(a,,b)", "f(a b)", "f(a == 1 b)")),
    "empty_parens": Mistake(
        "empty parentheses",
        "put an expression inside, or remove them",
        ("()", "a && ()", "(())")),
    "path": Mistake(
        "expected a field name after `{prev}`",
        "write `a.b`, `a[0]` for an index, or `a['odd key']` for other keys",
        ("a.", "a.1", "a.'x'", "a.(b)", "a..b", "a.&&", "a.==")),
    "number": Mistake(
        "malformed number",
        "write numbers like 5, -2 or 7.5",
        ("1.2.3", "a == 1.", "a == 1.2.3", "a == .5", "a == 1e", "x in [1.]", "f(1.)")),
    "index": Mistake(
        "expected an index or a quoted key in `[...]`",
        "write `a[0]` or `a['key']`",
        ("a[b]", "a[-1]", "a[]", "a[1.5]", "a[true]")),
}

SORT_MISTAKES: dict[str, Mistake] = {
    "sort_direction": Mistake(
        "expected ASC, DESC, NULLS FIRST, NULLS LAST or `,` after the field, found `{token}`",
        "write `field [ASC|DESC] [NULLS FIRST|NULLS LAST], ...`",
        ("a UP", "a b", "a DESC DESC", "a DESC b", "a 1", "a 'x'", "a DESC ASC",
         "a NULLS FIRST DESC", "a NULLS FIRST b", "a == 1", "a(b)", "a && b")),
    "sort_nulls": Mistake(
        "NULLS must be followed by FIRST or LAST",
        "write `field DESC NULLS FIRST`",
        ("a NULLS", "a NULLS MIDDLE", "a DESC NULLS", "a NULLS ,", "a NULLS 1")),
    "sort_missing_key": Mistake(
        "missing field name in sort_by",
        "separate sort keys with commas: `priority DESC, name`",
        ("a,", ",a", "a,,b", "a DESC,", "1", "'a'", "(a)")),
    "path": EXPRESSION_MISTAKES["path"],
    "index": EXPRESSION_MISTAKES["index"],
}

_CHAR_HINTS = {
    "&": "`and` is written && (or the word AND)",
    "|": "`or` is written || (or the word OR)",
    "$": "wrap variables as ${name}",
    "{": "function arguments go in parentheses: `f(a, b)`",
    "}": "function arguments go in parentheses: `f(a, b)`",
    "=": "compare with ==",
}


def scan(text: str, code: str = "P201") -> None:
    """Find unterminated strings, unclosed `${`, and unbalanced brackets before parsing."""
    closers = {")": "(", "]": "["}
    stack: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise ProblemError(Problem(code, "unterminated string", i, i + 1,
                                           f"close the string with {ch}"))
            i = j
        elif text.startswith("${", i):
            j = text.find("}", i)
            if j < 0:
                raise ProblemError(Problem(code, "unclosed `${`", i, i + 2,
                                           "close the variable with `}`: `${name}`"))
            i = j
        elif ch in "([":
            stack.append((ch, i))
            if len(stack) > MAX_DEPTH:
                raise ProblemError(Problem(code, "expression nested too deeply", i, i + 1,
                                           f"use at most {MAX_DEPTH} levels of brackets"))
        elif ch in closers:
            if not stack or stack[-1][0] != closers[ch]:
                raise ProblemError(Problem(code, f"unmatched `{ch}`", i, i + 1,
                                           f"remove it or add the missing `{closers[ch]}`"))
            stack.pop()
        i += 1
    if stack:
        ch, at = stack[-1]
        close = ")" if ch == "(" else "]"
        raise ProblemError(Problem(code, f"unclosed `{ch}`", at, at + 1,
                                   f"add the missing `{close}`"))


Parse = Callable[[str], Any]


@cache
def _example_index(parse: Parse, table_id: str) -> dict[tuple[Any, ...], str]:
    table = SORT_MISTAKES if table_id == "sort" else EXPRESSION_MISTAKES
    index: dict[tuple[Any, ...], str] = {}
    for label, mistake in table.items():
        for example in mistake.examples:
            try:
                parse(example)
            except UnexpectedInput as exc:
                for key in _keys(exc):
                    index.setdefault(key, label)
    return index


def _keys(exc: UnexpectedInput) -> tuple[tuple[Any, ...], ...]:
    """Lookup keys, most specific first: the parser state and the kind of token seen, with
    and without the set of tokens the parser would have accepted (which tells a list item
    from an operand, although both fail in the state reached right after a literal)."""
    state = getattr(exc, "state", None)
    position = getattr(state, "position", -1)
    if isinstance(exc, UnexpectedToken):
        seen = exc.token.type
    elif isinstance(exc, UnexpectedCharacters):
        seen = "char:" + exc.char
    else:
        seen = "?"
    accepts = frozenset(getattr(exc, "accepts", None) or getattr(exc, "allowed", None) or ())
    return (position, seen, accepts), (position, seen)


def _lookup(exc: UnexpectedInput, parse: Parse, table_id: str) -> str | None:
    index = _example_index(parse, table_id)
    for key in _keys(exc):
        if key in index:
            return index[key]
    return None


def _previous(exc: UnexpectedInput) -> tuple[str, int, int] | None:
    """The last token the parser accepted before failing (text, start, end)."""
    parser = getattr(exc, "interactive_parser", None)
    stack = getattr(getattr(parser, "parser_state", None), "value_stack", None) or []
    for value in reversed(stack):
        token = value
        while not hasattr(token, "start_pos") and getattr(token, "children", None):
            token = token.children[-1]  # a subtree: its last token
        if getattr(token, "start_pos", None) is not None:
            end = getattr(token, "end_pos", None)
            return str(token), token.start_pos, end if end is not None else token.start_pos + 1
        meta = getattr(value, "meta", None)
        if meta is not None and not getattr(meta, "empty", True):
            return "", meta.start_pos, meta.end_pos
    return None


def syntax_problem(exc: UnexpectedInput, text: str, parse: Parse, table_id: str) -> Problem:
    """Turn a lark error into a Problem, using the example table for the message."""
    code = "P206" if table_id == "sort" else "P201"
    table = SORT_MISTAKES if table_id == "sort" else EXPRESSION_MISTAKES
    prev = _previous(exc)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else ""
        label = _lookup(exc, parse, table_id)
        hint = _CHAR_HINTS.get(ch, table[label].hint if label else None)
        return Problem(code, f"unexpected character `{ch}`", pos, pos + 1, hint)
    token = exc.token if isinstance(exc, UnexpectedToken) else None
    at_end = token is None or token.type == "$END"
    if at_end:
        start, end = (prev[1], prev[2]) if prev else (max(len(text) - 1, 0), len(text))
        token_text = ""
    else:
        assert token is not None
        start = token.start_pos or 0
        end = token.end_pos if token.end_pos is not None else start + len(str(token))
        token_text = str(token)
    label = _lookup(exc, parse, table_id)
    if label is not None:
        mistake = table[label]
        message = mistake.message.format(token=token_text or "end of text",
                                         prev=prev[0] if prev else "")
        return Problem(code, message, start, max(end, start + 1), mistake.hint)
    if at_end:
        return Problem(code, "the expression ends too early", start, max(end, start + 1))
    return Problem(code, f"unexpected `{token_text}`", start, max(end, start + 1))
