"""The one run loop: feed ready nodes to an executor, checkpoint every result, resume.

    Run(plan, ...).run(executor) -> RunStatus   (`execute.py` starts it: lock, record,
                                                 workspace, iterations)
      round: fire due retries -> dispatch ready nodes of every live frame (prepare, key,
             decide: reuse / run / start a loop) -> settle (frames that ended go back to their
             loop; loops that ended complete their node) -> flush: ONE transaction with the
             records of the last results (and the started records of new loops), then send
             the tasks -> wait for results (the executor's `wait`; the `local` executor starts
             queued tasks as slots free, also on `poll()` between pieces of the loop's work)
             -> finish each attempt (retry? succeed / fail / handle)

The driver owns everything with state: the frames (`frame.py`: the main plan, and the
sub-plan instances loops create), the loops (`loops/`), retries (with backoff timers, so a
waiting retry does not hold a worker), timeouts (put into the task, enforced where the
process runs), checkpoint writes and events. A task is sent only after the records of its
round are committed, so a node is dispatched only after the done records of what it depends
on are.
While the executor still has plenty queued, a round may wait up to BATCH_S for more results
so that short nodes share a transaction. The workflow's `timeout_s` stops the run as failed.
Ctrl-C (or SIGTERM) sets a flag the loop checks between rounds, so no write is torn: the loop
stops scheduling, stops the running commands' process groups, records what finished, and
reports the run INTERRUPTED (exit 130, resumable).

The run works in its workspace (`git/workspace.py`): its own git worktree on `prodigy/<run
id>`, or the checkout in place. Git work the driver does for loops (making an agent's
worktree, merging it back) runs on threads (`background`), so a slow checkout never stalls the
loop; merges go through one thread, in order. Merge-phase nodes (a workflow's `merge:`) run
when the run's worktree is merged back (`execute(..., phase="merge")`); a run in place has
nothing to merge, so there they end `not_run` (reason `no_worktree`).
"""

from __future__ import annotations

import heapq
import itertools
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prodigy.runtime import environment
from prodigy.runtime.agents_live import AgentWatch
from prodigy.runtime.budgets import Budget
from prodigy.runtime.errors import ProdigyError
from prodigy.runtime.events import EventLog, EventType
from prodigy.runtime.executors import Executor, TaskFuture
from prodigy.runtime.executors.process import KILL_GRACE_S, kill_run
from prodigy.runtime.frame import Frame, FrameSpec, Template
from prodigy.runtime.git.workspace import Workspace
from prodigy.runtime.loops import LOOPS, Loop
from prodigy.runtime.masking import Masker
from prodigy.runtime.ops import NodeResult, Prepared, Task
from prodigy.runtime.plan import Plan
from prodigy.runtime.scheduler import NodeState, Reason
from prodigy.runtime.store import (
    CheckpointStore,
    RunStatus,
    StateDir,
)
from prodigy.runtime.usage import Spend

BATCH_S = 0.05  # longest a finished node's done record waits for company in a transaction


