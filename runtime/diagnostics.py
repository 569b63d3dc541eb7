"""Diagnostics: the one registry of error codes, the Diagnostic value, and its two renderings.

Every user error prodigy reports (workflow files, plan files, command-line flags) is a
`Diagnostic` with a stable code from `CODES`. The module lives in the runtime, the lower layer,
because `prodigy exec` reports bad plans in the same format without importing the compiler. Stages
collect diagnostics and return them; nothing raises for bad input until the pipeline decides to
stop, so a user sees every problem at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from prodigy.runtime.errors import ProdigyError
from prodigy.runtime.span import Span


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Code:
    """What a diagnostic code means, and the hint shown when the reporter has no better one."""

    title: str
    hint: str


# The one table of diagnostic codes. P0xx files, P1xx YAML and schema, P2xx expressions and
# references, P3xx graph checks, P4xx plans, P5xx command-line flags. Codes are never reused.
CODES: dict[str, Code] = {
    "P001": Code("file not found", "check the path; pre-commit passes paths relative to the repo"),
    "P002": Code("file is not UTF-8 text", "save the workflow as UTF-8 text"),
    "P101": Code("YAML syntax error", "YAML uses spaces (not tabs) and consistent indentation"),
    "P102": Code("duplicate key", "remove one of the two keys; YAML keeps only the last one"),
    "P103": Code("not a workflow document", "a workflow is a list of steps or a mapping"),
    "P104": Code("recursive or oversized alias", "expand the anchor by hand"),
    "P110": Code("unknown key", "remove the key or fix its spelling"),
    "P111": Code("wrong type", "see the schema for the accepted forms"),
    "P112": Code("missing required key", "add the key"),
    "P113": Code("invalid value", "use one of the accepted values"),
    # The emitted hint names the command keys (compiler/commands/registry.py).
    "P114": Code("step has no command",
                 "give the step one command (see the step types), or `validate:`"),
    "P115": Code("step has several commands", "split it into one step per command"),
    "P116": Code("schema violation", "see the schema for the accepted forms"),
    "P117": Code("secret value written in the workflow", "read it from the environment: "
                 "`{secret: true, value: \"${TOKEN}\"}` or `secrets: {NAME: ENV_VAR}`"),
    "P118": Code("conflicting settings", "keep one of the two settings"),
    "P119": Code("unsupported feature", "see the README for the supported workflow syntax"),
    "P201": Code("expression syntax error", "see the expression reference in the README"),
    "P202": Code("unknown function", "see the list of filter functions in the README"),
    "P203": Code("unknown step id", "reference an `id:` declared by an earlier step"),
    "P204": Code("item variable outside a map or foreach", "`${item}` exists only in "
                 "map agents and foreach bodies"),
    "P205": Code("invalid regular expression", "check the regex syntax (Python `re`)"),
    "P206": Code("invalid sort_by", "write `field [ASC|DESC] [NULLS FIRST|NULLS LAST], ...`"),
    "P207": Code("invalid json_path", "write a JSONPath such as `$.items[*]`"),
    "P208": Code("reference to a value no earlier step produces", "capture it in an earlier "
                 "step (`capture_output: name` or `capture: name`)"),
    "P209": Code("unresolved numeric setting", "define the variable under `env:`, pass "
                 "`--arg NAME=VALUE` or a `--profile` that sets it, or export it before "
                 "compiling"),
    "P301": Code("dependency cycle", "break the cycle: a step cannot depend on itself"),
    "P302": Code("unreachable handler", "attach the handler to a step that can fail"),
    "P303": Code("duplicate step id", "step ids must be unique within a workflow"),
    "P401": Code("invalid plan file", "regenerate it with `prodigy compile`"),
    "P402": Code("unsupported plan format_version", "recompile the workflow with this prodigy"),
    "P601": Code("work-item data in a shell command, unquoted", 'pass it through the '
                 'environment ("$PRODIGY_ITEM") or at least quote it'),
    "P602": Code("map input names a missing file", "commit the file or create it in `setup:`; "
                 "a run's worktree holds only committed files"),
    "P501": Code("invalid command-line value", "see `prodigy --help`"),
    "P502": Code("unknown profile", "pick one of the profiles the workflow defines"),
    "P505": Code("unknown run", "list the runs with `prodigy runs`"),
    "P506": Code("the run cannot start", "check the workflow's secrets, env_files and the "
                 "--executor options"),
    "P503": Code("missing parameter", "pass it with `--arg NAME=VALUE` or give it a default"),
    "P504": Code("invalid parameter value", "pass a value of the parameter's type"),
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None
    hint: str | None = None
    severity: Severity = Severity.ERROR
    related: tuple[Span, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise KeyError(f"unregistered diagnostic code {self.code}")

    @property
    def effective_hint(self) -> str:
        return self.hint if self.hint is not None else CODES[self.code].hint

    def sort_key(self) -> tuple[str, int, int, str, str]:
        if self.span is None:
            return ("", 0, 0, self.code, self.message)
        return (self.span.file, self.span.line, self.span.col, self.code, self.message)


def sorted_unique(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """All diagnostics sorted by position, each reported once."""
    return sorted(set(diagnostics), key=Diagnostic.sort_key)


def render_text(diagnostics: Sequence[Diagnostic], sources: dict[str, str]) -> str:
    """Compiler-style text: location, message, the source line with a caret run, the hint."""
    out: list[str] = []
    for diag in diagnostics:
        span = diag.span
        where = f"{span.file}:{span.line}:{span.col}: " if span else ""
        out.append(f"{where}{diag.severity}[{diag.code}]: {diag.message}")
        text = sources.get(span.file) if span else None
        if span is not None and text is not None:
            lines = text.splitlines()
            if 1 <= span.line <= len(lines):
                line = lines[span.line - 1].replace("\t", " ")
                gutter = f"{span.line:>5}"
                out.append(f"{gutter} | {line}")
                end = span.end_col if span.end_line == span.line else len(line) + 1
                width = max(1, end - span.col)
                out.append(f"{'':>5} | {' ' * (span.col - 1)}{'^' * width}")
        out.append(f"hint: {diag.effective_hint}")
    return "\n".join(out) + ("\n" if out else "")


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    rows = []
    for diag in diagnostics:
        span = diag.span
        rows.append(
            {
                "file": span.file if span else None,
                "line": span.line if span else None,
                "col": span.col if span else None,
                "end_line": span.end_line if span else None,
                "end_col": span.end_col if span else None,
                "severity": str(diag.severity),
                "code": diag.code,
                "message": diag.message,
                "hint": diag.effective_hint,
            }
        )
    return json.dumps(rows, indent=2) + "\n"


class CompileError(ProdigyError):
    """Raised by the compiler pipeline once a stage produced errors; carries all of them."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = sorted_unique(diagnostics)
        super().__init__(f"{len(self.diagnostics)} error(s)")
