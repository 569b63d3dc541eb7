"""A frame: one running instance of a plan, and the life of each of its nodes.

The main plan runs as one frame. Loop and expansion nodes (map, foreach, validate, goal_seek;
see `loops/`) run their sub-plans as further frames, one per item or attempt, created when
they are needed and dropped when they end, so a 100,000-item map never holds more than its
window of frames. Every frame has its own scheduler over the sub-plan's shared `Template`
(graph computed once per sub-plan); its node ids are the template's ids under the frame's
`prefix` (`map[item_7]/map.agent.0`), which is what events, logs and checkpoints see.

A node's life: prepare (render params against the variables it sees) -> key -> decide (reuse
a checkpoint or run) -> task -> attempts (retries with backoff) -> complete (succeed, fail,
or hand over to its on_failure handler). The frame does the bookkeeping; the host (`run.Run`)
owns the executor, the timers, the store writes and the events.

Frames of map agents and foreach items are not checkpointed node by node (`checkpoint=False`):
the item is the unit there (an item record, written by the loop, says it finished), and an
item that did not finish runs again whole, as it would in a fresh worktree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodigy.runtime.budgets import Budget
from prodigy.runtime.decide import (
    Action,
    Decision,
    Visible,
    Why,
    body_names,
    decide,
    key_from_inputs_json,
    merge_visible,
    plan_digest,
)
from prodigy.runtime.events import EventType
from prodigy.runtime.frame_pools import FramePools
from prodigy.runtime.git import changes
from prodigy.runtime.map_results import RESULTS_FILE, inject
from prodigy.runtime.node_vars import published, reads_step, step_variables
from prodigy.runtime.nodes import thaw
from prodigy.runtime.ops import OPS, Context, Failure, NodeResult, Prepared, Task
from prodigy.runtime.ops.handler import error_variables
from prodigy.runtime.plan import EdgeKind, Plan, PlanNode, canonical_json
from prodigy.runtime.policies import RetryPolicy
from prodigy.runtime.scheduler import Graph, NodeState, Scheduler, Transition
from prodigy.runtime.store import NodeRecord, RecordStatus, safe_name
from prodigy.runtime.usage import Spend, agent_fields

if TYPE_CHECKING:
    from prodigy.runtime.run import Run


@dataclass(frozen=True, slots=True)
class Template:
    """The static shape of a (sub-)plan, shared by every frame that instantiates it."""

    plan: Plan
    graph: Graph
    nodes: dict[str, PlanNode]
    index: dict[str, int]
    readers: frozenset[str]  # nodes whose output a later node reads or a handler reports
    digest: str  # identity of the whole body: its nodes' fingerprints and edges

    @classmethod
    def of(cls, plan: Plan) -> Template:
        graph = Graph.from_plan(plan)
        readers = {e.src for e in plan.edges if e.kind is EdgeKind.DATA}
        readers |= set(graph.on_failure) | set(graph.on_exit)
        return cls(plan, graph, {n.id: n for n in plan.nodes},
                   {n: i for i, n in enumerate(graph.order)}, frozenset(readers),
                   plan_digest(plan))



@dataclass(slots=True)
class FrameSpec:
    """How a loop instantiates a sub-plan: where, with which variables, under which limits."""

    prefix: str  # prepended to the template's node ids
    scope: dict[str, Any]  # template variables (run scope + loop variables such as `item`)
    outer: dict[str, Any]  # captured variables visible from outside (exported as PRODIGY_VAR_*)
    cwd: Path
    link: str  # Merkle link: the owner's key plus what makes this frame differ
    checkpoint: bool = True
    deadline: float | None = None  # monotonic; every command of the frame ends by then
    timeouts: dict[str, float] = field(default_factory=dict)  # node or step id -> seconds
    env: dict[str, str] = field(default_factory=dict)  # extra environment for its commands
    item: str | None = None  # the item id, put on node events
    item_label: str | None = None  # how people see the item (loops/work_items.item_label)
    first_attempt: int = 1  # attempt number of the frame's first tries (agent retries)
    forced: bool = False  # run every node even if its checkpoint matches (its loop is forced)
    lane: int = 0  # its loop's executor lane (`Task.lane`), when the loop sends items ahead


class Frame:
    """One running instance of a template, fed to the host's executor."""

    def __init__(self, host: Run, tpl: Template, spec: FrameSpec, owner: Any = None) -> None:
        self.host, self.tpl, self.spec, self.owner = host, tpl, spec, owner
        self.prefix = spec.prefix
        self.spend = Spend()  # what its agents cost (a map item's cost)
        self.node_spend: dict[str, Spend] = {}  # per claude node, over its attempts
        self.sched = Scheduler(tpl.graph)
        self.records: dict[str, NodeRecord] = (
            host.store.load(host.run_id, [self.prefix + n for n in tpl.graph.order])
            if spec.checkpoint else {})
        self.keys: dict[str, str] = {}
        self.deps: dict[str, dict[str, str]] = {}
        self.own: dict[str, dict[str, Any]] = {}
        self.vis: dict[str, Visible] = {}
        self.through: dict[str, Visible] = {}  # node -> what a node depending on it alone sees
        self.results: dict[str, NodeResult] = {}
        self.failures: dict[str, Failure] = {}
        self.reused: set[str] = set()
        self.tries: dict[str, int] = {}  # every try of a node in this run: its log's attempt
        self.cycle_tries: dict[str, int] = {}  # tries of the current execution: for `retry:`
        self.first_try: dict[str, float] = {}
        self.timed_out = False  # a command hit the frame's deadline
        self.done = False  # the host has reported this frame finished to its owner
        # Params object id -> (params, what it prepared to, its inputs' canonical JSON), for
        # ops whose prepare is pure, reached with the frame's own scope (see Op.pure_prepare).
        self.prepared_memo: dict[int, tuple[Any, Prepared, str]] = {}
        # An item sent ahead of its loop's window (`loops/items.py`), or a pool's node sent
        # ahead of the pool's (`frame_pools.py`), waits in the executor: its `node_started`
        # is held back until it is counted among those running.
        self.queued = False  # the frame is such an item: hold its node's start
        self.held: dict[str, dict[str, Any]] = {}  # node -> its node_started fields
        self.pools = FramePools(self) if tpl.graph.limits else None

    def release_start(self, node_id: str | None = None) -> None:
        """The node (any node, for an item) is among those running now: say that it
        started."""
        if node_id is None:
            self.queued = False
        for held in [node_id] if node_id is not None else list(self.held):
            started = self.held.pop(held, None)
            if started is not None:
                self._emit(EventType.NODE_STARTED, held, **started)

    def gid(self, node_id: str) -> str:
        return self.prefix + node_id

    def _emit(self, event: EventType, node_id: str, **fields: Any) -> None:
        if self.held and event is not EventType.NODE_STARTED and node_id in self.held:
            # It ran (or was dropped unstarted) before it was counted as running: its start
            # comes first, or, dropped, its start is no news (nor its end, if interrupted).
            started = self.held.pop(node_id)
            if fields.get("status") == "interrupted":
                return
            if event is not EventType.NODE_SKIPPED:
                self._emit(EventType.NODE_STARTED, node_id, **started)
        if self.spec.item is not None:
            fields["item"] = self.spec.item
            fields["item_label"] = self.spec.item_label
        # Every node event names its kind: the reporters leave control nodes (handlers,
        # barriers, gates) out of what people read.
        fields.setdefault("kind", self.tpl.nodes[node_id].kind)
        self.host.events.emit(event, node=self.gid(node_id), **fields)

    # --- starting a node -------------------------------------------------------------------

    def start(self, node_id: str) -> None:
        node = self.tpl.nodes[node_id]
        op = OPS[node.kind]
        prepared = self.prepare(node)
        if isinstance(prepared, NodeResult):  # the params could not even be rendered
            self.complete(node_id, prepared, checkpoint=False)
            return
        attempt = self.sched.attempts[node_id]
        checkpointed = op.checkpointed and self.spec.checkpoint
        gid = self.gid(node_id)
        if checkpointed and attempt == 1:
            decision = decide(self.records.get(gid), self.keys[node_id], node.fingerprint,
                              self.deps[node_id],
                              forced=self.spec.forced or gid in self.host.options.force)
            if decision.action is Action.REUSE:
                self.reuse(node_id)
                return
        else:
            decision = Decision(Action.RUN, ((Why.NOT_CHECKPOINTED, ""),) if not checkpointed
                                else ((Why.FAILED_BEFORE, f"handler re-attempt {attempt}"),))
        self.first_try[node_id] = time.monotonic()
        self.cycle_tries[node_id] = 1
        if op.loop:
            # Never started before: no item or attempt of it can have a record to look up.
            fresh = self.records.get(gid) is None
            if checkpointed:
                self._record_started(node_id, attempt)
            self._emit(EventType.NODE_STARTED, node_id, label=node.label, kind=node.kind,
                       attempt=attempt, key=self.keys[node_id], why=decision.explain())
            self.host.start_loop(self, node_id, prepared, fresh)
            return
        task = self.task(node, prepared)
        started = {"label": node.label, "kind": node.kind, "attempt": attempt,
                   "key": self.keys[node_id], "why": decision.explain(),
                   "log": task.log_path if op.checkpointed else None}
        if self.queued or (self.pools is not None and self.pools.hold(node_id)):
            self.held[node_id] = started
        else:
            self._emit(EventType.NODE_STARTED, node_id, **started)
        if op.inline:
            self.complete(node_id, op.run(task), checkpoint=False)
        else:
            self.host.submit(self, node_id, task)

    def _record_started(self, node_id: str, attempt: int) -> None:
        """Store that a loop started: a resume tells by it whether the loop ever began (items
        to look up). Other nodes get no started record: it would change nothing (without a
        done record a node always runs again) and cost a store write per node, so a node
        interrupted last time is explained as "no checkpoint"."""
        node = self.tpl.nodes[node_id]
        record = NodeRecord(self.gid(node_id), self.keys[node_id], node.fingerprint,
                            self.deps[node_id], RecordStatus.STARTED, attempt, at=time.time())
        self.records[self.gid(node_id)] = record
        self.host.writes.append(record)

    def prepare(self, node: PlanNode) -> Prepared | NodeResult:
        visible = self.visible(node.id)
        variables = ({**self.spec.outer, **{k: v for k, (_, v) in visible.items()}}
                     if visible or self.spec.outer else {})
        failure = self.failures.get(node.id)
        if failure is not None:
            variables.update(error_variables(failure))
        if reads_step(node.params):
            variables.update(step_variables(node.id, node.label))
        bindings = node.params.bindings
        if variables or bindings or self.spec.scope.get(RESULTS_FILE):
            scope = {**self.spec.scope, **variables, **thaw(bindings)}
            try:
                inject(scope, node.fingerprint, node.params)  # `map.results`, if it reads it
            except ValueError as exc:
                return NodeResult(ok=False, message=str(exc))
            if changes.READS in bindings:  # `${workflow.files_changed}`, `${step.commits}`...
                changes.bind(scope, bindings[changes.READS], self.spec.cwd)
        else:
            scope = self.spec.scope  # nothing to add: read as it is (ops never write to it)
        op = OPS[node.kind]
        shared = op.pure_prepare and scope is self.spec.scope and failure is None
        memo = self.prepared_memo.get(id(node.params)) if shared else None
        if memo is not None and memo[0] is node.params:
            prepared, inputs_json = memo[1], memo[2]
        else:
            ctx = Context(self.host.run_id, self.gid(node.id), node.label, scope, variables,
                          self.spec.cwd, self.host.env, failure, self.host.state.root)
            try:
                prepared = op.prepare(node.params, ctx)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                return NodeResult(ok=False, message=f"cannot prepare {node.kind} params: {exc}")
            inputs_json = None
        if op.loop:
            # A loop's key covers its bodies: editing an agent template reruns the map.
            bodies = {name: self.host.template(name).digest
                      for name in body_names(node.params) if name in self.host.subplans}
            prepared = replace(prepared, inputs={**prepared.inputs, "@bodies": bodies})
        deps = {d: self.keys.get(d) or f"<{self.sched.state[d]}>"
                for d in self.tpl.graph.deps[node.id]}
        if self.spec.link and not self.tpl.graph.deps[node.id]:
            deps["@frame"] = self.spec.link  # a root of a sub-plan hangs off its owner
        self.deps[node.id] = deps
        if inputs_json is None:
            inputs_json = canonical_json(prepared.inputs)
            if shared:
                self.prepared_memo[id(node.params)] = (node.params, prepared, inputs_json)
        self.keys[node.id] = key_from_inputs_json(node.fingerprint, inputs_json, deps)
        return prepared

    def task(self, node: PlanNode, prepared: Prepared) -> Task:
        tries = self.tries.get(node.id, self.spec.first_attempt - 1) + 1
        self.tries[node.id] = tries
        inputs = prepared.inputs
        limit = inputs.get("timeout") if "timeout" in inputs else None
        entry = self.tpl.graph.owner_entry.get(node.id)
        policy = self.tpl.graph.policies.get(entry) if entry else None
        if policy is not None and policy.timeout_s is not None:
            limit = _least(limit, policy.timeout_s)  # the handler's cap on its body's commands
        step_id = getattr(node.params, "step_id", None)
        timeouts = self.spec.timeouts
        own = timeouts.get(node.id, timeouts.get(step_id or "\0", timeouts.get("*")))
        limit = _least(limit, own)
        if self.spec.deadline is not None:
            limit = _least(limit, max(0.01, self.spec.deadline - time.monotonic()))
        limit = _least(limit, self.host.phase_remaining(node.phase))
        if "timeout" in inputs and limit != inputs["timeout"]:
            inputs = {**inputs, "timeout": limit}
        env = {**prepared.env, **self.spec.env} if self.spec.env else prepared.env
        log = f"{self.host.log_dir}/{safe_name(self.gid(node.id))}.log"
        return Task(self.host.run_id, self.gid(node.id), node.kind, node.label, tries, inputs,
                    env, prepared.cwd or str(self.spec.cwd), log, self.host.masker,
                    read_output=node.id in self.tpl.readers,
                    lane=self.spec.lane or (self.pools.lane_of(node.id) if self.pools else 0))

    def reuse(self, node_id: str) -> None:
        record = self.records[self.gid(node_id)]
        result = NodeResult.from_record(record.result)
        self.own[node_id] = result.variables
        self.through.pop(node_id, None)  # what follows it alone sees this now
        self.results[node_id] = result
        self.reused.add(node_id)
        self._emit(EventType.NODE_REUSED, node_id, label=self.tpl.nodes[node_id].label,
                   key=record.key, handled=record.handled or None)
        self.sched.reuse(node_id, handled=record.handled, gate_open=result.gate)
        if result.usage:  # spent by an earlier attempt of the run: it counts against limits
            self.host.spend.add(result.usage)
            self.host.spent(Budget(), Spend(), "")

    # --- finishing a node ------------------------------------------------------------------

    def finish_attempt(self, node_id: str, task: Task, result: NodeResult) -> None:
        if result.usage:  # every attempt's agent costs, retried or not
            self.spend.add(result.usage)
            self.host.spend.add(result.usage)
            mine = self.node_spend.setdefault(node_id, Spend())
            mine.add(result.usage)
            node = self.tpl.nodes[node_id]
            self.host.spent(Budget.of(node.params), mine, node.label)
            if not result.ok and self.host.budget_stop is not None:
                self.sched.interrupt(node_id)  # no retry past the limit: resume runs it
                if self.pools is not None:
                    self.pools.ended(node_id)
                return
        if result.timed_out and self.spec.deadline is not None \
                and time.monotonic() >= self.spec.deadline - 0.05:
            self.timed_out = True  # the frame's own time limit, not the command's: no retry
        elif not result.ok and not self.host.interrupted:
            params = self.tpl.nodes[node_id].params
            retry = getattr(params, "retry", None)  # none: the node runs once
            elapsed = time.monotonic() - self.first_try[node_id]
            delay = None if not retry else RetryPolicy.from_json(retry).next_delay(
                self.cycle_tries[node_id], f"{result.message}\n{result.output}",
                result.timed_out, elapsed)
            if delay is not None:
                self._emit(EventType.NODE_RETRYING, node_id, label=task.label,
                           attempt=task.attempt, delay_s=round(delay, 3), message=result.message,
                           exit_code=result.exit_code, **agent_fields(result.usage))
                self.tries[node_id] += 1
                self.cycle_tries[node_id] += 1
                self.host.retry_later(self, node_id, replace(task, attempt=task.attempt + 1),
                                      delay)
                return
        self.complete(node_id, result)

    def complete(self, node_id: str, result: NodeResult, checkpoint: bool = True) -> None:
        self._complete(node_id, result, checkpoint)
        if self.pools is not None:  # after the scheduler knows: a failure starts nothing more
            self.pools.ended(node_id)

    def lost(self, node_id: str) -> None:
        """The executor gave the node's task back unstarted (dropped, or lost with the
        process that was to start it)."""
        if self.pools is not None and node_id in self.tpl.graph.pools:
            self.pools.lost(node_id)
        else:
            self.sched.interrupt(node_id)

    def _complete(self, node_id: str, result: NodeResult, checkpoint: bool) -> None:
        node = self.tpl.nodes[node_id]
        checkpoint = checkpoint and OPS[node.kind].checkpointed and self.spec.checkpoint
        if result.variables:  # a step's: `last.*`, `ID.exit_code` (`node_vars.py`)
            result = replace(result, variables=published(node.params, node.kind,
                                                         result.variables, result.exit_code))
        self.results[node_id] = result
        self.own[node_id] = result.variables
        self.through.pop(node_id, None)  # what follows it alone sees this now
        if self.host.interrupted and not result.ok:
            self.sched.interrupt(node_id)
            return
        self._emit(EventType.NODE_FINISHED, node_id, label=node.label,
                   status="succeeded" if result.ok else "failed", exit_code=result.exit_code,
                   duration_s=round(result.duration, 6), attempt=self.tries.get(node_id),
                   message=result.message or None, gate=result.gate,
                   output=_last_lines(result.output), **agent_fields(result.usage))
        if result.ok:
            if checkpoint:
                self.host.writes.append(self.done_record(node_id, handled=False))
            self.sched.succeed(node_id, gate_open=result.gate, exit_code=result.exit_code or 0)
            return
        # Bodies reacting to this failure (its handler, a matching on_exit_code body) see it
        # as `${error.*}`; a new handler cycle recomputes what its members see.
        graph = self.tpl.graph
        failure = Failure(self.gid(node_id), node.label, node.kind, result.exit_code,
                          error_message(node.kind, result), result.output,
                          self.sched.attempts[node_id])
        entries = [graph.on_failure.get(node_id),
                   graph.on_exit.get(node_id, {}).get(result.exit_code or 0)]
        for entry in filter(None, entries):
            self.failures[entry] = failure
            for member in graph.bodies[entry]:
                self.vis.pop(member, None)
                self.through.pop(member, None)
        if self.sched.fail(node_id, exit_code=result.exit_code) is NodeState.HANDLING:
            self._emit(EventType.HANDLER_STARTED, node_id, label=node.label,
                       handler=self.gid(graph.on_failure[node_id]),
                       attempt=self.sched.attempts[node_id])

    def done_record(self, node_id: str, handled: bool) -> NodeRecord:
        node = self.tpl.nodes[node_id]
        record = NodeRecord(self.gid(node_id), self.keys[node_id], node.fingerprint,
                            self.deps[node_id], RecordStatus.DONE, self.sched.attempts[node_id],
                            self.host.masker.mask_data(self.results[node_id].to_record()),
                            handled, time.time())
        # Not kept in `records` (what the store had when the frame began): nothing reads a
        # record this run wrote, and a 100,000-copy foreach would hold each one twice.
        return record

    def transition(self, change: Transition) -> None:
        node_id, state = change.node, change.state
        node = self.tpl.nodes[node_id]
        checkpointed = OPS[node.kind].checkpointed and self.spec.checkpoint
        cause = self.gid(change.cause) if change.cause else None
        if state is NodeState.HANDLED:
            if checkpointed and node_id in self.keys:
                self.host.writes.append(self.done_record(node_id, handled=True))
            self._emit(EventType.NODE_FINISHED, node_id, label=node.label, status="handled",
                       reason=change.reason, handler=cause,
                       attempts=self.sched.attempts[node_id] or None)
        elif state is NodeState.READY:
            # Reported once the round ends: the node may have started its attempt already.
            attempt = self.sched.attempts[node_id] + (
                self.sched.state[node_id] is NodeState.READY)
            self._emit(EventType.NODE_RETRYING, node_id, label=node.label, handler=cause,
                       attempt=attempt)
        elif state is NodeState.FAILED:
            if checkpointed and node_id in self.keys:  # it started in this run
                self.host.writes.append(NodeRecord(
                    self.gid(node_id), self.keys[node_id], node.fingerprint, self.deps[node_id],
                    RecordStatus.FAILED, self.sched.attempts[node_id], at=time.time()))
            if change.reason is not None:
                # Failed after its handler (attempts exhausted, or the handler failed): the
                # failure itself is its last attempt's.
                result = self.results.get(node_id)
                last = result if result is not None and not result.ok else None
                self._emit(EventType.NODE_FINISHED, node_id, label=node.label,
                           status="failed", reason=change.reason, cause=cause,
                           attempts=self.sched.attempts[node_id] or None,
                           message=(last.message or None) if last else None,
                           exit_code=last.exit_code if last else None)
        elif state is NodeState.INTERRUPTED:
            self._emit(EventType.NODE_FINISHED, node_id, label=node.label,
                       status="interrupted")
        elif state in (NodeState.SKIPPED, NodeState.NOT_RUN):
            self._emit(EventType.NODE_SKIPPED, node_id, label=node.label, status=str(state),
                       reason=change.reason, cause=cause)

    # --- variables -------------------------------------------------------------------------

    def visible(self, node_id: str) -> Visible:
        """Captured variables of every node upstream, the latest producer (plan order) winning."""
        deps = self.tpl.graph.deps
        stack = [node_id]
        while stack:
            top = stack[-1]
            missing = [d for d in deps[top] if d not in self.vis]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            if top not in self.vis:
                self.vis[top] = self._merged(deps[top])
        return self.vis[node_id]

    def _merged(self, deps: tuple[str, ...]) -> Visible:
        if len(deps) != 1:
            return merge_visible(deps, self.vis, self.own, self.tpl.index)
        # One dependency: what it sees plus what it captured, the same for every node after
        # it (a foreach's copies all follow the step before the loop): merged once, shared.
        shared = self.through.get(deps[0])
        if shared is None:
            shared = self.through[deps[0]] = merge_visible(deps, self.vis, self.own,
                                                           self.tpl.index)
        return shared

    def variables_at(self, node_id: str) -> dict[str, Any]:
        """What a node sees: the frame's outer variables under those captured upstream."""
        return {**self.spec.outer, **{k: v for k, (_, v) in self.visible(node_id).items()}}

    def exit_variables(self) -> dict[str, Any]:
        """Everything the frame's nodes captured, later nodes (plan order) winning."""
        out: dict[str, Any] = {}
        for node_id in self.tpl.graph.order:
            out.update(self.own.get(node_id) or {})
        return out


