"""`prodigy exec | run | cook | resume | runs | events`: the runtime's commands.

Handlers parse, call the runtime, print, and map outcomes to exit codes: 0 ok, 1 the workflow
failed, 2 invalid input (bad plan, missing file, missing secret; a message, never a traceback),
3 internal error, 4 the state dir is locked by a live run, 130 interrupted (resumable). The
compiler is imported inside `run` only, so `exec` and `resume` never load it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from prodigy.cli.compile_commands import add_binding_options, parse_bindings, print_diagnostics
from prodigy.runtime.span import Span

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERNAL, EXIT_LOCKED = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")


def add_run_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    exec_ = commands.add_parser("exec", help="run a compiled plan (no YAML needed)",
                                description="Run PLAN.json with checkpoints.")
    exec_.add_argument("plan", metavar="PLAN.json")
    _run_options(exec_)
    exec_.set_defaults(handler=cmd_exec)

    for name, aliases in (("run", ["cook"]),):
        run = commands.add_parser(name, aliases=aliases, help="compile and run a workflow",
                                  description="Compile FILE and run it in one process.")
        run.add_argument("file", metavar="FILE")
        add_binding_options(run)
        run.add_argument("--map", metavar="GLOB",
                         help="run once per matching file, with $ARG bound to its path")
        run.add_argument("--resume", metavar="RUN_ID",
                         help="continue RUN_ID with this (possibly edited) workflow: only nodes "
                              "whose checkpoint key changed, and what follows them, run again")
        _run_options(run)
        run.set_defaults(handler=cmd_run)

    resume = commands.add_parser("resume", help="continue an interrupted or failed run",
                                 description="Continue RUN_ID: finished nodes are not run again.")
    resume.add_argument("run_id", metavar="RUN_ID")
    _run_options(resume, run_id=False)
    resume.set_defaults(handler=cmd_resume)

    runs = commands.add_parser("runs", help="list past and current runs, or show one")
    runs.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    runs.add_argument("run_id", nargs="?", metavar="RUN_ID")
    runs.add_argument("--state-dir", metavar="DIR")
    runs.add_argument("--json", action="store_true", help="print JSON")
    runs.set_defaults(handler=cmd_runs)

    events = commands.add_parser("events", help="print a run's event log")
    events.add_argument("run_id", metavar="RUN_ID")
    events.add_argument("--state-dir", metavar="DIR")
    events.add_argument("--json", action="store_true", help="print the raw JSON lines")
    events.add_argument("--follow", "-f", action="store_true",
                        help="keep printing new events until the run ends")
    events.set_defaults(handler=cmd_events)


def add_dlq_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`prodigy dlq ...` (dlq_commands.py), registered next to the run commands."""
    from prodigy.cli import dlq_commands

    dlq_commands.add_dlq_commands(commands)


