"""P211: a reference nothing binds at run time. A warning (an error under `validate --strict`).

An unbound reference is not replaced: it reaches the command as written, where a shell reads
`${build.exit_codes}` as a bad substitution and Claude reads `$ARG` as text. Two kinds are
reported, because prodigy knows they can only be its own:
- a dotted `${name.field}` whose root nothing produces (no step id, capture, or built-in
  namespace; one close to a step id is P203 instead), `${last.output}` before any step
  included. A bare `${HOME}` or `$PATH` is the environment's, as ever;
- `$ARG` and `$ARG_N`, which only `--args` and `--map` bind.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from prodigy.compiler.lower_core import Lowered
from prodigy.compiler.lower_exprs import ExprCache, expressions, ref_sites
from prodigy.compiler.model_workflow import Workflow
from prodigy.compiler.scope import LAST
from prodigy.compiler.source import SourceMap
from prodigy.runtime.diagnostics import Diagnostic, Severity

_ARGS = re.compile(r"ARG(?:_[0-9]+)?")
CLOSE = 0.75  # the cutoff `checks` reports a did-you-mean (P203) from


def unbound(workflow: Workflow, lowered: Lowered, cache: ExprCache, source_map: SourceMap,
            args: Mapping[str, str] | None) -> list[Diagnostic]:
    found = list(_unknown_roots(lowered))
    found.extend(_unbound_args(workflow, cache, source_map, args or {}))
    return found


def _unknown_roots(lowered: Lowered) -> Iterator[Diagnostic]:
    ids = sorted(lowered.step_ids)
    for issue in lowered.issues:
        if issue.kind != "unknown" or difflib.get_close_matches(issue.root, ids, 1, CLOSE):
            continue
        why = ("no step runs before it" if issue.root == LAST else
               f"`{issue.root}` is no step id, capture or built-in variable")
        yield Diagnostic(
            "P211", f"nothing binds '${{{issue.text}}}' at run time: {why}, so it reaches the "
            "command as written",
            issue.span, hint="declare `id:` on the step that produces it, or write `$${` for "
            "a literal `${`", severity=Severity.WARNING)


def _unbound_args(workflow: Workflow, cache: ExprCache, source_map: SourceMap,
                  args: Mapping[str, str]) -> Iterator[Diagnostic]:
    for kind, text in expressions(workflow):
        parsed = cache.parse(kind, text) if kind == "template" else None
        if parsed is None or not any(_ARGS.fullmatch(r.root) for r in parsed.refs):
            continue
        sites = ref_sites(text, len(parsed.refs), source_map)
        defaults = _defaults(parsed.encoded)
        for ref, (span, braced), default in zip(parsed.refs, sites, defaults, strict=True):
            if not _ARGS.fullmatch(ref.root) or ref.root in args or (
                    default is not None and default != f"${ref.root}"):
                continue  # bound, or `${ARG:-value}` (a bare `$ARG` defaults to itself)
            written = f"${{{ref.root}}}" if braced else f"${ref.root}"
            yield Diagnostic(
                "P211", f"'{written}' is bound only by `--args VALUE` or `--map GLOB`: without "
                "them it reaches the command as written", span,
                hint="run with `--args VALUE` or `--map 'specs/*.md'`, or give it a default: "
                f"`${{{ref.root}:-value}}`", severity=Severity.WARNING)


def _defaults(encoded: Any) -> list[str | None]:
    """Each variable's default in an encoded template, in order (the runtime codec's form)."""
    parts = encoded[1:] if encoded[0] == "tpl" else (encoded,)
    return [part[2] if len(part) > 2 else None for part in parts
            if isinstance(part, tuple | list) and part[0] == "var"]
