"""What every `prodigy` command shares: exit codes, the state dir, diagnostics, the run path.

Command modules import this module and nothing else from `prodigy.cli`; main.py registers them.
The runtime and the compiler are imported inside functions: `prodigy validate` runs as a
pre-commit hook on every commit and should load only what it uses.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from prodigy.runtime.span import Span

if TYPE_CHECKING:
    from prodigy.runtime.diagnostics import Diagnostic
    from prodigy.runtime.errors import PlanError
    from prodigy.runtime.plan import Plan
    from prodigy.runtime.run import RunOptions, RunOutcome
    from prodigy.runtime.store import StateDir


class ExitCode(enum.IntEnum):
    """The process exit codes users and scripts rely on (CONTRACT.md, README "Exit codes")."""

    OK = 0
    FAILED = 1  # the workflow ran and failed
    INVALID = 2  # invalid input: usage, missing file, bad workflow or plan, unusable state dir
    INTERNAL = 3  # a bug (the message says so); never for bad input or bad state
    LOCKED = 4  # the state dir is locked by a live run
    INTERRUPTED = 130  # SIGINT; the run is resumable


# --- the state dir -----------------------------------------------------------------------------


def resolve_state_dir(args: argparse.Namespace) -> StateDir:
    """--state-dir, else $PRODIGY_STATE_DIR, else ./.prodigy."""
    from prodigy.runtime.store import StateDir, default_state_dir

    root = Path(args.state_dir).expanduser() if args.state_dir else default_state_dir(Path.cwd())
    return StateDir(root.absolute())


# --- diagnostics -------------------------------------------------------------------------------


def invalid_input(message: str, code: str = "P501", span: Span | None = None) -> ExitCode:
    """Report invalid input as a diagnostic (the same format as workflow errors): exit 2."""
    from prodigy.runtime.diagnostics import Diagnostic, render_text

    sources: dict[str, str] = {}
    if span is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            sources[span.file] = Path(span.file).read_text(encoding="utf-8")
    sys.stderr.write(render_text([Diagnostic(code, message, span)], sources))
    return ExitCode.INVALID


def invalid_plan(exc: PlanError, source: str) -> ExitCode:
    """A plan that cannot be run, pointed at where in `source` the problem is."""
    return invalid_input(str(exc), code=exc.code,
                         span=Span(source, exc.line, exc.col, exc.line, exc.col + 1))


def print_diagnostics(diagnostics: Sequence[Diagnostic], fmt: str) -> None:
    """Every diagnostic at once, sorted: text with source excerpts on stderr, or JSON on stdout."""
    from prodigy.runtime.diagnostics import render_json, render_text, sorted_unique

    ordered = sorted_unique(diagnostics)
    if fmt == "json":
        sys.stdout.write(render_json(ordered))
        return
    sources: dict[str, str] = {}
    for diag in ordered:
        if diag.span is not None and diag.span.file not in sources:
            try:
                sources[diag.span.file] = Path(diag.span.file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                sources[diag.span.file] = ""
    sys.stderr.write(render_text(ordered, sources))


# --- workflow variables bound on the command line (validate, compile, run) ---------------------


def add_binding_options(parser: argparse.ArgumentParser) -> None:
    """Options that bind workflow variables at compile time."""
    parser.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                        help="bind ${NAME} (repeatable)")
    parser.add_argument("--args", action="append", default=[], metavar="VALUE",
                        dest="positional_args", help="bind $ARG, $ARG_1.., $1.. (repeatable)")
    parser.add_argument("--profile", metavar="NAME", help="activate an env profile")


def parse_bindings(args: argparse.Namespace) -> tuple[dict[str, str], list[str]]:
    """The --arg/--args values as variables; malformed ones are returned as error messages."""
    bound: dict[str, str] = {}
    errors: list[str] = []
    for raw in args.arg:
        name, sep, value = raw.partition("=")
        if not sep or not name.strip():
            errors.append(f"--arg expects NAME=VALUE, got {raw!r}")
            continue
        bound[name.strip()] = value
    positional: list[str] = args.positional_args
    if positional:
        bound.setdefault("ARG", positional[0])
        for index, value in enumerate(positional, start=1):
            bound.setdefault(f"ARG_{index}", value)
            bound.setdefault(str(index), value)
    return bound, errors


# --- the run path (exec, run, resume, dlq retry) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class RunResult:
    """The exit code of a run; `outcome` is None when nothing ran (a dry run, a refused start)."""

    code: ExitCode
    outcome: RunOutcome | None = None


def run_and_report(plan: Plan, state: StateDir, options: RunOptions, *, run_id: str | None,
                   source: str, cwd: Path, resume: bool, bound: dict[str, str] | None,
                   events: Literal["human", "json", "none"], dry_run: bool = False,
                   plan_text: str | None = None, store_plan: bool = True) -> RunResult:
    """Run `plan` (or, with `dry_run`, say what would run), report it, map the result to a code.

    `events`: "human" is the live view (or plain lines) on stderr with a summary, "json" is
    JSON lines on stdout, "none" prints nothing, for a caller that prints its own JSON result.
    A run that cannot start (locked state dir, bad plan, missing secret, unusable executor or
    checkpoint store) is a message and exit 4 or 2, never a traceback.
    """
    from prodigy.runtime.decide import dry_run as decide_dry_run
    from prodigy.runtime.environment import SetupError
    from prodigy.runtime.errors import CheckpointError, PlanError
    from prodigy.runtime.executors import ExecutorUnavailable
    from prodigy.runtime.report import decisions_json, decisions_text, make_reporter
    from prodigy.runtime.run import execute
    from prodigy.runtime.store import RunStatus, StateLocked

    try:
        if dry_run:
            rows = decide_dry_run(plan, state=state, run_id=run_id if resume else None, cwd=cwd,
                                  force=options.force, args=bound)
            sys.stdout.write(decisions_json(rows) if events == "json" else decisions_text(rows))
            return RunResult(ExitCode.OK)
        reporter = None if events == "none" else make_reporter(events == "json")
        try:
            outcome = execute(plan, state=state, run_id=run_id or _new_run_id(), cwd=cwd,
                              options=options, source=source, resume=resume,
                              sink=reporter.on_event if reporter else None, args=bound,
                              plan_text=plan_text, store_plan=store_plan)
        finally:
            if reporter is not None:
                reporter.close()
        if reporter is not None:
            reporter.summary(outcome)
    except StateLocked as exc:
        print(f"prodigy: {exc}", file=sys.stderr)
        return RunResult(ExitCode.LOCKED)
    except PlanError as exc:
        return RunResult(invalid_plan(exc, source))
    except (SetupError, ExecutorUnavailable, CheckpointError) as exc:
        return RunResult(invalid_input(f"{source}: {exc}", code="P506"))
    if outcome.status is RunStatus.INTERRUPTED:
        return RunResult(ExitCode.INTERRUPTED, outcome)
    code = ExitCode.OK if outcome.status is RunStatus.SUCCEEDED else ExitCode.FAILED
    return RunResult(code, outcome)


def _new_run_id() -> str:
    return f"run-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