def _run_options(parser: argparse.ArgumentParser, run_id: bool = True) -> None:
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="nodes running at once (default: CPU count)")
    parser.add_argument("--executor", choices=("local", "inline", "dask"), default="local",
                        help="local: loky process pool (default); inline: one process; "
                             "dask: a Dask cluster")
    parser.add_argument("--dask-scheduler", metavar="ADDRESS",
                        help="Dask scheduler address (default: a local cluster)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="run state directory (default: $PRODIGY_STATE_DIR or ./.prodigy)")
    if run_id:
        parser.add_argument("--run-id", metavar="ID", help="id for a new run (default: generated)")
    parser.add_argument("--json", action="store_true", help="events as JSON lines on stdout")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would run, be reused or skipped, and why; run nothing")
    parser.add_argument("--force", action="append", default=[], metavar="NODE_ID",
                        help="run NODE_ID even if its checkpoint matches (repeatable)")


# --- handlers ---------------------------------------------------------------------------------


def cmd_exec(args: argparse.Namespace) -> int:
    from prodigy.runtime.errors import PlanError
    from prodigy.runtime.plan import loads

    path = Path(args.plan)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        return _invalid(f"cannot read the plan {path}: {reason}", code="P001")
    try:
        plan = loads(text)
    except PlanError as exc:
        return _invalid(str(exc), code=exc.code, span=Span(str(path), exc.line, exc.col,
                                                           exc.line, exc.col + 1))
    return _execute(plan, args, source=str(path), run_id=args.run_id, resume=False,
                    plan_text=text)


def cmd_run(args: argparse.Namespace) -> int:
    from prodigy.runtime.diagnostics import CompileError

    bindings, errors = parse_bindings(args)
    if errors:
        return _invalid("; ".join(errors))
    if args.resume and (args.run_id or args.map):
        return _invalid("--resume continues one run: it cannot be combined with --run-id or --map")
    targets: list[dict[str, str]] = [bindings]
    if args.map:
        import glob

        files = sorted(glob.glob(args.map, recursive=True))
        if not files:
            return _invalid(f"--map {args.map!r} matches no file")
        targets = [{**bindings, "ARG": f, "ARG_1": f, "1": f} for f in files]
    worst = EXIT_OK
    for target in targets:
        from prodigy.compiler.pipeline import compile_file

        try:
            plan = compile_file(args.file, target, args.profile)
        except CompileError as exc:
            print_diagnostics(list(exc.diagnostics), "text")
            return EXIT_INVALID
        code = _execute(plan, args, source=args.file, run_id=args.resume or args.run_id,
                        resume=bool(args.resume), bound=target)
        if code in (EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_INVALID, EXIT_INTERNAL):
            return code
        worst = max(worst, code)
    return worst


def cmd_resume(args: argparse.Namespace) -> int:
    from prodigy.runtime.plan import Plan

    state = _state(args)
    record = state.read_run(args.run_id)
    if record is None:
        return _invalid(f"no run {args.run_id!r} in {state.root} (see `prodigy runs`)", code="P505")
    path = state.plan_path(args.run_id)
    try:
        # The stored copy was validated when the run started; re-validating it would cost a
        # large plan most of a no-op resume.
        plan = Plan.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return _invalid(f"the run's plan {path} is unreadable: {exc}", code="P401")
    return _execute(plan, args, source=record.source, run_id=args.run_id, resume=True,
                    cwd=Path(record.cwd), bound=record.args, store_plan=False)


def cmd_runs(args: argparse.Namespace) -> int:
    state = _state(args)
    if args.action == "show":
        if not args.run_id:
            return _invalid("runs show needs a RUN_ID")
        record = state.read_run(args.run_id)
        if record is None:
            return _invalid(f"no run {args.run_id!r} in {state.root}", code="P505")
        nodes = _node_states(state.events_path(args.run_id))
        if args.json:
            print(json.dumps({**record.to_json(), "nodes": nodes}, indent=1))
            return EXIT_OK
        for key in ("run_id", "status", "workflow", "source", "cwd", "attempts", "resume"):
            print(f"{key + ':':<10} {getattr(record, key)}")
        print(f"{'started:':<10} {_when(record.created_at)}")
        if record.finished_at:
            print(f"{'finished:':<10} {_when(record.finished_at)}")
        print(f"{'counts:':<10} {json.dumps(record.counts)}")
        for node_id, status in nodes.items():
            print(f"  {status:<12} {node_id}")
        return EXIT_OK
    records = state.list_runs()
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=1))
        return EXIT_OK
    if not records:
        print(f"no runs in {state.root}", file=sys.stderr)
        return EXIT_OK
    print(f"{'RUN_ID':<32} {'STATUS':<12} {'STARTED':<20} {'TIME':>8}  WORKFLOW")
    for r in records:
        took = f"{(r.finished_at or time.time()) - r.created_at:.1f}s"
        print(f"{r.run_id:<32} {r.status!s:<12} {_when(r.created_at):<20} {took:>8}  "
              f"{r.workflow or r.source}")
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    from prodigy.runtime.events import follow, pid_alive, read_events
    from prodigy.runtime.report import event_line
    from prodigy.runtime.store import RunStatus

    state = _state(args)
    record = state.read_run(args.run_id)
    if record is None:
        return _invalid(f"no run {args.run_id!r} in {state.root}", code="P505")
    path = state.events_path(args.run_id)

    def alive() -> bool:
        current = state.read_run(args.run_id)
        return bool(current and current.status is RunStatus.RUNNING and pid_alive(current.pid))

    stream = follow(path, alive) if args.follow else read_events(path)
    for event in stream:
        if args.json:
            print(json.dumps(event, ensure_ascii=False), flush=args.follow)
            continue
        line = event_line(event)
        if line is not None:
            print(f"{time.strftime('%H:%M:%S', time.localtime(event['ts']))} {line}",
                  flush=args.follow)
    return EXIT_OK


