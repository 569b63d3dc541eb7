"""The lark parsers for the expression language, built once from `grammar/*.lark`.

`grammar/template.lark` lexes templates (text with `${...}` references) and parses variable
paths; `grammar/expression.lark` parses filters, conditions and sort specs. Both are LALR
with the contextual lexer, and keep token positions so diagnostics can point at characters.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from prodigy.compiler.resources import grammar_text
from prodigy.runtime.expr import modifiers
from prodigy.runtime.expr.ast import Path
from prodigy.runtime.git.changes import COUNTS, LISTS, ROOTS

_DIGITS = re.compile(r"[0-9]+\Z")
_DOTTED = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\Z")
_CHANGE = re.compile(rf"((?:{'|'.join(ROOTS)})\.([a-z_]+))(:.*)?\Z", re.DOTALL)
MODIFIER_HINT = ("write a glob (`:*.md`, `:src/**/*.rs,*.toml`) or one format (`:json`, "
                 "`:lines`, `:csv`, `:sh`)")


@cache
def template_parser() -> Lark:
    return Lark(grammar_text("template.lark"), parser="lalr", start=["template", "tpath"],
                propagate_positions=True, maybe_placeholders=False, cache=True)


# cache=True: lark keeps the built LALR tables in the temp dir, keyed by the grammar text and
# the lark version; building them costs ~70 ms per process, which `prodigy validate` in a
# pre-commit hook would otherwise pay on every commit.
@cache
def expression_parser() -> Lark:
    return Lark(grammar_text("expression.lark"), parser="lalr", start=["expr", "sort_spec"],
                propagate_positions=True, maybe_placeholders=False, cache=True)


def parse_expr_tree(text: str) -> Tree[Token]:
    return expression_parser().parse(text, start="expr")


def parse_sort_tree(text: str) -> Tree[Token]:
    return expression_parser().parse(text, start="sort_spec")


def parse_template_tree(text: str) -> Tree[Token]:
    return template_parser().parse(text, start="template")


@lru_cache(maxsize=8192)
def var_path(text: str) -> Path:
    """The path inside `${...}`. Text the path grammar cannot structure (`x%.*`, `a..b`) is
    kept whole: upstream treats it the same way, as a name that never resolves."""
    if _DOTTED.match(text):  # the common `a.b.c` shape, without a parser round trip
        root, *rest = text.split(".")
        return Path(root, tuple(rest))
    try:
        tree = template_parser().parse(text, start="tpath")
    except UnexpectedInput:
        return Path(text)
    root, *rest = (str(t) for t in tree.children)
    kinds = [t.type for t in tree.children[1:] if isinstance(t, Token)]
    segments = tuple(int(s) if kind == "TKEY" and _DIGITS.match(s) else s
                     for s, kind in zip(rest, kinds, strict=True))
    return Path(root, segments)


def split_modifiers(text: str) -> tuple[str, tuple[str, ...] | None, str | None]:
    """(path text, modifiers, problem) of what `${...}` holds, its `:-default` cut off.

    A git change list (`step.files_changed`, `workflow.commits`, ...) gets its modifiers split
    off, an empty tuple when it has none: a list reference renders space-separated, as upstream.
    A change count (`step.insertions`) takes none. Any other text is a path as it is written
    (modifiers None): `:` means nothing there, so the shell's `${x:0:3}` passes through; only
    a final `:sh` (shell quoting, `expr/modifiers.py`) is split off any path.
    """
    match = _CHANGE.match(text)
    if match is None or match[2] not in LISTS + COUNTS:
        if text.endswith(":sh") and len(text) > 3:  # `${item.path:sh}`: any value, shell-quoted
            return text[:-3], modifiers.SH, None
        return text, None, None
    path, field, tail = match[1], match[2], match[3]
    found = tuple(tail[1:].split(":")) if tail is not None else ()
    if field in COUNTS:
        if not found:
            return text, None, None
        return path, None, f"`{path}` is a number: modifiers apply to the lists (files_*, commits)"
    return path, found, modifiers.problem(found)
