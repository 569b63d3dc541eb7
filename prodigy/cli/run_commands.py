"""`prodigy exec | run | cook | resume`: run a plan, a workflow, or the rest of a run.

They share the run options and `common.run_and_report`, which maps the outcome to the exit code.
A bad plan, missing file or unknown run is a diagnostic and exit 2, never a traceback. The
compiler is imported inside `run` only, so `exec` and `resume` never load it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from prodigy.cli.common import (
    ExitCode,
    MergeChoice,
    add_binding_options,
    invalid_input,
    invalid_plan,
    parse_bindings,
    print_diagnostics,
    resolve_state_dir,
    run_and_report,
)

if TYPE_CHECKING:
    from prodigy.runtime.plan import Plan

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _run_options(parser: argparse.ArgumentParser, run_id: bool = True) -> None:
    parser.add_argument("--jobs", "-j", type=int, metavar="N",
                        help="nodes running at once (default: the CPU count, or a map's "
                             "max_parallel when that is larger)")
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
    parser.add_argument("--force", action="append", default=[], metavar="ID",
                        help="run the step with this `id:`, or this plan node (main.3), even "
                             "if its checkpoint matches; a step inside a loop body reruns that "
                             "loop (repeatable)")
    parser.add_argument("--in-place", action="store_true",
                        help="work in the checkout itself, not in a git worktree of the run's own")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="merge the run's branch back when it succeeds, without asking")
    parser.add_argument("--max-cost-usd", type=float, metavar="USD",
                        help="the run's spend limit on agents, in place of the workflow's "
                             "max_cost_usd (raise it to resume a run a budget stopped)")
    parser.add_argument("--max-tokens", type=int, metavar="N",
                        help="the run's token limit on agents, in place of the workflow's")
    parser.add_argument("-n", "--max-iterations", type=int, metavar="N",
                        help="run the workflow up to N times, stopping after an iteration "
                             "that made no commits")


# --- handlers ---------------------------------------------------------------------------------


def cmd_exec(args: argparse.Namespace) -> ExitCode:
    from prodigy.runtime.errors import PlanError
    from prodigy.runtime.plan import loads
    from prodigy.runtime.span import Span

    path = Path(args.plan)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        return invalid_input(f"cannot read the plan {path}: {reason}", code="P001")
    try:
        plan = loads(text)
    except PlanError as exc:
        if path.suffix.lower() in (".yml", ".yaml"):  # a workflow, not its compiled plan
            return invalid_input(f"{path} is a workflow, and `exec` runs a compiled plan: run "
                                 f"it with `prodigy run {path}`", code="P401",
                                 span=Span(str(path), 1, 1, 1, 1))
        return invalid_plan(exc, str(path))
    return _execute(plan, args, source=str(path), run_id=args.run_id, resume=False,
                    plan_text=text)


def cmd_run(args: argparse.Namespace) -> ExitCode:
    from prodigy.runtime.diagnostics import CompileError

    bindings, errors = parse_bindings(args)
    if errors:
        return invalid_input("; ".join(errors))
    if args.resume and (args.run_id or args.map):
        return invalid_input(
            "--resume continues one run: it cannot be combined with --run-id or --map")
    targets: list[dict[str, str]] = [bindings]
    if args.map:
        import glob

        files = sorted(glob.glob(args.map, recursive=True))
        if not files:
            return invalid_input(f"--map {args.map!r} matches no file")
        targets = [{**bindings, "ARG": f, "ARG_1": f, "1": f} for f in files]
    worst = ExitCode.OK
    for target in targets:
        from prodigy.compiler.pipeline import compile_file

        try:
            plan = compile_file(args.file, target, args.profile)
        except CompileError as exc:
            print_diagnostics(list(exc.diagnostics), "text")
            return ExitCode.INVALID
        code = _execute(plan, args, source=args.file, run_id=args.resume or args.run_id,
                        resume=bool(args.resume), bound=target)
        if code not in (ExitCode.OK, ExitCode.FAILED):  # the next file would fail the same way
            return code
        worst = max(worst, code)
    return worst


def cmd_resume(args: argparse.Namespace) -> ExitCode:
    from prodigy.runtime.plan import Plan

    state = resolve_state_dir(args)
    record = state.read_run(args.run_id)
    if record is None:
        return invalid_input(f"no run {args.run_id!r} in {state.root} (see `prodigy runs`)",
                             code="P505")
    path = state.plan_path(args.run_id)
    try:
        # The stored copy was validated when the run started; re-validating it would cost a
        # large plan most of a no-op resume.
        plan = Plan.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return invalid_input(f"the run's plan {path} is unreadable: {exc}", code="P401")
    return _execute(plan, args, source=record.source, run_id=args.run_id, resume=True,
                    cwd=Path(record.cwd), bound=record.args, store_plan=False)


# --- shared by the handlers above --------------------------------------------------------------


def _execute(plan: Plan, args: argparse.Namespace, *, source: str, run_id: str | None,
             resume: bool, cwd: Path | None = None, bound: dict[str, str] | None = None,
             plan_text: str | None = None, store_plan: bool = True) -> ExitCode:
    """Check what only the run commands take (--jobs, --run-id, the run to resume), then run."""
    from prodigy.runtime.force import UnknownForceId
    from prodigy.runtime.force import resolve as resolve_force
    from prodigy.runtime.run import RunOptions

    if args.jobs is not None and args.jobs < 1:
        return invalid_input("--jobs must be at least 1")
    if args.max_iterations is not None and args.max_iterations < 1:
        return invalid_input("--max-iterations must be at least 1")
    if run_id is not None and not _RUN_ID.match(run_id):
        return invalid_input(f"run id {run_id!r}: use letters, digits, '.', '_' and '-'")
    state = resolve_state_dir(args)
    cwd = cwd or Path.cwd()
    if resume and state.read_run(run_id or "") is None:
        return invalid_input(f"no run {run_id!r} in {state.root} to resume", code="P505")
    if not resume and run_id is not None and state.read_run(run_id) is not None:
        return invalid_input(f"run {run_id!r} exists; continue it with `prodigy resume {run_id}`")
    for flag, value in (("--max-cost-usd", args.max_cost_usd),
                        ("--max-tokens", args.max_tokens)):
        if value is not None and value <= 0:
            return invalid_input(f"{flag} must be greater than 0")
    try:
        forced = resolve_force(plan, args.force)
    except UnknownForceId as exc:
        return invalid_input(str(exc))
    for note in forced.notes:
        print(f"note: {note}", file=sys.stderr)
    options = RunOptions(jobs=args.jobs, executor=args.executor,
                         dask_scheduler=args.dask_scheduler, force=forced.nodes,
                         max_cost_usd=args.max_cost_usd, max_tokens=args.max_tokens)
    return run_and_report(plan, state, options, run_id=run_id, source=source, cwd=cwd,
                          resume=resume, bound=bound, events="json" if args.json else "human",
                          dry_run=args.dry_run, plan_text=plan_text,
                          store_plan=store_plan, in_place=args.in_place,
                          max_iterations=args.max_iterations,
                          merge=MergeChoice(yes=args.yes, options=options)).code
