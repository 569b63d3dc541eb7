"""The one run loop: feed ready nodes to an executor, checkpoint every result, resume.

    execute(plan, ...) -> RunOutcome
      round: fire due retries -> dispatch ready nodes (prepare, key, decide: reuse / run)
             -> flush: ONE transaction with the done records of the last results and the
                started records of the new tasks, then send the tasks
             -> wait for results -> finish each attempt (retry? succeed / fail / handle)

The driver owns everything with state: the scheduler, retries (with backoff timers, so a
waiting retry does not hold a worker), timeouts (put into the task, enforced where the process
runs), checkpoint writes and events. A task is sent only after its started record is
committed, and a node is dispatched only after the done records of what it depends on are.
While the executor still has plenty queued, a round may wait up to BATCH_S for more results
so that short nodes share a transaction. The workflow's `timeout_s` stops the run as failed.
Ctrl-C (or SIGTERM) sets a flag the loop checks between rounds, so no write is torn: the loop
stops scheduling, stops the running commands' process groups, records what finished, and
reports the run INTERRUPTED (exit 130, resumable).
"""

from __future__ import annotations

import heapq
import itertools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prodigy.runtime import environment
from prodigy.runtime.decide import (
    Action,
    Decision,
    RetryPolicy,
    Visible,
    Why,
    checkpoint_key,
    decide,
    merge_visible,
)
from prodigy.runtime.errors import ProdigyError
from prodigy.runtime.events import EventLog, EventType
from prodigy.runtime.executors import Executor, make_executor
from prodigy.runtime.masking import Masker
from prodigy.runtime.ops import OPS, Context, Failure, NodeResult, Prepared, Task, check_kinds
from prodigy.runtime.ops.control import error_variables
from prodigy.runtime.ops.render import thaw
from prodigy.runtime.plan import EdgeKind, Plan, PlanNode
from prodigy.runtime.process import KILL_GRACE_S, kill_run
from prodigy.runtime.scheduler import Graph, NodeState, Reason, Scheduler, Transition
from prodigy.runtime.store import (
    CheckpointStore,
    NodeRecord,
    RecordStatus,
    RunRecord,
    RunStatus,
    StateDir,
    atomic_write,
    safe_name,
)

BATCH_S = 0.05  # longest a finished node's done record waits for company in a transaction


