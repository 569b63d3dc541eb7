"""`prodigy exec | run | cook | resume`: run a plan, a workflow, or the rest of a run.

They share the run options and `common.run_and_report`, which maps the outcome to the exit code.
A bad plan, missing file or unknown run is a diagnostic and exit 2, never a traceback. The
compiler is imported inside `run` and `exec "shell: CMD"` only: `exec PLAN.json` and `resume`
never load it. `run` with several inputs (--args, --map) runs one run per input under a group
record (`runtime/run_inputs.py`), which `resume GROUP` continues.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from prodigy.cli.common import (
    RUN_ID,
    ExitCode,
    MergeChoice,
    add_binding_options,
    enter_path,
    import_frozen,
    invalid_input,
    invalid_plan,
    new_run_id,
    parse_bindings,
    print_diagnostics,
    resolve_state_dir,
    run_and_report,
    stored_plan,
    write_html_report,
)

if TYPE_CHECKING:
    from prodigy.runtime.plan import Plan
    from prodigy.runtime.run_inputs import RunGroup, RunInput



def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    exec_ = commands.add_parser(
        "exec", help="run a compiled plan, or one command as a one-step workflow",
        description="Run PLAN.json with checkpoints; or run one command, \"shell: CMD\" or "
                    "\"claude: /CMD ARGS\", as a workflow of that one step.")
    exec_.add_argument("plan", metavar="PLAN.json|COMMAND")
    exec_.add_argument("--retry", type=int, metavar="N",
                       help="a COMMAND: run it up to N times in all until it succeeds")
    exec_.add_argument("--timeout", type=int, metavar="S", help="a COMMAND: its time limit")
    _run_options(exec_)
    exec_.set_defaults(handler=cmd_exec)

    for name, aliases in (("run", ["cook"]),):
        run = commands.add_parser(name, aliases=aliases, help="compile and run a workflow",
                                  description="Compile FILE and run it in one process; with "
                                              "--args/--map, once per input.")
        run.add_argument("file", metavar="FILE")
        add_binding_options(run)
        run.add_argument("--map", metavar="GLOB", action="append", default=[],
                         help="run once per matching file (repeatable): $ARG is the file's "
                              "name up to its first '-', $ARG_PATH its path")
        run.add_argument("--keep-going", action="store_true",
                         help="with several inputs, go on to the next after one failed")
        run.add_argument("--resume", metavar="RUN_ID",
                         help="continue RUN_ID with this (possibly edited) workflow: only nodes "
                              "whose checkpoint key changed, and what follows them, run again")
        _run_options(run)
        run.set_defaults(handler=cmd_run)

    for name, aliases in (("resume", ["resume-job"]),):
        resume = commands.add_parser(name, aliases=aliases,
                                     help="continue an interrupted or failed run",
                                     description="Continue RUN_ID: finished nodes are not run "
                                                 "again; of a run over several inputs, the "
                                                 "inputs that have not succeeded.")
        resume.add_argument("run_id", metavar="RUN_ID")
        _run_options(resume, run_id=False)
        resume.set_defaults(handler=cmd_resume)


def _run_options(parser: argparse.ArgumentParser, run_id: bool = True) -> None:
    parser.add_argument("-p", "--path", metavar="DIR",
                        help="run as if started in DIR (paths, state dir and repository)")
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
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="also print each running command and its output, and what claude "
                             "agents write, as it happens")
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
    parser.add_argument("--report", action="store_true",
                        help="write the run's HTML report when it ends (see `prodigy report`)")
    parser.add_argument("-n", "--max-iterations", type=int, metavar="N",
                        help="run the workflow up to N times, stopping after an iteration "
                             "that made no commits")


# --- handlers ---------------------------------------------------------------------------------


def cmd_exec(args: argparse.Namespace) -> ExitCode:
    from prodigy.runtime.errors import PlanError
    from prodigy.runtime.plan import loads
    from prodigy.runtime.span import Span

    if (moved := enter_path(args)) is not None:
        return moved
    path = Path(args.plan)
    if not path.is_file() and args.plan.lstrip().startswith(_COMMAND_PREFIXES):
        return _exec_command(args)
    if not path.exists() and path.suffix.lower() not in (".json", ".yml", ".yaml"):
        return invalid_input(f"exec {args.plan!r}: neither a plan file nor a command; run a "
                             "compiled plan with `prodigy exec PLAN.json`, or one command with "
                             "`prodigy exec \"shell: CMD\"` or `prodigy exec \"claude: /CMD "
                             "ARGS\"`")
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


_COMMAND_PREFIXES = ("shell:", "claude:")


def _exec_command(args: argparse.Namespace) -> ExitCode:
    """`exec "shell: CMD"`: a one-step workflow, written to the state dir (the run's source,
    so `runs show` and `resume` name it) and compiled like any workflow; only this form of
    `exec` loads the compiler."""
    import yaml

    from prodigy.compiler.pipeline import compile_file
    from prodigy.runtime.diagnostics import CompileError

    kind, _, command = args.plan.strip().partition(":")
    if not command.strip():
        return invalid_input(f"exec {args.plan!r}: the command after {kind + ':'!r} is empty")
    for flag, value in (("--retry", args.retry), ("--timeout", args.timeout)):
        if value is not None and value < 1:
            return invalid_input(f"{flag} must be at least 1")
    step: dict[str, object] = {kind: command.strip()}
    if args.timeout:
        step["timeout"] = args.timeout
    if args.retry and args.retry > 1:
        step["retry"] = {"attempts": args.retry, "backoff": "fixed", "initial_delay": "1s"}
    run_id = args.run_id or new_run_id()
    if not RUN_ID.match(run_id):
        return invalid_input(f"run id {run_id!r}: use letters, digits, '.', '_' and '-'")
    source = resolve_state_dir(args).root / "exec" / f"{run_id}.yml"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(yaml.safe_dump({"name": "exec", "commands": [step]}, sort_keys=False),
                      encoding="utf-8")
    try:
        plan = compile_file(str(source))
    except CompileError as exc:
        print_diagnostics(list(exc.diagnostics), "text")
        return ExitCode.INVALID
    return _execute(plan, args, source=str(source), run_id=run_id, resume=False)


def cmd_run(args: argparse.Namespace) -> ExitCode:
    import glob

    import_frozen("prodigy.compiler.pipeline", "prodigy.runtime.execute")
    from prodigy.runtime.run_inputs import inputs_of

    if (moved := enter_path(args)) is not None:
        return moved
    bindings, errors = parse_bindings(args, positional=False)
    if errors:
        return invalid_input("; ".join(errors))
    files: list[str] = []
    for pattern in args.map:
        matched = sorted(glob.glob(pattern, recursive=True))
        if not matched:
            return invalid_input(f"--map {pattern!r} matches no file")
        files += matched
    inputs = inputs_of(args.positional_args, files)
    if args.resume and (args.run_id or files or len(inputs) > 1):
        return invalid_input("--resume continues one run: it cannot be combined with "
                             "--run-id, --map or several --args")
    # Every --args value is also $ARG_1.., in every input's run, as upstream binds them.
    bindings.update({f"ARG_{i}": v for i, v in enumerate(args.positional_args, start=1)})
    plans: list[Plan] = []
    each: list[RunInput | None] = [*inputs] or [None]
    for item in each:
        plan = _compile(args, {**bindings, **(item.bindings() if item else {})})
        if plan is None:
            return ExitCode.INVALID
        plans.append(_with_env(plan, item.environment()) if item else plan)
    if len(plans) == 1:
        return _execute(plans[0], args, source=args.file, run_id=args.resume or args.run_id,
                        resume=bool(args.resume), bound=dict(plans[0].workflow.get("args") or {}))
    return _start_group(args, inputs, plans)


def _compile(args: argparse.Namespace, bindings: dict[str, str]) -> Plan | None:
    from prodigy.compiler.pipeline import compile_file
    from prodigy.runtime.diagnostics import CompileError

    try:
        return compile_file(args.file, bindings, args.profile)
    except CompileError as exc:
        print_diagnostics(list(exc.diagnostics), "text")
        return None


def _with_env(plan: Plan, env: dict[str, str]) -> Plan:
    """`plan` with `env` in every step's environment (plain text renders as itself), over the
    workflow's own `env`: these names are prodigy's (PRODIGY_ARG, ...)."""
    import dataclasses

    workflow = {**plan.workflow, "env": {**dict(plan.workflow.get("env") or {}), **env}}
    return dataclasses.replace(plan, workflow=workflow)


def _start_group(args: argparse.Namespace, inputs: list[RunInput], plans: list[Plan]
                 ) -> ExitCode:
    """Several inputs: one run each, `GROUP-1..N`, under a group record `resume` reads."""
    from prodigy.runtime.run_inputs import RunGroup, read_group, write_group

    state = resolve_state_dir(args)
    group = RunGroup(args.run_id or new_run_id(), args.file, str(Path.cwd()), inputs,
                     keep_going=args.keep_going)
    if not RUN_ID.match(group.group_id):
        return invalid_input(f"run id {group.group_id!r}: use letters, digits, '.', '_' and '-'")
    if read_group(state, group.group_id) or state.read_run(group.group_id):
        return invalid_input(f"run {group.group_id!r} exists; continue it with "
                             f"`prodigy resume {group.group_id}`")
    if args.dry_run:  # what each input would do; nothing is recorded
        worst = ExitCode.OK
        for item, plan in zip(inputs, plans, strict=True):
            print(f"input {item.index}/{item.total}: {item.path or item.arg}", flush=True)
            worst = max(worst, _execute(plan, args, source=args.file, run_id=None,
                                        resume=False))
        return worst
    write_group(state, group, [plan.dumps() for plan in plans])
    return _run_group(args, group)


def _run_group(args: argparse.Namespace, group: RunGroup) -> ExitCode:
    """Each input in order: skipped when its run succeeded, resumed when it stopped, started
    from its stored plan otherwise; a failure stops the loop unless the group keeps going."""
    from prodigy.runtime.plan import Plan
    from prodigy.runtime.run_inputs import read_plan_text
    from prodigy.runtime.store import RunStatus

    state = resolve_state_dir(args)
    worst, stopped = ExitCode.OK, False
    results: list[tuple[RunInput, str]] = []
    for item in group.inputs:
        run_id = group.run_id(item)
        record = state.read_run(run_id)
        if record is not None and record.status is RunStatus.SUCCEEDED:
            results.append((item, "succeeded"))
            continue
        if stopped:
            results.append((item, "not run"))
            continue
        try:
            text = read_plan_text(state, group, item)
            plan = Plan.from_json(json.loads(text))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return invalid_input(f"input {item.index} of run {group.group_id}: its stored plan "
                                 f"is unreadable: {exc}", code="P401")
        if not args.json:
            print(f"input {item.index}/{item.total}: {item.path or item.arg} (run {run_id})",
                  file=sys.stderr, flush=True)
        code = _execute(plan, args, source=group.source, run_id=run_id,
                        resume=record is not None, cwd=Path(record.cwd if record else group.cwd),
                        bound=dict(plan.workflow.get("args") or {}), plan_text=text,
                        store_plan=record is None)
        worst = max(worst, code)
        results.append((item, _GROUP_STATUS.get(code, "failed")))
        stopped = code is not ExitCode.OK and not (code is ExitCode.FAILED and group.keep_going)
    _group_summary(args, group, results)
    return worst


_GROUP_STATUS = {ExitCode.OK: "succeeded", ExitCode.INTERRUPTED: "interrupted",
                 ExitCode.TERMINATED: "interrupted",
                 ExitCode.LOCKED: "locked", ExitCode.INVALID: "could not start"}


def _group_summary(args: argparse.Namespace, group: RunGroup,
                   results: list[tuple[RunInput, str]]) -> None:
    rows = [{"index": item.index, "arg": item.arg, "path": item.path,
             "run_id": group.run_id(item), "status": status} for item, status in results]
    if args.json:
        print(json.dumps({"event": "inputs_finished", "run_id": group.group_id,
                          "inputs": rows}), flush=True)
        return
    done = sum(row["status"] == "succeeded" for row in rows)
    lines = [f"inputs of run {group.group_id}: {done} of {len(rows)} succeeded"]
    lines += [f"  {row['status']:<15} {row['index']}/{len(rows)} {row['path'] or row['arg']}"
              f"  (run {row['run_id']})" for row in rows]
    if done < len(rows):
        lines.append(f"continue with: prodigy resume {group.group_id}")
    print("\n".join(lines), file=sys.stderr, flush=True)


def cmd_resume(args: argparse.Namespace) -> ExitCode:
    from prodigy.runtime.run_inputs import read_group

    if (moved := enter_path(args)) is not None:
        return moved
    state = resolve_state_dir(args)
    record = state.read_run(args.run_id)
    if record is None:
        group = read_group(state, args.run_id)
        if group is not None:
            return _run_group(args, group)
        return invalid_input(f"no run {args.run_id!r} in {state.root} (see `prodigy runs`)",
                             code="P505")
    plan = stored_plan(state, args.run_id)
    if isinstance(plan, ExitCode):
        return plan
    return _execute(plan, args, source=record.source, run_id=args.run_id, resume=True,
                    cwd=Path(record.cwd), bound=record.args, store_plan=False)


# --- shared by the handlers above --------------------------------------------------------------


def _execute(plan: Plan, args: argparse.Namespace, *, source: str, run_id: str | None,
             resume: bool, cwd: Path | None = None, bound: dict[str, str] | None = None,
             plan_text: str | None = None, store_plan: bool = True) -> ExitCode:
    """Check what only the run commands take (--jobs, --run-id, the run to resume), then run."""
    import_frozen("prodigy.runtime.execute")  # `exec` and `resume` start here
    from prodigy.runtime.force import UnknownForceId
    from prodigy.runtime.force import resolve as resolve_force
    from prodigy.runtime.run import RunOptions

    if args.jobs is not None and args.jobs < 1:
        return invalid_input("--jobs must be at least 1")
    if args.max_iterations is not None and args.max_iterations < 1:
        return invalid_input("--max-iterations must be at least 1")
    if run_id is not None and not RUN_ID.match(run_id):
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
                         max_cost_usd=args.max_cost_usd, max_tokens=args.max_tokens,
                         verbose=args.verbose)
    result = run_and_report(plan, state, options, run_id=run_id, source=source, cwd=cwd,
                            resume=resume, bound=bound,
                            events="json" if args.json else "human", verbose=args.verbose,
                            dry_run=args.dry_run, plan_text=plan_text,
                            store_plan=store_plan, in_place=args.in_place,
                            max_iterations=args.max_iterations,
                            merge=MergeChoice(yes=args.yes, options=options))
    record = state.read_run(result.outcome.run_id) if result.outcome and args.report else None
    written = write_html_report(state, record) if record is not None else None
    if isinstance(written, Path):  # written after merging back: it says how that went
        print(f"report: {written}", file=sys.stderr)
    return result.code
