"""What every `prodigy` command shares: exit codes, the state dir, diagnostics, the run path.

Command modules import this module and nothing else from `prodigy.cli`; main.py registers them.
The runtime and the compiler are imported inside functions: `prodigy validate` runs as a
pre-commit hook on every commit and should load only what it uses.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from prodigy.runtime.bounded_read import MAX_WORKFLOW_BYTES, read_text_bounded
from prodigy.runtime.span import Span

if TYPE_CHECKING:
    from prodigy.runtime.diagnostics import Diagnostic
    from prodigy.runtime.errors import PlanError
    from prodigy.runtime.plan import Plan
    from prodigy.runtime.run import RunOptions, RunOutcome
    from prodigy.runtime.store import RunRecord, StateDir


# A run id names a directory and files in the state dir, and a git branch.
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")


class ExitCode(enum.IntEnum):
    """The process exit codes users and scripts rely on (CONTRACT.md, README "Exit codes")."""

    OK = 0
    FAILED = 1  # the workflow ran and failed
    INVALID = 2  # invalid input: usage, missing file, bad workflow or plan, unusable state dir
    INTERNAL = 3  # a bug (the message says so); never for bad input or bad state
    LOCKED = 4  # the run is locked by a live process
    INTERRUPTED = 130  # SIGINT; the run is resumable
    TERMINATED = 143  # SIGTERM; the run is resumable too


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
            sources[span.file] = read_text_bounded(span.file, MAX_WORKFLOW_BYTES)
    sys.stderr.write(render_text([Diagnostic(code, message, span)], sources))
    return ExitCode.INVALID


def invalid_plan(exc: PlanError, source: str) -> ExitCode:
    """A plan that cannot be run, pointed at where in `source` the problem is."""
    return invalid_input(str(exc), code=exc.code,
                         span=Span(source, exc.line, exc.col, exc.line, exc.col + 1))


def print_diagnostics(diagnostics: Sequence[Diagnostic], fmt: str) -> None:
    """Every diagnostic at once, sorted: text with source excerpts on stderr, or JSON on stdout."""
    from prodigy.runtime.diagnostics import capped, render_json, render_text, sorted_unique

    ordered = capped(sorted_unique(diagnostics))
    if fmt == "json":
        sys.stdout.write(render_json(ordered))
        return
    sources: dict[str, str] = {}
    for diag in ordered:
        if diag.span is not None and diag.span.file not in sources:
            try:
                sources[diag.span.file] = read_text_bounded(diag.span.file, MAX_WORKFLOW_BYTES)
            except (OSError, UnicodeDecodeError):
                sources[diag.span.file] = ""
    sys.stderr.write(render_text(ordered, sources))


# --- workflow variables bound on the command line (validate, compile, run) ---------------------


def add_binding_options(parser: argparse.ArgumentParser) -> None:
    """Options that bind workflow variables at compile time."""
    parser.add_argument("--arg", "--param", action="append", default=[], dest="arg",
                        metavar="NAME=VALUE", help="bind ${NAME} (repeatable; --param is "
                                                   "the same option, upstream's name)")
    parser.add_argument("--param-file", metavar="FILE",
                        help="bind ${NAME} for each NAME: VALUE of a JSON or YAML mapping "
                             "(--arg/--param values win)")
    parser.add_argument("--args", action="append", default=[], metavar="VALUE",
                        dest="positional_args", help="bind $ARG, $ARG_1.., $1.. (repeatable)")
    parser.add_argument("--profile", metavar="NAME", help="activate an env profile")


def parse_bindings(args: argparse.Namespace, positional: bool = True
                   ) -> tuple[dict[str, str], list[str]]:
    """The --param-file, --arg/--param (and with `positional`, --args) values as variables;
    malformed ones are returned as error messages."""
    errors: list[str] = []
    bound = _param_file(args.param_file, errors) if args.param_file else {}
    for raw in args.arg:
        name, sep, value = raw.partition("=")
        if not sep or not name.strip():
            errors.append(f"--arg expects NAME=VALUE, got {raw!r}")
            continue
        bound[name.strip()] = value
    values: list[str] = args.positional_args if positional else []
    if values:
        bound.setdefault("ARG", values[0])
    for index, value in enumerate(values, start=1):
        bound.setdefault(f"ARG_{index}", value)
        bound.setdefault(str(index), value)
    return bound, errors


def _param_file(path: str, errors: list[str]) -> dict[str, str]:
    """A JSON or YAML mapping of parameter values, as text: YAML reads JSON too, and infers
    numbers and booleans (`true` -> "true", `3` -> "3"), which the compiler checks against
    a parameter's type as it checks `--param` text."""
    import json

    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"--param-file {path}: {getattr(exc, 'strerror', None) or exc}")
        return {}
    except yaml.YAMLError as exc:
        errors.append(f"--param-file {path} is neither JSON nor YAML: {exc}")
        return {}
    if not isinstance(data, dict):
        errors.append(f"--param-file {path} must hold a mapping of NAME: VALUE")
        return {}
    out: dict[str, str] = {}
    for name, value in data.items():
        if isinstance(value, bool):
            out[str(name)] = "true" if value else "false"
        elif isinstance(value, str):
            out[str(name)] = value
        elif value is None:
            out[str(name)] = ""
        elif isinstance(value, (int, float)):
            out[str(name)] = str(value)
        else:  # a list or mapping: its JSON text, as `${NAME}` would render it
            out[str(name)] = json.dumps(value, separators=(",", ":"))
    return out