class InternalError(ProdigyError):
    """The runtime reached a state it should not: a bug, reported as such (exit 3)."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    jobs: int = 1
    executor: str = "local"
    dask_scheduler: str | None = None
    force: frozenset[str] = frozenset()


@dataclass(slots=True)
class RunOutcome:
    run_id: str
    status: RunStatus
    counts: dict[str, int]
    failed: list[dict[str, Any]] = field(default_factory=list)
    duration: float = 0.0
    message: str = ""  # why the run as a whole ended early, if it did


class Run:
    """One execution of a plan under a run id; `execute()` below is the entry point."""

    def __init__(self, plan: Plan, state: StateDir, store: CheckpointStore, run_id: str,
                 cwd: Path, options: RunOptions, run_env: environment.RunEnvironment,
                 sink: Callable[[dict[str, Any]], None] | None) -> None:
        self.plan, self.state, self.store, self.run_id = plan, state, store, run_id
        self.cwd, self.options, self.env = cwd, options, run_env
        self.graph = Graph.from_plan(plan)
        self.sched = Scheduler(self.graph)
        self.nodes = {n.id: n for n in plan.nodes}
        self.index = {n: i for i, n in enumerate(self.graph.order)}
        # Nodes whose output a later node reads (DATA edges) or a handler reports.
        self.readers = {e.src for e in plan.edges if e.kind is EdgeKind.DATA}
        self.readers |= set(self.graph.on_failure) | set(self.graph.on_exit)
        self.masker = Masker(run_env.mask_values)
        self.events = EventLog(state.events_path(run_id), run_id, self.masker, sink)
        self.scope = environment.base_scope(plan.workflow, run_env)
        self.records = store.load(run_id, self.graph.order)
        self.keys: dict[str, str] = {}
        self.deps: dict[str, dict[str, str]] = {}
        self.own: dict[str, dict[str, Any]] = {}
        self.vis: dict[str, Visible] = {}
        self.results: dict[str, NodeResult] = {}
        self.failures: dict[str, Failure] = {}
        self.reused: set[str] = set()
        self.tries: dict[str, int] = {}  # every try of a node in this run: its log's attempt
        self.cycle_tries: dict[str, int] = {}  # tries of the current execution: for `retry:`
        self.first_try: dict[str, float] = {}
        self.futures: dict[Future[NodeResult], tuple[str, Task]] = {}
        self.log_dir = str(state.log_dir(run_id))
        self.log_names: dict[str, str] = {}
        self.outbox: list[tuple[str, Task]] = []  # tasks waiting for this round's commit
        self.timers: list[tuple[float, int, str, Task]] = []
        self.writes: list[NodeRecord] = []
        self.unsaved_since: float | None = None  # when the oldest uncommitted result came
        self.interrupted = False
        limit = plan.workflow.get("timeout_s")
        self.deadline = time.monotonic() + float(limit) if limit else None
        self.timed_out = False
        self._seq = itertools.count()
        self._inline_node: str | None = None
        self.executor: Executor | None = None

    # --- the loop --------------------------------------------------------------------------

    def run(self, executor: Executor) -> RunStatus:
        self.executor = executor
        try:
            with self._signals():
                try:
                    self._loop()
                except KeyboardInterrupt:
                    self.interrupted = True
                if self.interrupted:
                    self._wind_down()
        finally:
            self.events.flush()
        leftovers = self.sched.leftovers()
        if leftovers:
            raise InternalError(f"scheduler left nodes unresolved: {', '.join(leftovers[:5])}")
        if self.timed_out:
            return RunStatus.FAILED
        if self.interrupted:
            return RunStatus.INTERRUPTED
        return RunStatus.FAILED if self.sched.failed else RunStatus.SUCCEEDED

    def _loop(self) -> None:
        while not self.interrupted:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                # The workflow's own time limit: stop like Ctrl-C, but the run has failed.
                self.timed_out = self.interrupted = True
                return
            if not self._batching():
                self._fire_timers()
                self._dispatch()
                self._flush()  # done records of the last harvest, started records, then send
                if self.sched.finished and not self.futures and not self.timers:
                    return
            timeout = 0.25
            batch_end = self.unsaved_since + BATCH_S if self.unsaved_since is not None else None
            for due in (self.timers[0][0] if self.timers else None, self.deadline, batch_end):
                if due is not None:
                    timeout = max(0.0, min(timeout, due - time.monotonic()))
            if not self.futures:
                time.sleep(timeout)
                continue
            done, _ = wait(list(self.futures), timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                self._harvest(future)
            if self.writes and self.unsaved_since is None:
                self.unsaved_since = time.monotonic()

    def _batching(self) -> bool:
        """Hold this round's commit back a little while the executor still has plenty queued.

        Short nodes then share one transaction instead of paying one each. The workers stay
        busy meanwhile, nothing that depends on an uncommitted node has been sent, and no
        result waits more than BATCH_S to be committed.
        """
        assert self.executor is not None
        if not self.writes or self.unsaved_since is None or not self.sched.has_ready():
            return False
        return (len(self.futures) > self.executor.capacity // 2
                and time.monotonic() - self.unsaved_since < BATCH_S)

    def _dispatch(self) -> None:
        assert self.executor is not None
        while not self.interrupted and self.sched.has_ready():
            room = self.executor.capacity - len(self.futures) - len(self.outbox)
            if room <= 0:
                return
            for node_id in self.sched.pop_ready(room):
                self._start(node_id)

    def _start(self, node_id: str) -> None:
        node = self.nodes[node_id]
        op = OPS[node.kind]
        prepared = self._prepare(node)
        if isinstance(prepared, NodeResult):  # the params could not even be rendered
            self._complete(node_id, prepared, checkpoint=False)
            return
        attempt = self.sched.attempts[node_id]
        if op.checkpointed and attempt == 1:
            decision = decide(self.records.get(node_id), self.keys[node_id], node.fingerprint,
                              self.deps[node_id], forced=node_id in self.options.force)
            if decision.action is Action.REUSE:
                self._reuse(node_id)
                return
        else:
            decision = Decision(Action.RUN, ((Why.NOT_CHECKPOINTED, ""),) if not op.checkpointed
                                else ((Why.FAILED_BEFORE, f"handler re-attempt {attempt}"),))
        task = self._task(node, prepared)
        self.first_try[node_id] = time.monotonic()
        self.cycle_tries[node_id] = 1
        if op.checkpointed:
            record = NodeRecord(node_id, self.keys[node_id], node.fingerprint,
                                self.deps[node_id], RecordStatus.STARTED, attempt, at=time.time())
            self.records[node_id] = record
            self.writes.append(record)
        self.events.emit(EventType.NODE_STARTED, node=node_id, label=node.label, kind=node.kind,
                         attempt=attempt, key=self.keys[node_id], why=decision.explain(),
                         log=task.log_path if op.checkpointed else None)
        if op.inline:
            self._complete(node_id, op.run(task), checkpoint=False)
        else:
            self._submit(node_id, task)

    def _prepare(self, node: PlanNode) -> Prepared | NodeResult:
        variables = {k: v for k, (_, v) in self._visible(node.id).items()}
        failure = self.failures.get(node.id)
        if failure is not None:
            variables.update(error_variables(failure))
        scope = {**self.scope, **variables, **thaw(node.params.bindings)}
        ctx = Context(self.run_id, node.id, node.label, scope, variables, self.cwd, self.env,
                      failure)
        try:
            prepared = OPS[node.kind].prepare(node.params, ctx)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return NodeResult(ok=False, message=f"cannot prepare {node.kind} params: {exc}")
        deps = {d: self.keys.get(d) or f"<{self.sched.state[d]}>" for d in self.graph.deps[node.id]}
        self.deps[node.id] = deps
        self.keys[node.id] = checkpoint_key(node.fingerprint, prepared.inputs, deps)
        return prepared

    def _task(self, node: PlanNode, prepared: Prepared) -> Task:
        tries = self.tries.get(node.id, 0) + 1
        self.tries[node.id] = tries
        log = self.log_names.get(node.id)
        if log is None:
            log = self.log_names[node.id] = f"{self.log_dir}/{safe_name(node.id)}.log"
        inputs = prepared.inputs
        entry = self.graph.owner_entry.get(node.id)
        policy = self.graph.policies.get(entry) if entry else None
        if policy is not None and policy.timeout_s is not None and "timeout" in inputs:
            # The handler's timeout caps every command of its body.
            limit = inputs["timeout"]
            inputs = {**inputs, "timeout": min(limit or policy.timeout_s, policy.timeout_s)}
        return Task(self.run_id, node.id, node.kind, node.label, tries, inputs, prepared.env,
                    prepared.cwd or str(self.cwd), log, self.masker,
                    read_output=node.id in self.readers)

    def _submit(self, node_id: str, task: Task) -> None:
        """Queue a task; `_flush` hands it to the executor once its started record is in."""
        self.outbox.append((node_id, task))

    def _send(self, node_id: str, task: Task) -> None:
        assert self.executor is not None
        self._inline_node = node_id if self.executor.name == "inline" else None
        try:
            future = self.executor.submit(task)
        except KeyboardInterrupt:
            self.sched.interrupt(node_id)  # the inline op stopped its own process group
            raise
        finally:
            self._inline_node = None
        self.futures[future] = (node_id, task)

    def _reuse(self, node_id: str) -> None:
        record = self.records[node_id]
        result = NodeResult.from_record(record.result)
        self.own[node_id] = result.variables
        self.results[node_id] = result
        self.reused.add(node_id)
        self.events.emit(EventType.NODE_REUSED, node=node_id, label=self.nodes[node_id].label,
                         key=record.key, handled=record.handled or None)
        self.sched.reuse(node_id, handled=record.handled, gate_open=result.gate)

    def _harvest(self, future: Future[NodeResult]) -> None:
        node_id, task = self.futures.pop(future)
        try:
            result = future.result()
        except Exception as exc:  # the backend lost the task (a worker died): a node failure
            result = NodeResult(ok=False, message=f"executor error: {exc!r}")
        self._finish_attempt(node_id, task, result)

    def _finish_attempt(self, node_id: str, task: Task, result: NodeResult) -> None:
        if not result.ok and not self.interrupted:
            policy = RetryPolicy.from_params(getattr(self.nodes[node_id].params, "retry", None))
            elapsed = time.monotonic() - self.first_try[node_id]
            delay = policy.next_delay(self.cycle_tries[node_id],
                                      f"{result.message}\n{result.output}", result.timed_out,
                                      elapsed)
            if delay is not None:
                self.events.emit(EventType.NODE_RETRYING, node=node_id, attempt=task.attempt,
                                 delay_s=round(delay, 3), message=result.message,
                                 exit_code=result.exit_code)
                retry = replace(task, attempt=task.attempt + 1)
                self.tries[node_id] += 1
                self.cycle_tries[node_id] += 1
                heapq.heappush(self.timers, (time.monotonic() + delay, next(self._seq),
                                             node_id, retry))
                return
        self._complete(node_id, result)

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, node_id, task = heapq.heappop(self.timers)
            self._submit(node_id, task)

    def _complete(self, node_id: str, result: NodeResult, checkpoint: bool = True) -> None:
        node = self.nodes[node_id]
        checkpoint = checkpoint and OPS[node.kind].checkpointed
        self.results[node_id] = result
        self.own[node_id] = result.variables
        status = "succeeded" if result.ok else "failed"
        if self.interrupted and not result.ok:
            self.sched.interrupt(node_id)
            return
        self.events.emit(EventType.NODE_FINISHED, node=node_id, label=node.label, status=status,
                         exit_code=result.exit_code, duration_s=round(result.duration, 6),
                         attempt=self.tries.get(node_id), message=result.message or None,
                         gate=result.gate)
        if result.ok:
            if checkpoint:
                self.writes.append(self._done(node_id, handled=False))
            self.sched.succeed(node_id, gate_open=result.gate, exit_code=result.exit_code or 0)
            return
        # Bodies reacting to this failure (its handler, a matching on_exit_code body) see it
        # as `${error.*}`; a new handler cycle recomputes what its members see.
        failure = Failure(node_id, node.label, node.kind, result.exit_code, result.message,
                          result.output, self.sched.attempts[node_id])
        entries = [self.graph.on_failure.get(node_id),
                   self.graph.on_exit.get(node_id, {}).get(result.exit_code or 0)]
        for entry in filter(None, entries):
            self.failures[entry] = failure
            for member in self.graph.bodies[entry]:
                self.vis.pop(member, None)
        if self.sched.fail(node_id, exit_code=result.exit_code) is NodeState.HANDLING:
            self.events.emit(EventType.HANDLER_STARTED, node=node_id,
                             handler=self.graph.on_failure[node_id],
                             attempt=self.sched.attempts[node_id])

    def _done(self, node_id: str, handled: bool) -> NodeRecord:
        node = self.nodes[node_id]
        record = NodeRecord(node_id, self.keys[node_id], node.fingerprint, self.deps[node_id],
                            RecordStatus.DONE, self.sched.attempts[node_id],
                            self.masker.mask_data(self.results[node_id].to_record()),
                            handled, time.time())
        self.records[node_id] = record
        return record

    def _flush(self) -> None:
        """Commit this round's records in one transaction, then report state changes."""
        for change in self.sched.pop_transitions():
            self._transition(change)
        if self.writes:
            self.store.write(self.run_id, self.writes)
            self.writes = []
        self.unsaved_since = None
        self.events.flush()
        outbox, self.outbox = self.outbox, []
        for node_id, task in outbox:
            self._send(node_id, task)

    def _transition(self, change: Transition) -> None:
        node_id, state = change.node, change.state
        node = self.nodes[node_id]
        if state is NodeState.HANDLED:
            if OPS[node.kind].checkpointed and node_id in self.keys:
                self.writes.append(self._done(node_id, handled=True))
            self.events.emit(EventType.NODE_FINISHED, node=node_id, label=node.label,
                             status="handled", reason=change.reason, handler=change.cause)
        elif state is NodeState.READY:
            self.events.emit(EventType.NODE_RETRYING, node=node_id, handler=change.cause,
                             attempt=self.sched.attempts[node_id] + 1)
        elif state is NodeState.FAILED:
            if node_id in self.keys and OPS[node.kind].checkpointed:
                self.writes.append(replace(self.records[node_id], status=RecordStatus.FAILED,
                                           at=time.time()))
            if change.reason is not None:
                self.events.emit(EventType.NODE_FINISHED, node=node_id, label=node.label,
                                 status="failed", reason=change.reason, cause=change.cause)
        elif state is NodeState.INTERRUPTED:
            self.events.emit(EventType.NODE_FINISHED, node=node_id, label=node.label,
                             status="interrupted")
        elif state in (NodeState.SKIPPED, NodeState.NOT_RUN):
            self.events.emit(EventType.NODE_SKIPPED, node=node_id, label=node.label,
                             status=str(state), reason=change.reason, cause=change.cause)

    # --- variables -------------------------------------------------------------------------

    def _visible(self, node_id: str) -> Visible:
        """Captured variables of every node upstream, the latest producer (plan order) winning."""
        stack = [node_id]
        while stack:
            top = stack[-1]
            missing = [d for d in self.graph.deps[top] if d not in self.vis]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            if top not in self.vis:
                self.vis[top] = self._merge(top)
        return self.vis[node_id]

    def _merge(self, node_id: str) -> Visible:
        return merge_visible(self.graph.deps[node_id], self.vis, self.own, self.index)

    # --- interruption ----------------------------------------------------------------------

    @contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            self.interrupted = True
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
        self.sched.stop(Reason.INTERRUPTED)
        if self.futures:
            assert self.executor is not None
            self.executor.stop_queued()  # before the kill, so no queued task starts after it
            for future in self.futures:
                future.cancel()  # tasks an executor has not started never start
            kill_run(self.run_id)
            wait(list(self.futures), timeout=KILL_GRACE_S + 5)
            for future, (node_id, _task) in list(self.futures.items()):
                del self.futures[future]
                result = _result_of(future)
                if result is not None and result.ok:
                    self._complete(node_id, result)  # it finished: keep it
                else:
                    self.sched.interrupt(node_id)
        for _, _, node_id, _task in self.timers:
            self.sched.interrupt(node_id)
        for node_id, _task in self.outbox:
            self.sched.interrupt(node_id)
        self.timers.clear()
        self.outbox.clear()
        self._flush()
        if self.executor is not None:
            self.executor.shutdown(cancel=True)