# --- shared ------------------------------------------------------------------------------------


def _execute(plan: Any, args: argparse.Namespace, *, source: str, run_id: str | None,
             resume: bool, cwd: Path | None = None, bound: dict[str, str] | None = None,
             plan_text: str | None = None, store_plan: bool = True) -> int:
    from prodigy.runtime.decide import dry_run
    from prodigy.runtime.environment import SetupError
    from prodigy.runtime.errors import CheckpointError, PlanError
    from prodigy.runtime.executors import ExecutorUnavailable
    from prodigy.runtime.report import decisions_json, decisions_text, make_reporter
    from prodigy.runtime.run import RunOptions, execute
    from prodigy.runtime.store import RunStatus, StateLocked

    if args.jobs < 1:
        return _invalid("--jobs must be at least 1")
    if run_id is not None and not _RUN_ID.match(run_id):
        return _invalid(f"run id {run_id!r}: use letters, digits, '.', '_' and '-'")
    state = _state(args)
    cwd = cwd or Path.cwd()
    if resume and state.read_run(run_id or "") is None:
        return _invalid(f"no run {run_id!r} in {state.root} to resume", code="P505")
    if not resume and run_id is not None and state.read_run(run_id) is not None:
        return _invalid(f"run {run_id!r} exists; continue it with `prodigy resume {run_id}`")
    force = frozenset(args.force)
    try:
        if args.dry_run:
            rows = dry_run(plan, state=state, run_id=run_id if resume else None, cwd=cwd,
                           force=force, args=bound)
            sys.stdout.write(decisions_json(rows) if args.json else decisions_text(rows))
            return EXIT_OK
        options = RunOptions(jobs=args.jobs, executor=args.executor,
                             dask_scheduler=args.dask_scheduler, force=force)
        reporter = make_reporter(args.json)
        try:
            outcome = execute(plan, state=state, run_id=run_id or _new_run_id(), cwd=cwd,
                              options=options, source=source, resume=resume,
                              sink=reporter.on_event, args=bound, plan_text=plan_text,
                              store_plan=store_plan)
        finally:
            reporter.close()
        reporter.summary(outcome)
    except StateLocked as exc:
        print(f"prodigy: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except PlanError as exc:
        return _invalid(str(exc), code=exc.code,
                        span=Span(source, exc.line, exc.col, exc.line, exc.col + 1))
    except (SetupError, ExecutorUnavailable, CheckpointError) as exc:
        return _invalid(f"{source}: {exc}", code="P506")
    if outcome.status is RunStatus.INTERRUPTED:
        return EXIT_INTERRUPTED
    return EXIT_OK if outcome.status is RunStatus.SUCCEEDED else EXIT_FAILED


def _state(args: argparse.Namespace) -> Any:
    from prodigy.runtime.store import StateDir, default_state_dir

    root = Path(args.state_dir).expanduser() if args.state_dir else default_state_dir(Path.cwd())
    return StateDir(root.absolute())


def _new_run_id() -> str:
    return f"run-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _node_states(path: Path) -> dict[str, str]:
    from prodigy.runtime.events import read_events

    states: dict[str, str] = {}
    for event in read_events(path):
        node = event.get("node")
        if node is None or "item" in event:  # nodes inside loop items: the loop stands for them
            continue
        kind = event.get("event")
        if kind == "node_finished":
            states[node] = str(event.get("status"))
        elif kind == "node_reused":
            states[node] = "reused"
        elif kind == "node_skipped":
            states[node] = str(event.get("status"))
        elif kind == "node_started":
            states[node] = "running"
    return states


def _invalid(message: str, code: str = "P501", span: Span | None = None) -> int:
    """Report invalid input as a diagnostic (the same format as workflow errors) and exit 2."""
    from prodigy.runtime.diagnostics import Diagnostic, render_text

    sources: dict[str, str] = {}
    if span is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            sources[span.file] = Path(span.file).read_text(encoding="utf-8")
    sys.stderr.write(render_text([Diagnostic(code, message, span)], sources))
    return EXIT_INVALID