def enter_path(args: argparse.Namespace) -> ExitCode | None:
    """`-p/--path DIR`: work as if started in DIR (relative paths, the state dir, the git
    repository are all DIR's); an error code when DIR is not a directory."""
    import os

    folder = getattr(args, "path", None)
    if not folder:
        return None
    try:
        os.chdir(Path(folder).expanduser())
    except OSError as exc:
        return invalid_input(f"-p/--path {folder}: {exc.strerror or exc}")
    return None


# --- the run path (exec, run, resume, dlq retry) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class RunResult:
    """The exit code of a run; `outcome` is None when nothing ran (a dry run, a refused start)."""

    code: ExitCode
    outcome: RunOutcome | None = None


def run_and_report(plan: Plan, state: StateDir, options: RunOptions, *, run_id: str | None,
                   source: str, cwd: Path, resume: bool, bound: dict[str, str] | None,
                   events: Literal["human", "json", "none"], dry_run: bool = False,
                   plan_text: str | None = None, store_plan: bool = True,
                   in_place: bool = False, merge: MergeChoice | None = None,
                   max_iterations: int | None = None, verbose: int = 0) -> RunResult:
    """Run `plan` (or, with `dry_run`, say what would run), report it, map the result to a code.

    `events`: "human" is the live view (or plain lines) on stderr with a summary, "json" is
    JSON lines on stdout, "none" prints nothing, for a caller that prints its own JSON result.
    A run that cannot start (locked run, bad plan, missing secret, unusable executor or
    checkpoint store, a worktree git cannot make) is a message and exit 4 or 2, never a
    traceback. A run that succeeded in a worktree of its own is merged back per `merge`.
    """
    from prodigy.runtime.decide import dry_run as decide_dry_run
    from prodigy.runtime.environment import SetupError
    from prodigy.runtime.errors import CheckpointError, PlanError
    from prodigy.runtime.execute import execute
    from prodigy.runtime.executors import ExecutorUnavailable
    from prodigy.runtime.report import decisions_json, decisions_text, make_reporter
    from prodigy.runtime.store import RunStatus, StateLocked

    try:
        if dry_run:
            rows = decide_dry_run(plan, state=state, run_id=run_id if resume else None, cwd=cwd,
                                  force=options.force, args=bound)
            sys.stdout.write(decisions_json(rows) if events == "json" else decisions_text(rows))
            return RunResult(ExitCode.OK)
        reporter = None if events == "none" else make_reporter(events == "json",
                                                                 verbose=verbose)
        try:
            outcome = execute(plan, state=state, run_id=run_id or new_run_id(), cwd=cwd,
                              options=options, source=source, resume=resume,
                              sink=reporter.on_event if reporter else None, args=bound,
                              plan_text=plan_text, store_plan=store_plan, in_place=in_place,
                              max_iterations=max_iterations)
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
    except SetupError as exc:  # a bad env-file line is pointed at in its own file
        return RunResult(invalid_input(str(exc), code=exc.code, span=exc.span) if exc.span
                         else invalid_input(f"{source}: {exc}", code="P506"))
    except (ExecutorUnavailable, CheckpointError) as exc:
        return RunResult(invalid_input(f"{source}: {exc}", code="P506"))
    if outcome.status is RunStatus.INTERRUPTED:
        # 128 + the signal, as a shell reports it; a budget stop (no signal) is a Ctrl-C's.
        import signal  # here: `validate`, which imports this module, never runs anything

        terminated = outcome.signal == signal.SIGTERM
        return RunResult(ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED, outcome)
    if outcome.status is not RunStatus.SUCCEEDED:
        if outcome.workspace is not None and outcome.workspace.isolated and events != "json":
            print(f"the run's worktree is kept: {outcome.workspace.worktree}", file=sys.stderr)
        return RunResult(ExitCode.FAILED, outcome)
    if outcome.workspace is not None and outcome.workspace.isolated:
        code = merge_back(plan, state, outcome.run_id, merge or MergeChoice(),
                          quiet=events == "json")
        return RunResult(code, outcome)
    return RunResult(ExitCode.OK, outcome)