def _result_of(future: Future[NodeResult]) -> NodeResult | None:
    if not future.done() or future.cancelled() or future.exception() is not None:
        return None
    return future.result()


# --- entry points -------------------------------------------------------------------------------


def execute(plan: Plan, *, state: StateDir, run_id: str, cwd: Path, options: RunOptions,
            source: str, resume: bool, sink: Callable[[dict[str, Any]], None] | None = None,
            args: dict[str, str] | None = None, plan_text: str | None = None,
            store_plan: bool = True) -> RunOutcome:
    """Run (or continue) `run_id`. Raises StateLocked, SetupError, PlanError, InternalError.

    The plan is kept in the run dir for `prodigy resume`: `plan_text` when the caller has the
    file's text, else `plan.dumps()`; `store_plan=False` when it is that stored copy already.
    """
    check_kinds(plan)
    started = time.monotonic()
    state.lock(run_id)
    store: CheckpointStore | None = None
    run: Run | None = None
    try:
        if resume:
            kill_run(run_id)  # commands a killed driver left running must not race the resume
        run_env = environment.build(plan.workflow, run_id, cwd, dict(args or {}))
        executor = make_executor(options.executor, options.jobs, options.dask_scheduler)
        record = state.read_run(run_id)
        now = time.time()
        if record is None:
            record = RunRecord(run_id, RunStatus.RUNNING, str(plan.workflow.get("name") or ""),
                               source, str(cwd), now, now, os.getpid(), args=dict(args or {}),
                               resume=f"prodigy resume {run_id}", attempts=0)
        record.status, record.pid, record.finished_at = RunStatus.RUNNING, os.getpid(), None
        record.attempts += 1
        record.source = source
        if store_plan:
            atomic_write(state.plan_path(run_id), plan_text or plan.dumps())
        state.write_run(record)
        store = CheckpointStore(state.cache_dir)
        run = Run(plan, state, store, run_id, cwd, options, run_env, sink)
        run.events.emit(EventType.RUN_RESUMED if record.attempts > 1 else EventType.RUN_STARTED,
                        workflow=record.workflow, source=source, nodes=len(plan.nodes),
                        executor=executor.name, jobs=options.jobs, attempt=record.attempts)
        try:
            status = run.run(executor)
        except BaseException:
            record.status = RunStatus.FAILED
            state.write_run(record)
            raise
        finally:
            executor.shutdown()
        outcome = _outcome(run, status, time.monotonic() - started)
        record.status, record.counts, record.finished_at = status, outcome.counts, time.time()
        state.write_run(record)
        run.events.emit(EventType.RUN_FINISHED, status=str(status), counts=outcome.counts,
                        duration_s=round(outcome.duration, 3), message=outcome.message or None,
                        resume=record.resume if status is not RunStatus.SUCCEEDED else None)
        return outcome
    finally:
        if run is not None:
            run.events.close()
        if store is not None:
            store.close()
        state.unlock()


def _outcome(run: Run, status: RunStatus, duration: float) -> RunOutcome:
    counts: dict[str, int] = {}
    for node_id, node_state in run.sched.state.items():
        name = "reused" if node_id in run.reused else str(node_state)
        counts[name] = counts.get(name, 0) + 1
    failed = []
    for node_id, node_state in run.sched.state.items():
        if node_state is NodeState.FAILED:
            result = run.results.get(node_id)
            failed.append({
                "node": node_id, "label": run.nodes[node_id].label,
                "reason": str(run.sched.reason.get(node_id) or ""),
                "message": result.message if result else "",
                "exit_code": result.exit_code if result else None,
                "output": result.output[-4000:] if result else "",
                "log": str(run.state.log_dir(run.run_id) / f"{safe_name(node_id)}.log"),
            })
    message = ""
    if run.timed_out:
        message = f"the workflow's timeout ({run.plan.workflow.get('timeout_s')}s) was reached"
    return RunOutcome(run.run_id, status, dict(sorted(counts.items())), failed, duration,
                      message)
