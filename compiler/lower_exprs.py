"""Expressions during lowering: parse once, resolve references, encode for the plan.

Every string the runtime interpolates is parsed here (through `compiler.expressions`) and
stored in node params in the runtime codec's encoding, frozen (lists as tuples) so plans
compare equal after a JSON round trip. Each reference becomes a DATA edge from the node that
produces it, a binding (a value known at compile time), or a `Pending` record for the checks.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from prodigy.compiler.expressions import (
    check_json_path,
    parse_condition,
    parse_filter,
    parse_sort,
    parse_template,
)
from prodigy.compiler.model import Text
from prodigy.compiler.source import SourceMap
from prodigy.runtime.diagnostics import Diagnostic
from prodigy.runtime.expr import Path, expr_refs, template_refs, to_json
from prodigy.runtime.expr.ast import Template, Var
from prodigy.runtime.expr.ast import Text as TextPart
from prodigy.runtime.span import Span

_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*|[0-9]+)")


def freeze(value: Any) -> Any:
    """JSON lists as tuples, as `params_from_json` produces them, so round trips compare equal."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: freeze(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class Parsed:
    encoded: Any
    refs: tuple[Path, ...]


@dataclass(slots=True)
class ExprCache:
    """Parses each distinct (text, place) once and shares the encoded result between nodes,
    which is what keeps a 100,000-item foreach small: every item's params point at one tuple."""

    source_map: SourceMap
    diagnostics: list[Diagnostic] = field(default_factory=list)
    _seen: dict[tuple[str, str, object], Parsed | None] = field(default_factory=dict)

    def __len__(self) -> int:
        """How many distinct expressions have been parsed."""
        return len(self._seen)

    def parse(self, kind: str, text: Text) -> Parsed | None:
        key = (kind, text.value, text.path)
        if key in self._seen:
            return self._seen[key]
        at = (self.source_map, text.path) if text.path is not None else None
        found = self._parse(kind, text.value, at)
        diagnostics = found[1]
        self.diagnostics.extend(d if d.span is not None else _placed(d, text.span)
                                for d in diagnostics)
        parsed = None
        if found[0] is not None and not diagnostics:
            node = found[0]
            refs: tuple[Path, ...] = ()
            if kind == "template":
                refs = tuple(template_refs(node))
                node = _as_written(node, text.value)
            elif kind == "condition":
                refs = tuple(expr_refs(node))
            encoded = node if kind == "json_path" else freeze(to_json(node))
            parsed = Parsed(encoded, refs)
        self._seen[key] = parsed
        return parsed

    @staticmethod
    def _parse(kind: str, value: str, at: Any) -> tuple[Any, list[Diagnostic]]:
        parsers: dict[str, Callable[..., tuple[Any, list[Diagnostic]]]] = {
            "template": parse_template, "condition": parse_condition,
            "filter": parse_filter, "sort": parse_sort,
        }
        if kind == "json_path":
            return value, check_json_path(value, at)
        return parsers[kind](value, at)


def _as_written(template: Template, text: str) -> Template:
    """A bare `$NAME` that nothing binds at run time stays `$NAME` (the runtime re-emits an
    unbound reference braced): encoded as `${NAME:-$NAME}`, so a prompt reaches Claude as
    written, and the shell reads what the author wrote. The parser's AST keeps no trace of the
    bare form, so the references are found again lexically (as `ref_sites` does)."""
    bare = [m.group(2) for m in _REF.finditer(text) if m.group(0) != "$${"]
    parts = [p for p in template.parts if isinstance(p, Var)]
    if len(bare) != len(parts) or not any(bare):
        return template
    written = iter(bare)
    out: list[TextPart | Var] = []
    for part in template.parts:
        name = next(written) if isinstance(part, Var) else None
        if (isinstance(part, Var) and name is not None and part.default is None
                and part.modifiers is None and not part.path.segments):
            part = dataclasses.replace(part, default=f"${name}")
        out.append(part)
    return Template(tuple(out))


def _placed(diag: Diagnostic, span: Span) -> Diagnostic:
    return Diagnostic(diag.code, diag.message, span, diag.hint, diag.severity, diag.related)


def ref_sites(text: Text, count: int, source_map: SourceMap) -> list[tuple[Span, bool]]:
    """For each of a template's `count` references: the span of its root name inside the YAML
    string, and whether it was written `${...}` (braced) rather than `$NAME`.

    The parser's AST keeps neither, so the references are found again by the same lexical rule
    upstream uses; if the two disagree, every site falls back to the whole string.
    """
    sites: list[tuple[int, int, bool]] = []
    for match in _REF.finditer(text.value):
        if match.group(0) == "$${":
            continue
        if match.group(1) is not None:
            inner = match.group(1)
            start = match.start(1) + len(inner) - len(inner.lstrip())
            root = re.split(r"[.\[:|]", inner.strip(), maxsplit=1)[0]
            sites.append((start, start + max(len(root), 1), True))
        else:
            sites.append((match.start(2), match.end(2), False))
    if len(sites) != count:
        return [(text.span, True)] * count
    if text.path is None:
        return [(text.span, braced) for _, _, braced in sites]
    return [(source_map.char_span(text.path, text.value, start, end), braced)
            for start, end, braced in sites]


# ------------------------------------------------------------------- the expressions stage

# Which model fields hold which expression language; every other Text is a template.
_KINDS = {("Step", "when"): "condition", ("EnvCondition", "condition"): "condition",
          ("MapPhase", "filter"): "filter", ("MapPhase", "sort_by"): "sort",
          ("MapPhase", "json_path"): "json_path"}
_NOT_EXPRESSIONS = {("Step", "id")}  # an id is a name, never interpolated


def expressions(node: object, kind: str = "template") -> Iterator[tuple[str, Text]]:
    """Every interpolated string of a model value with its language, found by walking the
    dataclasses, so a field added to the model cannot be forgotten here."""
    if isinstance(node, Text):
        yield kind, node
    elif isinstance(node, tuple):
        for item in node:
            # Plain strings (a literal foreach's 100,000 items) are data, never expressions.
            if type(item) is not str:
                yield from expressions(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for name, language in _walked_fields(type(node)):
            value = getattr(node, name)
            if value is not None and type(value) not in _NEVER_EXPRESSIONS:
                yield from expressions(value, language)


# Field values that hold no expression: skipping them keeps this walk cheap on big models.
_NEVER_EXPRESSIONS = frozenset((str, int, float, bool))


@cache
def _walked_fields(cls: type) -> tuple[tuple[str, str], ...]:
    """(field, language) of each field of a model class that may hold expressions."""
    owner = cls.__name__
    return tuple((item.name, _KINDS.get((owner, item.name), "template"))
                 for item in dataclasses.fields(cls) if (owner, item.name) not in _NOT_EXPRESSIONS)


def parse_all(workflow: object, source_map: SourceMap) -> ExprCache:
    """The expressions stage: parse every expression of the model once; lowering then reads
    the results from the cache and never meets a syntax error."""
    cache = ExprCache(source_map)
    for kind, text in expressions(workflow):
        cache.parse(kind, text)
    return cache