def _least(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


OUTPUT_LINES = 6
ERROR_LINES = 20  # `${error.message}` and a failed item's `stderr` keep this many last lines
ERROR_CHARS = 4000


def stderr_tail(kind: str, result: NodeResult, lines: int = ERROR_LINES) -> str:
    """The last lines a failed command wrote to stderr (masked), or "" when it wrote none.
    A command that wrote straight to its log (nobody reads its streams apart: no handler, no
    capture) has one tail of both streams as it wrote them; that is what this gives then."""
    text = str(result.variables.get(f"{kind}.stderr") or "").rstrip("\n")
    return "\n".join(text.splitlines()[-lines:])[-ERROR_CHARS:]


def error_message(kind: str, result: NodeResult) -> str:
    """`${error.message}`: what the failing command said on stderr, upstream's meaning (its
    exit code is `${error.exit_code}`). A claude node's message is the CLI's own words
    (`ops/claude.py`); a step whose command succeeded but whose result failed it (a capture
    that does not parse, commit_required) and a command that wrote nothing to stderr keep
    their one-line reason."""
    if kind == "claude" or not (result.exit_code or result.timed_out):
        return result.message
    return stderr_tail(kind, result) or result.message


def _last_lines(output: str) -> str | None:
    """The end of a step's (masked) output for the terminal; the whole of it is in its log."""
    lines = output.rstrip("\n").splitlines()[-OUTPUT_LINES:]
    return "\n".join(line[:200] for line in lines) or None
