"""The expression AST: templates, filter/condition expressions and sort specs.

Every node is a frozen, slotted dataclass, so plans can share nodes freely and hash them, and
`str(node)` renders canonical source text that parses back to an equal node. The compiler
builds these nodes (with lark); the runtime only evaluates them, so this module imports nothing
but the standard library.

Canonical rendering rules worth knowing:
- `$NAME` and `${NAME}` mean the same thing (an unresolved bare `$NAME` is re-emitted as
  `${NAME}` anyway), so the AST keeps no trace of the bare form and renders braces.
- A literal `${` in template text renders as the escape `$${`.
- Infix `x matches 're'` / `x contains 's'` / `x =~ 're'` are the same nodes as the function
  forms and render as `matches(x, 're')`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

Segment = str | int
JsonScalar = str | int | float | bool | None

# A field name usable bare in filters and sort keys. `-` is allowed because step ids such as
# `unit-tests` are common and the language has no arithmetic that it could be confused with.
EXPR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
# Words the expression lexer reads as operators or literals, so a field with one of these
# names must be written in brackets (`['in']`), and cannot be the first segment of a path.
KEYWORDS = frozenset({"and", "or", "not", "in", "matches", "contains", "true", "false", "null"})
COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=")
FUNCTIONS: dict[str, int] = {  # name -> arity
    "contains": 2, "starts_with": 2, "ends_with": 2, "matches": 2, "length": 2,
    "is_null": 1, "is_not_null": 1, "is_number": 1, "is_string": 1, "is_bool": 1,
    "is_array": 1, "is_object": 1,
}


@dataclass(frozen=True, slots=True)
class Path:
    """A variable or field reference: a root name and the segments walked from it.

    A str segment is an object key, an int segment an array index. A reference the grammar
    cannot structure (say the shell's `${name##*.}`) is kept whole as `root` with no segments:
    it then only ever resolves as a flat key of exactly that text.
    """

    root: str
    segments: tuple[Segment, ...] = ()

    def __str__(self) -> str:
        """Template form: `.name`, `[N]`, and `[key.with.dots]` for keys holding a dot."""
        out = [self.root]
        for seg in self.segments:
            if isinstance(seg, int) or "." in seg:
                out.append(f"[{seg}]")
            else:
                out.append(f".{seg}")
        return "".join(out)

    def expr_text(self) -> str:
        """Expression form: bare names where possible, otherwise `['quoted key']`."""
        out = [self.root]
        for seg in self.segments:
            if isinstance(seg, int):
                out.append(f"[{seg}]")
            elif EXPR_NAME.match(seg) and seg.lower() not in KEYWORDS:
                out.append(f".{seg}")
            else:
                out.append(f"[{quote(seg)}]")
        return "".join(out)


def quote(value: str) -> str:
    """A string literal in the expression language (`\\'`, `\\"` and `\\\\` are the escapes)."""
    mark = "'" if "'" not in value or '"' in value else '"'
    out = []
    for i, ch in enumerate(value):
        if ch == "\\":
            # A backslash only needs doubling where it would otherwise start an escape, so
            # regexes such as '\d+\.\d' read naturally.
            nxt = value[i + 1] if i + 1 < len(value) else ""
            out.append("\\\\" if nxt in ("", "\\", "'", '"') else "\\")
        elif ch == mark:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return mark + "".join(out) + mark


# ---------------------------------------------------------------------------------- templates


@dataclass(frozen=True, slots=True)
class Text:
    value: str

    def __str__(self) -> str:
        return self.value.replace("${", "$${")


@dataclass(frozen=True, slots=True)
class Var:
    """`${path}` or `${path:-default}`; the default is literal text, never interpolated.

    `modifiers` is None for a plain variable. A tuple (possibly empty) makes the value a list
    rendered through its modifiers (`${step.files_changed:*.md:json}`: glob filters, then one
    format; space-separated by default): the git change lists (`expr/modifiers.py`).
    """

    path: Path
    default: str | None = None
    modifiers: tuple[str, ...] | None = None

    def __str__(self) -> str:
        tail = "" if self.default is None else f":-{self.default}"
        return f"${{{self.path}{_modifiers_text(self.modifiers)}{tail}}}"


def _modifiers_text(modifiers: tuple[str, ...] | None) -> str:
    return "".join(f":{m}" for m in modifiers or ())


@dataclass(frozen=True, slots=True)
class Template:
    parts: tuple[Text | Var, ...] = ()

    @property
    def is_plain(self) -> bool:
        return all(isinstance(p, Text) for p in self.parts)

    def __str__(self) -> str:
        out: list[str] = []
        prev = ""
        for part in self.parts:
            text = str(part)
            # Text ending in `$` before `${x}` would read as the escape `$${`: such text can only
            # have come from `$$x`, so write the variable back in its bare form.
            if isinstance(part, Var) and prev.endswith("$") and _bare_ok(part):
                text = f"${part.path.root}"
            out.append(text)
            prev = text
        return "".join(out)


def _bare_ok(var: Var) -> bool:
    root = var.path.root
    return (var.default is None and not var.path.segments
            and bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+", root)))


# -------------------------------------------------------------------------------- expressions

# Binding strength, used to parenthesise only where the parser needs it.
_OR, _AND, _NOT, _CMP, _ATOM = 1, 2, 3, 4, 5


@dataclass(frozen=True, slots=True)
class Literal:
    value: JsonScalar

    def __str__(self) -> str:
        v = self.value
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return quote(v)
        return repr(v)


@dataclass(frozen=True, slots=True)
class Field:
    """A field of the current map item (filters): `severity`, `location.file`, `tags[0]`."""

    path: Path

    def __str__(self) -> str:
        return self.path.expr_text()


@dataclass(frozen=True, slots=True)
class Ref:
    """A workflow variable (conditions): `${name}`; undefined evaluates to null. With
    `modifiers` (see `Var`) it evaluates to the list's rendered text."""

    path: Path
    modifiers: tuple[str, ...] | None = None

    def __str__(self) -> str:
        return f"${{{self.path}{_modifiers_text(self.modifiers)}}}"


@dataclass(frozen=True, slots=True)
class Exists:
    """`${name.exists}`: whether the variable is defined at all."""

    path: Path

    def __str__(self) -> str:
        return f"${{{self.path}.exists}}"


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr

    def __str__(self) -> str:
        return "!" + _wrap(self.operand, _ATOM if not isinstance(self.operand, Not) else _NOT)


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Expr, ...]

    def __str__(self) -> str:
        return " && ".join(_wrap(op, _NOT) for op in self.operands)


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Expr, ...]

    def __str__(self) -> str:
        return " || ".join(_wrap(op, _AND) for op in self.operands)


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # one of COMPARE_OPS
    left: Expr
    right: Expr

    def __str__(self) -> str:
        return f"{_wrap(self.left, _ATOM)} {self.op} {_wrap(self.right, _ATOM)}"


