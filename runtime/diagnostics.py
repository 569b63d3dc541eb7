"""Diagnostics: the one registry of error codes, the Diagnostic value, and its two renderings.

Every user error prodigy reports (workflow files, plan files, command-line flags) is a
`Diagnostic` with a stable code from `CODES`. The module lives in the runtime, the lower layer,
because `prodigy exec` reports bad plans in the same format without importing the compiler. Stages
collect diagnostics and return them; nothing raises for bad input until the pipeline decides to
stop, so a user sees every problem at once.
"""

from __future__ import annotations

import json
import re
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
    "P003": Code("composition cycle", "a workflow cannot extend, import or use itself"),
    "P101": Code("YAML syntax error", "YAML uses spaces (not tabs) and consistent indentation"),
    "P102": Code("duplicate key", "remove one of the two keys; YAML keeps only the last one"),
    "P103": Code("not a workflow document", "a workflow is a list of steps or a mapping"),
    "P104": Code("recursive or oversized alias", "expand the anchor by hand"),
    "P106": Code("document too large", "keep bulk data out of the workflow: put it in a file "
                 "a map reads (`input: items.json`)"),
    "P105": Code("too many problems", "fix the problems shown and validate again"),
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
    "P120": Code("invalid environment variable name", "a name is letters, digits and `_`, "
                 "not starting with a digit: `MY_VAR`"),
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
    "P210": Code("unknown sub-workflow or import alias", "name a sub-workflow under "
                 "`workflows:` or one of an imported file's, as NAME or ALIAS.NAME"),
    "P211": Code("reference nothing binds at run time", "declare `id:` on the step that "
                 "produces it, or pass `--args`/`--map` for `$ARG`"),
    "P301": Code("dependency cycle", "break the cycle: a step cannot depend on itself"),
    "P302": Code("unreachable handler", "attach the handler to a step that can fail"),
    "P303": Code("duplicate step id", "step ids must be unique within a workflow"),
    "P401": Code("invalid plan file", "regenerate it with `prodigy compile`"),
    "P402": Code("unsupported plan format_version", "recompile the workflow with this prodigy"),
    "P601": Code("item or captured data spliced into a shell command", "write "
                 "`${item.x:sh}` (one quoted word) or read it from the environment: "
                 '"$PRODIGY_ITEM", "$PRODIGY_VAR_<name>"'),
    "P602": Code("map input names a missing file", "commit the file or create it in `setup:`; "
                 "a run's worktree holds only committed files"),
    "P603": Code("work-item data in working_dir", "keep the directory fixed and pass the item "
                 "to the command (`cd ${item.dir:sh}` inside `shell:`)"),
    "P604": Code("step allowed outside the run's directory", "drop `allow_outside` unless the "
                 "step must work outside the project"),
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


# Diagnostics shown per file: past this, one P105 says how many more there are. A file with
# 100,000 problems is one mistake repeated; listing them all took minutes.
MAX_PER_FILE = 100


def capped(ordered: Sequence[Diagnostic], limit: int = MAX_PER_FILE) -> list[Diagnostic]:
    """The first `limit` diagnostics of each file (P105 notes are kept, and not counted), then
    one P105 per file saying how many more were found."""
    shown: dict[str, int] = {}
    hidden: dict[str, list[Diagnostic]] = {}
    kept: list[Diagnostic] = []
    for diag in ordered:
        file = diag.span.file if diag.span else ""
        if diag.code != "P105" and shown.get(file, 0) >= limit:
            hidden.setdefault(file, []).append(diag)
            continue
        kept.append(diag)
        shown[file] = shown.get(file, 0) + (diag.code != "P105")
    for file, rest in hidden.items():
        errors = sum(d.severity is Severity.ERROR for d in rest)
        kept.append(Diagnostic(
            "P105", f"{len(rest)} more problems in this file are not shown ({errors} errors, "
            f"{len(rest) - errors} warnings)", Span(file, 1, 1, 1, 1) if file else None,
            severity=Severity.ERROR if errors else Severity.WARNING))
    return kept


def render_text(diagnostics: Sequence[Diagnostic], sources: dict[str, str]) -> str:
    """Compiler-style text: location, message, the source line with a caret run, the hint.

    Control characters the workflow holds are shown escaped (`\\x1b`): printed raw, a hostile
    file could clear or retitle the terminal of whoever validates it."""
    out: list[str] = []
    split: dict[str, list[str]] = {}  # each file split once, not once per diagnostic
    for diag in diagnostics:
        span = diag.span
        where = f"{span.file}:{span.line}:{span.col}: " if span else ""
        out.append(visible(f"{where}{diag.severity}[{diag.code}]: {_clipped(diag.message)}"))
        text = sources.get(span.file) if span else None
        if span is not None and text is not None:
            lines = split.get(span.file)
            if lines is None:
                lines = split[span.file] = text.splitlines()
            if 1 <= span.line <= len(lines):
                line = lines[span.line - 1].replace("\t", " ")
                end = span.end_col if span.end_line == span.line else len(line) + 1
                # A long line is shown as a window around the span, never whole.
                first = max(0, min(span.col - 1 - EXCERPT // 4, len(line) - EXCERPT))
                shown = line[first:first + EXCERPT]
                lead, trail = ("..." if first else ""), ("..." if first + EXCERPT < len(line)
                                                         else "")
                out.append(f"{span.line:>5} | {lead}{visible(shown)}{trail}")
                # Columns count characters of the raw line; an escape takes four.
                pad = len(lead) + len(visible(shown[:max(0, span.col - 1 - first)]))
                width = len(visible(shown[max(0, span.col - 1 - first):max(0, end - 1 - first)]))
                out.append(f"{'':>5} | {' ' * pad}{'^' * max(1, width)}")
        out.append(visible(f"hint: {diag.effective_hint}"))
    return "\n".join(out) + ("\n" if out else "")


# Characters of a source line shown under a diagnostic, and of a message: a hostile file's
# 5 MB line (or a value a message quotes) is cut, with `...` where it was.
EXCERPT = 160
MESSAGE_LIMIT = 1000


def _clipped(message: str) -> str:
    return message if len(message) <= MESSAGE_LIMIT else f"{message[:MESSAGE_LIMIT]}..."


# C0 and C1 controls and DEL, but for newline and tab.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """`text` with every control character (newline and tab excepted) written as `\\xNN`."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


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