class InternalError(ProdigyError):
    """The runtime reached a state it should not: a bug, reported as such (exit 3)."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    # Tasks running at once; None: not given, so `execute` sizes it (`default_jobs`: the CPU
    # count, or a loop's own parallelism when it asks for more).
    jobs: int | None = None
    executor: str = "local"
    dask_scheduler: str | None = None
    force: frozenset[str] = frozenset()
    # `prodigy dlq retry`: loop node id -> indices of the items to run again whatever their
    # records say; the loop nodes and everything after them are forced to run.
    retry_items: Mapping[str, frozenset[int]] = field(default_factory=dict)
    # `--max-cost-usd` / `--max-tokens`: the run's limits in place of the workflow's.
    max_cost_usd: float | None = None
    max_tokens: int | None = None
    verbose: int = 0  # -v: running commands' output followed as it is written


@dataclass(slots=True)
class RunOutcome:
    run_id: str
    status: RunStatus
    counts: dict[str, int]
    failed: list[dict[str, Any]] = field(default_factory=list)
    duration: float = 0.0
    message: str = ""  # why the run as a whole ended early, if it did
    workspace: Workspace | None = None
    spend: Spend | None = None  # what its agents cost (None: no agent ran)
    # The same counts in the user's terms: the workflow's steps (no handler, barrier or gate
    # nodes, no handler body that was not needed) and the items of its loops.
    steps: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    # Map items in the dead-letter queue now (this attempt's failures and earlier ones): the
    # first few entries, and how many there are.
    failed_items: list[dict[str, Any]] = field(default_factory=list)
    failed_items_total: int = 0
    unchanged: bool = False  # nothing ran: the run had already succeeded (`prodigy resume`)
    signal: int | None = None  # what interrupted it (SIGINT, SIGTERM): the exit code says which


class Run:
    """One execution of a plan under a run id; `execute()` below is the entry point.

    It is the host of frames and loops: they reach the executor, the timers, the store and
    the event log only through it.
    """

    def __init__(self, plan: Plan, state: StateDir, store: CheckpointStore, run_id: str,
                 workspace: Workspace, options: RunOptions,
                 run_env: environment.RunEnvironment,
                 sink: Callable[[dict[str, Any]], None] | None, phase: str = "main",
                 run_vars: Mapping[str, Any] | None = None, iteration: int = 1) -> None:
        self.plan, self.state, self.store, self.run_id = plan, state, store, run_id
        self.workspace, self.env = workspace, run_env
        self.cwd = cwd = Path(workspace.cwd)
        self.masker = Masker(run_env.mask_values)
        self.events = EventLog(state.events_path(run_id), run_id, self.masker, sink)
        self.log_dir = str(state.log_dir(run_id))
        self.subplans: dict[str, Plan] = {}
        stack = [plan]
        while stack:  # every sub-plan by name, wherever it is nested
            for name, sub in stack.pop().subplans.items():
                self.subplans[name] = sub
                stack.append(sub)
        self._templates: dict[str, Template] = {}
        # The merge phase runs on its own (phase="merge"), when the worktree is merged back;
        # a run in place never has one, so its merge nodes are reported not run.
        dropped = {n.id for n in plan.nodes if (n.phase == "merge") != (phase == "merge")}
        self.merge_nodes = ([n for n in plan.nodes if n.phase == "merge"]
                            if phase == "main" and not workspace.isolated else [])
        main = plan
        if dropped:
            main = Plan(plan.workflow, tuple(n for n in plan.nodes if n.id not in dropped),
                        tuple(e for e in plan.edges if e.src not in dropped
                              and e.dst not in dropped), plan.subplans)
        tpl = Template.of(main)
        if options.retry_items:
            forced = set(options.force)
            for loop in options.retry_items:
                if loop in tpl.nodes:
                    forced.add(loop)
                    forced |= _descendants(tpl, loop)
            options = replace(options, force=frozenset(forced))
        self.options = options
        scope = environment.base_scope(plan.workflow, run_env, run_vars)
        # Iterations after the first (`-n`) are frames of their own: their nodes have their
        # own records, so a resume continues the iteration it was in.
        prefix, link = (f"iteration{iteration}/", f"iteration:{iteration}") \
            if iteration > 1 else ("", "")
        self.main = Frame(self, tpl, FrameSpec(
            prefix, {**scope, "ITERATION": str(iteration), "workflow.iteration": iteration},
            {}, cwd, link, env={"ITERATION": str(iteration)}))
        self.frames: list[Frame] = [self.main]
        self.loops: list[Loop] = []  # the loops running
        self.futures: dict[TaskFuture, tuple[Any, str, Task]] = {}
        self.lane_failures: dict[int, int] = {}  # lane -> its failed commands harvested
        self.outbox: list[tuple[Any, str, Task]] = []  # tasks waiting for this round's commit
        self.timers: list[tuple[float, int, Frame, str, Task]] = []
        self.writes: list[Any] = []  # store records of this round (nodes, items, DLQ)
        self.unsaved_since: float | None = None  # when the oldest uncommitted result came
        self.interrupted = False
        self.signal: int | None = None  # the signal that interrupted it
        limit = plan.workflow.get("timeout_s")
        self.deadline = time.monotonic() + float(limit) if limit else None
        self.timed_out = False
        # A phase's `timeout` (setup: {timeout: N}) bounds the phase from its first command on.
        self.phase_timeouts: dict[str, float] = {
            str(k): float(v) for k, v in (plan.workflow.get("phase_timeouts") or {}).items()}
        self.phase_started: dict[str, float] = {}
        self._seq = itertools.count()
        self._inline_node: str | None = None
        self.executor: Executor | None = None
        self.jobs: dict[Future[Any], tuple[Any, str]] = {}  # background git work of loops
        self.spend = Spend()  # what the run's agents cost so far (reused nodes included)
        self.budget = Budget.of(plan.workflow).raised(options.max_cost_usd, options.max_tokens)
        self.budget_stop: str | None = None  # why a spend limit stopped the run
        # Running agents' tool use (and with -v every running command's output), live.
        self.agents = AgentWatch(self.events, logs=self.options.verbose > 0)
        self._pools: dict[bool, ThreadPoolExecutor] = {}

    # --- what frames and loops use ---------------------------------------------------------

    def phase_remaining(self, phase: str) -> float | None:
        """Seconds left in `phase`'s time limit (the clock starts at its first command)."""
        limit = self.phase_timeouts.get(phase)
        if limit is None:
            return None
        started = self.phase_started.setdefault(phase, time.monotonic())
        return max(0.01, started + limit - time.monotonic())

    def template(self, subplan: str) -> Template:
        tpl = self._templates.get(subplan)
        if tpl is None:
            tpl = self._templates[subplan] = Template.of(self.subplans[subplan])
        return tpl

    def new_frame(self, tpl: Template, spec: FrameSpec, owner: Any) -> Frame:
        frame = Frame(self, tpl, spec, owner)
        self.frames.append(frame)
        if self.budget_stop is not None:
            frame.sched.stop(Reason.BUDGET)  # a loop's next attempt starts nothing either
        return frame

    def spent(self, node_budget: Budget, node_spend: Spend, label: str) -> None:
        """Agent usage was just added: stop starting work if a limit is reached."""
        why = self.budget.exceeded(self.spend, "the workflow's") or (
            node_budget.exceeded(node_spend, f"step {label!r}") if node_budget else None)
        if why is None or self.budget_stop is not None:
            return
        self.budget_stop = why
        self.events.emit(EventType.RUN_NOTE, message=f"budget: {why}; nothing new starts")
        for frame in self.frames:
            frame.sched.stop(Reason.BUDGET)
        for loop in self.loops:
            loop.stop_starting(why)

    def submit(self, owner: Any, tag: str, task: Task) -> None:
        """Queue a task of a frame node (owner: the Frame) or of a loop (owner: the Loop, tag
        its own); `_flush` hands it to the executor once the round's records are in."""
        self.outbox.append((owner, tag, task))

    def retry_later(self, frame: Frame, node_id: str, task: Task, delay: float) -> None:
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self._seq), frame, node_id,
                                     task))

    def start_loop(self, frame: Frame, node_id: str, prepared: Prepared, fresh: bool) -> None:
        loop = LOOPS[frame.tpl.nodes[node_id].kind](self, frame, node_id, prepared)
        loop.fresh = fresh
        self.loops.append(loop)
        loop.begin()

    def background(self, owner: Any, tag: str, work: Callable[[], Any],
                   serial: bool = False) -> None:
        """Run `work` on a driver thread; `owner.job_finished(tag, future)` gets it in a later
        round. `serial` work runs one at a time in submission order (merges into the run's
        worktree); the rest runs a few at a time (making worktrees)."""
        pool = self._pools.get(serial)
        if pool is None:
            pool = self._pools[serial] = ThreadPoolExecutor(
                1 if serial else max(2, min(4, self.capacity)),
                thread_name_prefix="prodigy-git")
        self.jobs[pool.submit(work)] = (owner, tag)

    def _reap_jobs(self, wait: bool = False) -> None:
        for future in [f for f in self.jobs if wait or f.done()]:
            owner, tag = self.jobs.pop(future)
            future.exception()  # waits for it when `wait`
            owner.job_finished(tag, future)
        if self.jobs and wait:
            self._reap_jobs(wait=True)  # finishing a job may have queued another (a merge)

    @property
    def capacity(self) -> int:
        """Tasks the executor takes at once: those it runs and those it queues for a slot."""
        return self.executor.capacity if self.executor is not None else 1

    @property
    def slots(self) -> int:
        """Tasks it runs at once (`--jobs`; one for the inline executor)."""
        return max(1, min(self.options.jobs or 1, self.capacity))

    # --- the loop --------------------------------------------------------------------------

    def run(self, executor: Executor) -> RunStatus:
        self.executor = executor
        for node in self.merge_nodes:
            self.events.emit(EventType.NODE_SKIPPED, node=node.id, label=node.label,
                             status=str(NodeState.NOT_RUN), reason=str(Reason.NO_WORKTREE))
        try:
            with self._signals():
                try:
                    self._loop()
                except KeyboardInterrupt:
                    self.interrupted = True
                if self.interrupted:
                    self._wind_down()
        finally:
            for pool in self._pools.values():
                pool.shutdown(wait=True)
            self.events.flush()
        leftovers = [f"{f.prefix}{n}" for f in self.frames for n in f.sched.leftovers()]
        if leftovers or self.loops:
            raise InternalError("scheduler left nodes unresolved: "
                                f"{', '.join(leftovers[:5]) or 'a loop'}")
        if self.timed_out:
            return RunStatus.FAILED
        if self.interrupted:
            return RunStatus.INTERRUPTED
        if self.budget_stop is not None:
            return RunStatus.FAILED
        return RunStatus.FAILED if self.main.sched.failed else RunStatus.SUCCEEDED

    def _loop(self) -> None:
        while not self.interrupted:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                # The workflow's own time limit: stop like Ctrl-C, but the run has failed.
                self.timed_out = self.interrupted = True
                return
            if not self._batching():
                self._fire_timers()
                self._dispatch()
                self._flush()  # the last harvest's records, then send the new tasks
                if (self.main.sched.finished and not self.futures and not self.timers
                        and not self.loops):
                    return
            timeout = 0.25 if not self.jobs else 0.005
            batch_end = self.unsaved_since + BATCH_S if self.unsaved_since is not None else None
            for due in (self.timers[0][0] if self.timers else None, self.deadline, batch_end):
                if due is not None:
                    timeout = max(0.0, min(timeout, due - time.monotonic()))
            if not self.futures:
                time.sleep(timeout if not self.loops else min(timeout, 0.05))
                self._reap_jobs()
                continue
            assert self.executor is not None
            done = self.executor.wait(list(self.futures), timeout)
            # In submission order: items a lane started one after another are reported so.
            for future in [f for f in self.futures if f in done] if len(done) > 1 else done:
                self._harvest(future)
            for frame in self.frames:
                if frame.pools is not None:
                    frame.pools.release()
            for loop in self.loops:
                loop.release()
            self._reap_jobs()
            self.agents.poll(self.futures.values())
            if self.writes and self.unsaved_since is None:
                self.unsaved_since = time.monotonic()

    def _batching(self) -> bool:
        """Hold this round's commit back a little while the executor still has plenty queued.

        Short nodes then share one transaction instead of paying one each. The workers stay
        busy meanwhile, nothing that depends on an uncommitted node has been sent, and no
        result waits more than BATCH_S to be committed.
        """
        if not self.writes or self.unsaved_since is None:
            return False
        if not any(f.sched.has_ready() for f in self.frames) and not self.loops:
            return False
        return (len(self.futures) > self.capacity // 2
                and time.monotonic() - self.unsaved_since < BATCH_S)

    def _dispatch(self) -> None:
        """Start ready nodes of every live frame (oldest frame first, so items finish before
        new ones start), then let frames that ended and loops that can go on move along."""
        while True:
            self._start_ready()
            if not self._settle():
                return

    def _start_ready(self) -> None:
        assert self.executor is not None
        progress = True
        while progress and not self.interrupted:
            progress = False
            for frame in list(self.frames):
                if frame.done or not frame.sched.has_ready():
                    continue
                room = self.capacity - len(self.futures) - len(self.outbox)
                if room <= 0:
                    return
                for node_id in frame.sched.pop_ready(room):
                    frame.start(node_id)
                    self.executor.poll()  # a slot that freed meanwhile starts its next task
                progress = True

    def _settle(self) -> bool:
        """Hand finished frames back to their loops and complete the nodes of finished loops.
        Returns whether anything changed (which may have made more nodes ready)."""
        changed = False
        for frame in self.frames:
            if frame.pools is not None:
                frame.pools.pump()
        for frame in self.frames[1:]:
            if frame.done or not frame.sched.finished:
                continue
            for change in frame.sched.pop_transitions():
                frame.transition(change)
            frame.done = True
            changed = True
            frame.owner.frame_finished(frame)
        if changed:
            self.frames = [f for f in self.frames if not f.done]
        for loop in list(self.loops):
            loop.pump()
            result = loop.result
            if result is not None and not loop.busy:
                self.loops.remove(loop)
                loop.frame.complete(loop.node_id, result)
                changed = True
        return changed

    def _send(self, owner: Any, tag: str, task: Task) -> None:
        assert self.executor is not None
        self._inline_node = task.node_id if self.executor.name == "inline" else None
        self.agents.start(task)
        try:
            future = self.executor.submit(task)
        except KeyboardInterrupt:
            if isinstance(owner, Frame):
                owner.sched.interrupt(tag)  # the inline op stopped its own process group
            else:
                owner.aux_finished(tag, NodeResult(ok=False, message="interrupted"))
            raise
        finally:
            self._inline_node = None
        self.futures[future] = (owner, tag, task)

    def _harvest(self, future: TaskFuture) -> None:
        owner, tag, task = self.futures.pop(future)
        self.agents.finished(owner, task)
        if task.lane:
            if future.cancelled() and isinstance(owner, Frame):
                owner.lost(tag)  # dropped from its lane unstarted, or lost with the spawner
                self._settle()
                return
            if getattr(future, "lane_failure", False):  # the loop answers it (`resume_lane`)
                self.lane_failures[task.lane] = self.lane_failures.get(task.lane, 0) + 1
        try:
            result = future.result()
        except Exception as exc:  # the backend lost the task (a worker died): a node failure
            result = NodeResult(ok=False, message=f"executor error: {exc!r}")
        if isinstance(owner, Frame):
            owner.finish_attempt(tag, task, result)
        else:
            owner.aux_finished(tag, result)
        self._settle()
        assert self.executor is not None
        self.executor.poll()

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, frame, node_id, task = heapq.heappop(self.timers)
            self.submit(frame, node_id, task)

    def _flush(self) -> None:
        """Commit this round's records in one transaction, then report state changes."""
        for frame in self.frames:
            for change in frame.sched.pop_transitions():
                frame.transition(change)
        if self.writes:
            assert self.executor is not None
            self.executor.poll()
            self.store.write(self.run_id, self.writes)
            self.writes = []
        self.unsaved_since = None
        self.events.flush()
        outbox, self.outbox = self.outbox, []
        for owner, tag, task in outbox:
            self._send(owner, tag, task)

    # --- interruption ----------------------------------------------------------------------

    @contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            self.interrupted = True
            self.signal = signum
            if self._inline_node is not None:
                raise KeyboardInterrupt  # an inline op blocks the loop: interrupt it directly

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _wind_down(self) -> None:
        """Stop scheduling, stop running commands, keep what finished, mark the rest."""
        if threading.current_thread() is threading.main_thread():
            # A second Ctrl-C must not tear the records being written.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        for frame in self.frames:
            frame.sched.stop(Reason.INTERRUPTED)
        for loop in self.loops:
            loop.interrupt()
        if self.futures:
            assert self.executor is not None
            self.executor.stop_queued()  # before the kill, so no queued task starts after it
            for future in self.futures:
                future.cancel()  # tasks an executor has not started never start
            kill_run(self.env.run_tag)
            deadline = time.monotonic() + KILL_GRACE_S + 5
            while (left := deadline - time.monotonic()) > 0:
                running = [f for f in self.futures if not f.done()]
                if not running:
                    break
                self.executor.wait(running, left)
            for future, (owner, tag, _task) in list(self.futures.items()):
                del self.futures[future]
                result = _result_of(future)
                if isinstance(owner, Frame):
                    if result is not None and result.ok:
                        owner.complete(tag, result)  # it finished: keep it
                    else:
                        owner.sched.interrupt(tag)
                else:
                    owner.aux_finished(tag, result or NodeResult(ok=False,
                                                                 message="interrupted"))
        if self.jobs:  # a helper command on a driver thread (a map's input) stops like a task
            kill_run(self.env.run_tag)
        self._reap_jobs(wait=True)  # git work is short, and stopping it midway would tear it
        for _, _, frame, node_id, _task in self.timers:
            frame.sched.interrupt(node_id)
        for owner, tag, _task in self.outbox:
            if isinstance(owner, Frame):
                owner.sched.interrupt(tag)
            else:
                owner.aux_finished(tag, NodeResult(ok=False, message="interrupted"))
        self.timers.clear()
        self.outbox.clear()
        while self._settle():
            pass
        self._flush()
        if self.executor is not None:
            self.executor.shutdown(cancel=True)


def _descendants(tpl: Template, node_id: str) -> set[str]:
    seen: set[str] = set()
    stack = [node_id]
    while stack:
        for nxt in tpl.graph.dependents[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _result_of(future: TaskFuture) -> NodeResult | None:
    if not future.done() or future.cancelled() or future.exception() is not None:
        return None
    return future.result()
