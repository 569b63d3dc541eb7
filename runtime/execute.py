"""Starting (or continuing) a run: its record, its workspace, its iterations, its outcome.

    execute(plan, ...) -> RunOutcome

takes the run's lock, stops commands a killed driver of the same run left running, opens the
workspace (`git/workspace.py`: a worktree of the run's own, found again on resume), builds the
environment and the executor, then runs the plan (`run.Run`) once, or once per iteration with
`-n` (an iteration after the first is a frame of its own, so its nodes have records of their
own; the run record keeps where each iteration started, so a resume continues the one it was
in, and iterating stops after one that made no commits). The record is written before the
first command and after the last.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from prodigy.runtime import environment
from prodigy.runtime.events import EventType
from prodigy.runtime.executors import make_executor
from prodigy.runtime.executors.process import kill_run
from prodigy.runtime.git.repo import GitError, commits_between, git
from prodigy.runtime.git.workspace import Workspace, open_workspace
from prodigy.runtime.nodes import ForeachParams, MapParams
from prodigy.runtime.ops import check_kinds
from prodigy.runtime.plan import Plan
from prodigy.runtime.run import Run, RunOptions, RunOutcome
from prodigy.runtime.run_outcome import CONTROL_KINDS, outcome_of_run
from prodigy.runtime.store import (
    CheckpointStore,
    RunRecord,
    RunStatus,
    StateDir,
    atomic_write,
)

# loky's resource tracker, a helper process of the driver's, outlives a driver killed with
# SIGKILL, cleans up the pool's semaphores, and warns on the terminal about "leaked semlock
# objects" while doing so: expected cleanup, not news for the user. It takes the driver's
# `-W` options (multiprocessing passes sys.warnoptions to the interpreters it starts).
_QUIET_TRACKER = "ignore:resource_tracker:UserWarning"


def execute(plan: Plan, *, state: StateDir, run_id: str, cwd: Path, options: RunOptions,
            source: str, resume: bool, sink: Callable[[dict[str, Any]], None] | None = None,
            args: dict[str, str] | None = None, plan_text: str | None = None,
            store_plan: bool = True, in_place: bool = False, phase: str = "main",
            run_vars: Mapping[str, Any] | None = None,
            max_iterations: int | None = None) -> RunOutcome:
    """Run (or continue) `run_id` started from the directory `cwd`. Raises StateLocked,
    SetupError, PlanError, InternalError.

    The plan is kept in the run dir for `prodigy resume`: `plan_text` when the caller has the
    file's text, else `plan.dumps()`; `store_plan=False` when it is that stored copy already.
    `in_place` (or the workflow's `in_place: true`) runs in the checkout instead of a worktree
    of its own. `phase="merge"` runs only the workflow's `merge:` nodes, in the run's
    worktree, with `run_vars` (`merge.*`) bound. `max_iterations` (`-n`, else the
    workflow's `max_iterations`) runs the workflow up to that many times, stopping after an
    iteration that made no commits (outside git every iteration runs).
    """
    # Written as compiled (lazily: a large foreach is its body plus the items), run as tuples.
    written, plan = plan, plan.materialized()
    kinds = check_kinds(plan)
    started = time.monotonic()
    tag = environment.run_tag(state.root, run_id)
    jobs = options.jobs or default_jobs(plan)
    options = replace(options, jobs=jobs)
    state.lock(run_id)
    store: CheckpointStore | None = None
    run: Run | None = None
    try:
        finished = _already_succeeded(state, run_id, written, plan_text, store_plan, options,
                                      phase) if resume else None
        if finished is not None:
            if sink is not None:  # for --json; the event log and the record stay as they were
                sink({"ts": round(time.time(), 6), "run_id": run_id, "event": "run_finished",
                      "status": str(finished.status), "unchanged": True,
                      "message": finished.message})
            return finished
        if resume:
            kill_run(tag)  # commands a killed driver left running must not race the resume
        if options.executor == "local" and _QUIET_TRACKER not in sys.warnoptions:
            sys.warnoptions.append(_QUIET_TRACKER)
        record = _begin_attempt(state, run_id, plan, source, cwd, args)
        workspace, notes = _workspace(plan, state, run_id, cwd, record,
                                      in_place or bool(plan.workflow.get("in_place")))
        record.workspace = workspace.to_json()
        scope = {**dict(args or {}), **_run_vars(workspace), **dict(run_vars or {})}
        run_env = environment.build(plan.workflow, run_id, Path(workspace.cwd), scope,
                                    run_tag=tag)
        executor = make_executor(options.executor, jobs, options.dask_scheduler)
        try:  # from here on the executor may have started processes
            executor.warm_up(kinds)  # boots while the run's state is set up
            if store_plan:
                atomic_write(state.plan_path(run_id), plan_text or written.dumps())
            state.write_run(record)
            store = CheckpointStore(state.cache_dir)
            store.open_run(run_id, resuming=resume)  # a resume whose records were lost stops
            bound = {**_run_vars(workspace), **dict(run_vars or {})}
            limit = max(1, max_iterations or record.max_iterations
                        or int(plan.workflow.get("max_iterations") or 1))
            record.max_iterations = limit
            # A resume continues the iteration it was in, from the commit it started at.
            done = [i for i in record.iterations if i.get("commits") is not None]
            iteration = min(len(done) + 1, limit) if phase == "main" else 1
            announced = False
            while True:
                if run is not None:
                    run.events.close()
                run = Run(plan, state, store, run_id, workspace, options, run_env, sink,
                          phase, bound, iteration)
                if not announced:  # the first Run of this process: say how it starts
                    kind = EventType.RUN_RESUMED if record.attempts > 1 else \
                        EventType.RUN_STARTED
                    run.events.emit(kind, workflow=record.workflow, source=source,
                                    nodes=len(plan.nodes), executor=executor.name,
                                    steps=sum(n.kind not in CONTROL_KINDS for n in plan.nodes),
                                    jobs=options.jobs, attempt=record.attempts,
                                    phase=phase if phase != "main" else None,
                                    worktree=workspace.worktree or None,
                                    branch=workspace.branch or None,
                                    iterations=limit if limit > 1 else None)
                    for note in notes:
                        run.events.emit(EventType.RUN_NOTE, message=note)
                    announced = True
                if limit > 1:
                    run.events.emit(EventType.RUN_NOTE,
                                    message=f"iteration {iteration} of {limit}")
                if limit > 1 and len(record.iterations) < iteration:
                    record.iterations.append({"iteration": iteration,
                                              "start": _head(workspace), "commits": None})
                    state.write_run(record)
                try:
                    status = run.run(executor)
                except BaseException:
                    record.status = RunStatus.FAILED
                    state.write_run(record)
                    raise
                if status is not RunStatus.SUCCEEDED or limit == 1:
                    break
                made = _commits_since(workspace, record.iterations[iteration - 1]["start"])
                record.iterations[iteration - 1]["commits"] = made
                # What it ran: the summary counts every iteration's, a resumed run's included.
                ran = outcome_of_run(run, status, 0.0, store)
                record.iterations[iteration - 1].update(
                    counts=ran.counts, steps=ran.steps, items=ran.items)
                state.write_run(record)
                if made == 0 or iteration >= limit:
                    if made == 0:
                        run.events.emit(EventType.RUN_NOTE, message=(
                            f"iteration {iteration} made no commits: no more iterations"))
                    break
                iteration += 1
        finally:
            executor.shutdown()
        assert store is not None
        outcome = outcome_of_run(run, status, time.monotonic() - started, store)
        if phase == "main":  # with -n: what every iteration ran, not only the last
            outcome = _over_iterations(outcome, record.iterations, iteration)
        record.status, record.finished_at = status, time.time()
        if phase == "main":  # a merge phase's few nodes are not the run's counts
            record.counts = outcome.counts
        if outcome.spend is not None:
            record.spend = outcome.spend.to_json()
        state.write_run(record)
        run.events.emit(EventType.RUN_FINISHED, status=str(status), counts=outcome.counts,
                        steps=outcome.steps, items=outcome.items or None,
                        failed_items=outcome.failed_items_total or None,
                        duration_s=round(outcome.duration, 3), message=outcome.message or None,
                        resume=record.resume if status is not RunStatus.SUCCEEDED else None)
        return outcome
    finally:
        if run is not None:
            run.events.close()
        if store is not None:
            store.close()
        state.unlock(run_id)


def _workspace(plan: Plan, state: StateDir, run_id: str, cwd: Path, record: RunRecord,
               in_place: bool) -> tuple[Workspace, tuple[str, ...]]:
    """The run's workspace: the one recorded (a resume), or a new worktree (or in place)."""
    previous = Workspace.from_json(record.workspace) if record.workspace else None
    try:
        opened = open_workspace(cwd, run_id, in_place, state.root, previous)
    except (GitError, OSError) as exc:
        raise environment.SetupError(f"cannot make the run's git worktree: {exc}") from None
    return opened.workspace, opened.notes


def _over_iterations(outcome: RunOutcome, iterations: list[dict[str, Any]],
                     last: int) -> RunOutcome:
    """The outcome with the counts of every iteration (`-n`), not only of the last (number
    `last`, whose counts `outcome` has): each earlier one, in this process or before a
    resume, kept its counts in the run record."""
    earlier = [i for n, i in enumerate(iterations, 1) if n != last and "counts" in i]
    if not earlier:
        return outcome

    def total(field: str) -> dict[str, int]:
        out = dict(getattr(outcome, field) or {})
        for iteration in earlier:
            for name, count in (iteration.get(field) or {}).items():
                out[name] = out.get(name, 0) + count
        return dict(sorted(out.items()))

    return replace(outcome, counts=total("counts"), steps=total("steps"), items=total("items"))


def _head(workspace: Workspace) -> str | None:
    if not workspace.repo:
        return None
    return git("rev-parse", "--verify", "--quiet", "HEAD", cwd=workspace.cwd, check=False) or None


def _commits_since(workspace: Workspace, head: str | None) -> int:
    """Commits made since `head` (-1 outside git: unknown, so iterating goes on)."""
    now = _head(workspace)
    if head is None or now is None:
        return -1
    return len(commits_between(head, now, Path(workspace.cwd)))


def _run_vars(workspace: Workspace) -> dict[str, Any]:
    """What the run binds for every node: `${WORKTREE}`, `${PROJECT_ROOT}`, the base commit."""
    found = {"WORKTREE": workspace.cwd, "PROJECT_ROOT": workspace.cwd}
    if workspace.base:
        found["@run_base"] = workspace.base
    return found


def _begin_attempt(state: StateDir, run_id: str, plan: Plan, source: str, cwd: Path,
                   args: dict[str, str] | None) -> RunRecord:
    """The run's record, new or read back, marked running in this process for one more
    attempt (not written yet)."""
    record = state.read_run(run_id)
    now = time.time()
    if record is None:
        record = RunRecord(run_id, RunStatus.RUNNING, str(plan.workflow.get("name") or ""),
                           source, str(cwd), now, now, os.getpid(), args=dict(args or {}),
                           resume=f"prodigy resume {run_id}", attempts=0)
    record.status, record.pid, record.finished_at = RunStatus.RUNNING, os.getpid(), None
    record.attempts += 1
    record.source = source
    return record


def default_jobs(plan: Plan) -> int:
    """`--jobs` not given: the CPU count, or more when a loop asks to run more items at once
    (a map's `max_parallel`, a foreach's `parallel`): agents that wait on a model are not
    CPU-bound, and the user asked for that many. A smaller `--jobs` still caps them."""
    widest, stack = 0, [plan]
    while stack:
        current = stack.pop()
        stack.extend(current.subplans.values())
        for node in current.nodes:
            if isinstance(node.params, MapParams):
                widest = max(widest, int(node.params.max_parallel))
            elif isinstance(node.params, ForeachParams):
                widest = max(widest, int(node.params.parallel))
    return max(os.cpu_count() or 1, widest)


def _already_succeeded(state: StateDir, run_id: str, plan: Plan, plan_text: str | None,
                       store_plan: bool, options: RunOptions, phase: str) -> RunOutcome | None:
    """A resume of a run that already succeeded, with nothing asked of it (no `--force`, no
    `dlq retry`, the same plan): there is nothing to do, so nothing is touched (its record,
    events and worktree stay as they are) and the outcome says so."""
    record = state.read_run(run_id)
    if (record is None or record.status is not RunStatus.SUCCEEDED or phase != "main"
            or options.force or options.retry_items):
        return None
    if store_plan:  # `run --resume`: the same plan as the stored one, or the changes run
        try:
            stored = state.plan_path(run_id).read_text(encoding="utf-8")
        except OSError:
            return None
        if stored != (plan_text or plan.dumps()):
            return None
    message = f"run {run_id} already succeeded: nothing to resume, its record is unchanged"
    if (record.merge or {}).get("status") == "kept":
        message += f"; merge its branch with: prodigy worktree merge {run_id}"
    took = (record.finished_at or record.updated_at) - record.created_at
    return RunOutcome(run_id, RunStatus.SUCCEEDED, dict(record.counts), [], max(0.0, took),
                      message, None, unchanged=True)