@dataclass(frozen=True, slots=True)
class MergeChoice:
    """How a finished run's branch is merged back: `yes` merges (-y); `ask` asks on a
    terminal; otherwise the branch is kept and the user is told how to merge it."""

    yes: bool = False
    ask: bool = True
    options: RunOptions | None = None  # for a `merge:` block's run (jobs, executor)


def merge_back(plan: Plan, state: StateDir, run_id: str, choice: MergeChoice,
               quiet: bool = False) -> ExitCode:
    """Merge `run_id`'s branch into the branch it started from, as `choice` says.

    Nothing to merge removes the worktree. Declined or not asked keeps the branch (exit 0:
    the run succeeded). A merge that could not be made (dirty checkout, conflict, a failing
    `merge:` block) keeps everything as it was and exits 1 with how to finish.
    """
    from prodigy.runtime.git.merge_back import (
        MergeStatus,
        keep_run_worktree,
        merge_run,
        pending_commits,
    )
    from prodigy.runtime.git.workspace import Workspace

    record = state.read_run(run_id)
    if record is None or not record.workspace.get("worktree"):
        return invalid_input(f"run {run_id!r} has no worktree of its own to merge", "P505")
    ws = Workspace.from_json(record.workspace)

    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr)

    pending = pending_commits(ws)
    if pending and not choice.yes:
        question = (f"Merge {len(pending)} commit{'s' * (len(pending) != 1)} of {ws.branch} "
                    f"into {ws.target or 'its starting point'}? [y/N] ")
        if not (choice.ask and sys.stdin.isatty() and sys.stderr.isatty()
                and _confirm(question)):
            say(f"the run's changes are on branch {ws.branch} ({len(pending)} commit"
                f"{'s' * (len(pending) != 1)}, worktree {ws.worktree}); merge them with: "
                f"prodigy worktree merge {run_id}")
            record.merge = {"status": "kept", "at": time.time(), "commits": len(pending)}
            state.write_run(record)
            keep_run_worktree(ws, f"not merged yet: prodigy worktree merge {run_id}")
            return ExitCode.OK
    custom = (_merge_block(plan, state, record, choice, quiet)
              if any(node.phase == "merge" for node in plan.nodes) else None)
    result = merge_run(ws, run_id, record.workflow, custom)
    record = state.read_run(run_id) or record
    record.merge = {"status": str(result.status), "message": result.message,
                    "at": time.time(), "commits": result.commits}
    state.write_run(record)
    say(("merged: " if result.status is MergeStatus.MERGED else "merge: ") + result.message)
    return ExitCode.OK if result.status in (MergeStatus.MERGED, MergeStatus.NOTHING) \
        else ExitCode.FAILED


