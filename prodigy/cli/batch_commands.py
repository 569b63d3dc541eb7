"""`prodigy batch PATTERN --command CMD`: run one command per matching file, as a map.

The files are the items of a MapReduce workflow of one agent step, so a batch gets what a map
has: agents in parallel (in worktrees of their own in a git repository), failed files in the
DLQ (`prodigy dlq retry`), and `prodigy resume` after a crash. The workflow and its item list
(`{"path": FILE}` per file) are written to the state dir (`run_cleanup.batch_paths`: `prodigy
clean` removes them with the run), so the run's source names a real file, and compiled like
any workflow; the run goes through `common.run_and_report` like `prodigy run`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from prodigy.cli.common import (
    RUN_ID,
    ExitCode,
    MergeChoice,
    enter_path,
    invalid_input,
    new_run_id,
    print_diagnostics,
    resolve_state_dir,
    run_and_report,
)

if TYPE_CHECKING:
    from prodigy.runtime.store import StateDir



def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    batch = commands.add_parser(
        "batch", help="run a command once per matching file, in parallel",
        description="Run CMD once for each file PATTERN matches (a glob; `**` spans "
                    "directories), as the agents of a map: `${item.path}` is the file. CMD is "
                    "a claude command when it starts with `/` or `claude:`, else a shell "
                    "command (`shell:` optional).")
    batch.add_argument("pattern", metavar="PATTERN")
    batch.add_argument("--command", "-c", required=True, metavar="CMD",
                       help="what to run per file, e.g. 'shell: wc -l ${item.path:sh}' or "
                            "'/lint ${item.path}'")
    batch.add_argument("--parallel", type=int, default=5, metavar="N",
                       help="files worked on at once (default 5)")
    batch.add_argument("--retry", type=int, metavar="N",
                       help="run CMD up to N times in all for a file until it succeeds")
    batch.add_argument("--timeout", type=int, metavar="S", help="CMD's time limit per file")
    batch.add_argument("-p", "--path", metavar="DIR",
                       help="run as if started in DIR (pattern, state dir and repository)")
    batch.add_argument("--jobs", "-j", type=int, metavar="N",
                       help="nodes running at once (default: the CPU count, or --parallel "
                            "when that is larger)")
    batch.add_argument("--executor", choices=("local", "inline", "dask"), default="local",
                       help="local: loky process pool (default); inline: one process; "
                            "dask: a Dask cluster")
    batch.add_argument("--state-dir", metavar="DIR",
                       help="run state directory (default: $PRODIGY_STATE_DIR or ./.prodigy)")
    batch.add_argument("--run-id", metavar="ID", help="id for the run (default: generated)")
    batch.add_argument("--json", action="store_true", help="events as JSON lines on stdout")
    batch.add_argument("-v", "--verbose", action="count", default=0,
                       help="also print each running command and its output, and what claude "
                            "agents write, as it happens")
    batch.add_argument("--in-place", action="store_true",
                       help="work in the checkout itself, not in a git worktree of the run's own")
    batch.add_argument("-y", "--yes", action="store_true",
                       help="merge the run's branch back when it succeeds, without asking")
    batch.set_defaults(handler=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> ExitCode:
    import glob

    if (moved := enter_path(args)) is not None:
        return moved
    for flag, value in (("--parallel", args.parallel), ("--jobs", args.jobs),
                        ("--retry", args.retry), ("--timeout", args.timeout)):
        if value is not None and value < 1:
            return invalid_input(f"{flag} must be at least 1")
    step = _step(args.command.strip())
    if isinstance(step, ExitCode):
        return step
    if args.timeout:
        step["timeout"] = args.timeout
    if args.retry and args.retry > 1:  # as `exec --retry`: N attempts in all, 1 s apart
        step["retry"] = {"attempts": args.retry, "backoff": "fixed", "initial_delay": "1s"}
    files = [f for f in sorted(glob.glob(args.pattern, recursive=True)) if Path(f).is_file()]
    if not files:
        return invalid_input(f"batch {args.pattern!r} matches no file (in {Path.cwd()}); quote "
                             "the pattern so the shell leaves `*` and `**` to prodigy")
    run_id = args.run_id or new_run_id()
    if not RUN_ID.match(run_id):
        return invalid_input(f"run id {run_id!r}: use letters, digits, '.', '_' and '-'")
    state = resolve_state_dir(args)
    if state.read_run(run_id) is not None:
        return invalid_input(f"run {run_id!r} exists; continue it with `prodigy resume {run_id}`")
    source = _write_workflow(state, run_id, step, files, args.parallel)
    return _run(args, source, run_id)


def _step(command: str) -> dict[str, object] | ExitCode:
    """The agent step: `claude:` for `/cmd` or `claude: ...`, else `shell:`."""
    kind, body = "shell", command
    for prefix in ("claude:", "shell:"):
        if command.startswith(prefix):
            kind, body = prefix[:-1], command[len(prefix):].strip()
    if command.startswith("/"):
        kind = "claude"
    if not body:
        return invalid_input(f"--command {command!r}: the command is empty")
    return {kind: body}


def _write_workflow(state: StateDir, run_id: str, step: dict[str, object], files: list[str],
                    parallel: int) -> Path:
    import yaml

    from prodigy.runtime.run_cleanup import batch_paths
    from prodigy.runtime.store import atomic_write

    source, items = batch_paths(state, run_id)
    state.ignore_in_git()
    atomic_write(items, json.dumps([{"path": f} for f in files], indent=1) + "\n")
    # An absolute input: agents run in worktrees, and the list stays in the state dir.
    workflow = {"name": "batch", "mode": "mapreduce",
                "map": {"input": str(items.absolute()), "max_parallel": parallel,
                        "agent_template": [step]}}
    atomic_write(source, yaml.safe_dump(workflow, sort_keys=False))
    return source


def _run(args: argparse.Namespace, source: Path, run_id: str) -> ExitCode:
    from prodigy.compiler.pipeline import compile_file
    from prodigy.runtime.diagnostics import CompileError
    from prodigy.runtime.run import RunOptions

    try:
        plan = compile_file(str(source))
    except CompileError as exc:
        print_diagnostics(list(exc.diagnostics), "text")
        return ExitCode.INVALID
    options = RunOptions(jobs=args.jobs, executor=args.executor)
    result = run_and_report(plan, resolve_state_dir(args), options, run_id=run_id,
                            source=str(source), cwd=Path.cwd(), resume=False, bound=None,
                            events="json" if args.json else "human", verbose=args.verbose,
                            in_place=args.in_place,
                            merge=MergeChoice(yes=args.yes, options=options))
    return result.code
