"""Modifiers of list references, as upstream documents them for the git change lists:
`${step.files_changed:*.md}`, `${step.files_added:json}`, `${workflow.commits:lines}`,
`${step.files_modified:src/**/*.rs,*.toml:csv}`.

Each modifier is a glob filter (it holds `*`, `?` or `[`; commas separate alternatives, any of
which may match) or a format: `json` (a JSON array), `lines`/`newline` (one per line),
`csv`/`comma` (comma-separated), `sh` (each item a POSIX single-quoted shell word,
space-separated). Without a format the items are space-separated. Filters apply
in turn, the format last; at most one format. Globs match whole paths as upstream's (the
`glob` crate's defaults): `*` and `?` also match `/`, and a `**/` component matches any number
of directories, none included, so `*.md` matches `docs/guide.md` and `src/**/*.rs` matches
`src/lib.rs`.

`:sh` also applies to any other value (`${item.path:sh}`): the compiler splits it off every
reference, and a value that is not a list is quoted whole, as one word. POSIX single quotes
leave every byte literal (only `'` itself needs the `'\\''` dance), so whatever the data holds,
`$(...)`, backticks, `"`, `'`, newlines, `\\`, `$HOME` or globs, the shell sees one word whose
text is the value, byte for byte.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from prodigy.runtime.expr.values import stringify

FORMATS = {"json": "json", "lines": "lines", "newline": "lines", "csv": "csv", "comma": "csv",
           "sh": "sh"}
SH = ("sh",)
_GLOB_CHARS = frozenset("*?[")
_SEPARATORS = {"space": " ", "lines": "\n", "csv": ","}


def is_glob(modifier: str) -> bool:
    return not _GLOB_CHARS.isdisjoint(modifier)


def problem(modifiers: Sequence[str]) -> str | None:
    """Why a list of modifiers is wrong, or None."""
    formats = [m for m in modifiers if m in FORMATS]
    for modifier in modifiers:
        if modifier not in FORMATS and not is_glob(modifier):
            return f"unknown modifier `:{modifier}`" if modifier else "empty modifier `:`"
    if len(formats) > 1:
        return f"two formats: `:{formats[0]}` and `:{formats[1]}`"
    return None


def render(value: Any, modifiers: Sequence[str]) -> str:
    """A list value filtered and formatted. A string counts as a space-separated list (as
    upstream's values are), any other scalar as a list of itself, null as an empty list; but
    with `:sh` alone, any value but a list is quoted whole (`sh_word`)."""
    if tuple(modifiers) == SH and not isinstance(value, list | tuple):
        return sh_word(value)
    items = _items(value)
    fmt = "space"
    for modifier in modifiers:
        if modifier in FORMATS:
            fmt = FORMATS[modifier]
        else:
            match = _matcher(modifier)
            items = [item for item in items if match(item)]
    if fmt == "json":
        return json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    if fmt == "sh":
        return " ".join(shlex.quote(item) for item in items)
    return _SEPARATORS[fmt].join(items)


def sh_word(value: Any) -> str:
    """`value` rendered as text (null as empty), as one POSIX shell word: `''` when empty."""
    return shlex.quote(stringify(value))


def _items(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list | tuple):
        return [v if isinstance(v, str) else stringify(v) for v in value]
    return [stringify(value)]


@lru_cache(maxsize=256)
def _matcher(pattern: str) -> Any:
    """`pattern` (comma-separated alternatives) as a compiled regex's fullmatch."""
    alternatives = [_translate(p) for p in pattern.split(",") if p]
    return re.compile("|".join(f"(?:{a})" for a in alternatives) or "(?!)", re.DOTALL).fullmatch


def _translate(glob: str) -> str:
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        ch = glob[i]
        if ch == "*":
            j = i
            while j < n and glob[j] == "*":
                j += 1
            component = j - i >= 2 and (i == 0 or glob[i - 1] == "/")
            if component and j < n and glob[j] == "/":
                out.append("(?:.*/)?")  # `**/`: any number of directories, none included
                j += 1
            else:
                out.append(".*")
            i = j
            continue
        if ch == "?":
            out.append(".")
        elif ch == "[" and (end := _class_end(glob, i)) > 0:
            body = glob[i + 1:end]
            negate = body[:1] == "!"
            body = (body[1:] if negate else body).replace("\\", "\\\\").replace("[", "\\[")
            if body.startswith("^"):
                body = "\\" + body  # literal in a glob class, negation in a regex one
            out.append("[" + ("^" if negate else "") + body + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _class_end(glob: str, start: int) -> int:
    """Index of the `]` closing the class opened at `start`; -1 when unclosed (then `[` is
    literal). A `]` right after `[` or `[!` belongs to the class."""
    i = start + 1
    if i < len(glob) and glob[i] == "!":
        i += 1
    if i < len(glob) and glob[i] == "]":
        i += 1
    end = glob.find("]", i)
    return end