def _merge_block(plan: Plan, state: StateDir, record: RunRecord, choice: MergeChoice,
                 quiet: bool) -> Callable[[Mapping[str, str]], bool]:
    """The workflow's `merge:` block, to run in the run's worktree with `${merge.*}`."""
    from prodigy.runtime.execute import execute
    from prodigy.runtime.report import make_reporter
    from prodigy.runtime.run import RunOptions
    from prodigy.runtime.store import RunStatus

    def run_block(variables: Mapping[str, str]) -> bool:
        reporter = None if quiet else make_reporter(False)
        try:
            outcome = execute(plan, state=state, run_id=record.run_id, cwd=Path(record.cwd),
                              options=choice.options or RunOptions(), source=record.source,
                              resume=True, args=record.args, store_plan=False,
                              phase="merge", run_vars=variables,
                              sink=reporter.on_event if reporter else None)
        finally:
            if reporter is not None:
                reporter.close()
        if reporter is not None and outcome.status is not RunStatus.SUCCEEDED:
            reporter.summary(outcome)
        return outcome.status is RunStatus.SUCCEEDED

    return run_block


def _confirm(question: str) -> bool:
    sys.stderr.write(question)
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except (OSError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")


def import_frozen(*modules: str) -> None:
    """Import `modules` with the cyclic GC paused, then freeze what exists. Loading the
    compiler and the runtime allocates some 100,000 long-lived objects (115 dataclasses,
    networkx, lark), which sets off repeated full collections that find nothing to free: ~6%
    of a `validate` of one file (a pre-commit hook pays it on every commit) and of a short
    run's start-up. Frozen, they are not walked again by the collections of the work itself."""
    import gc
    import importlib

    enabled = gc.isenabled()
    gc.disable()
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def new_run_id() -> str:
    import secrets  # here: it loads hashlib and random, which `validate` has no use for

    return f"run-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def local_time(ts: float | None) -> str:
    """A recorded timestamp as the listings print it (`runs`, `dlq`): local, to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts or 0))


def stored_plan(state: StateDir, run_id: str) -> Plan | ExitCode:
    """The plan a run keeps in its run dir (for resume, dlq retry, merging back), or the
    diagnostic's exit code when it cannot be read. The stored copy was validated when the run
    started: re-validating it would cost a large plan most of a no-op resume."""
    import json

    from prodigy.runtime.plan import Plan

    path = state.plan_path(run_id)
    try:
        return Plan.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return invalid_input(f"the run's plan {path} is unreadable: {exc}", code="P401")


def write_html_report(state: StateDir, record: RunRecord,
                      out: Path | None = None) -> Path | ExitCode:
    """`prodigy report` and `run --report`: write the run's HTML report, with its plan drawn by
    the compiler's emitters (here, on the CLI side: the runtime never imports the compiler).
    Its path, or the exit code of the diagnostic printed when it could not be written."""
    import json

    from prodigy.runtime.errors import CheckpointError
    from prodigy.runtime.html_report import PlanPicture, write_report
    from prodigy.runtime.plan import Plan

    picture = None
    try:
        plan = Plan.from_json(json.loads(state.plan_path(record.run_id).read_text("utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        plan = None  # the report says the plan could not be read; the rest still stands
    if plan is not None:
        from prodigy.compiler.emit import to_dot, to_mermaid

        picture = PlanPicture.draw(to_dot(plan), to_mermaid(plan))
    try:
        return write_report(state, record, out, picture)
    except (OSError, CheckpointError) as exc:
        return invalid_input(f"cannot write the report of {record.run_id}: {exc}", code="P501")


def recorded_run(state: StateDir, run_id: str) -> RunRecord | ExitCode:
    """`run_id`'s record, or the diagnostic's exit code (no such run, an unreadable record)."""
    from prodigy.runtime.errors import CheckpointError

    try:
        record = state.read_run(run_id)
    except CheckpointError as exc:
        return invalid_input(str(exc), code="P505")
    if record is None:
        return invalid_input(f"no run {run_id!r} in {state.root} (see `prodigy runs`)",
                             code="P505")
    return record


def older_than_seconds(text: str | None) -> float | ExitCode | None:
    """`--older-than`: seconds (None when not given), or the diagnostic's exit code."""
    from prodigy.runtime.git.cleanup import parse_duration

    if text is None:
        return None
    seconds = parse_duration(text)
    if seconds is None:
        return invalid_input(f"--older-than {text!r} is not a duration: a number and a unit "
                             "(s, m, h, d), e.g. 30m, 12h, 7d or 1d12h")
    return seconds