@dataclass(frozen=True, slots=True)
class In:
    """`x in [v1, v2]`: typed membership in a list of literals."""

    operand: Expr
    values: tuple[Literal, ...]

    def __str__(self) -> str:
        items = ", ".join(str(v) for v in self.values)
        return f"{_wrap(self.operand, _ATOM)} in [{items}]"


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # one of FUNCTIONS
    args: tuple[Expr, ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(str(a) for a in self.args)})"


Expr = Literal | Field | Ref | Exists | Not | And | Or | Compare | In | Call


def _strength(node: Expr) -> int:
    if isinstance(node, Or):
        return _OR
    if isinstance(node, And):
        return _AND
    if isinstance(node, Not):
        return _NOT
    if isinstance(node, Compare | In):
        return _CMP
    return _ATOM


def _wrap(node: Expr, needed: int) -> str:
    text = str(node)
    return text if _strength(node) >= needed else f"({text})"


# --------------------------------------------------------------------------------- sort specs


@dataclass(frozen=True, slots=True)
class SortKey:
    path: Path
    descending: bool = False
    nulls_first: bool = False  # independent of direction, as upstream

    def __str__(self) -> str:
        text = self.path.expr_text()
        if self.descending:
            text += " DESC"
        if self.nulls_first:
            text += " NULLS FIRST"
        return text


@dataclass(frozen=True, slots=True)
class SortSpec:
    keys: tuple[SortKey, ...]

    def __str__(self) -> str:
        return ", ".join(str(k) for k in self.keys)


Node = Template | Text | Var | Expr | SortSpec | SortKey


def walk(node: Expr) -> Iterator[Expr]:
    """Every node of an expression, parents before children."""
    yield node
    if isinstance(node, Not):
        yield from walk(node.operand)
    elif isinstance(node, And | Or):
        for op in node.operands:
            yield from walk(op)
    elif isinstance(node, Compare):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, In):
        yield from walk(node.operand)
    elif isinstance(node, Call):
        for arg in node.args:
            yield from walk(arg)


def expr_refs(node: Expr) -> list[Path]:
    """The workflow variables a condition reads (`${x}` and `${x.exists}`), in order."""
    return [n.path for n in walk(node) if isinstance(n, Ref | Exists)]


def template_refs(template: Template) -> list[Path]:
    """The variables a template references, in order (repeats included)."""
    return [p.path for p in template.parts if isinstance(p, Var)]
