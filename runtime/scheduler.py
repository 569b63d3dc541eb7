"""The pure, synchronous scheduler: which plan nodes may run now, given what has happened.

No processes, clocks or I/O: the run loop (`run.py`) reports outcomes (`succeed`, `fail`,
`reuse`, `interrupt`) and takes ready nodes (`pop_ready`); unit tests drive it directly. It
implements the graph semantics stated in `plan.py`.

States. A node starts WAITING. It is READY once every dependency (SEQUENCE, DATA, PHASE and
GATE predecessors) is resolved and, for the entry of a conditional body (ON_FAILURE,
ON_SUCCESS, ON_EXIT_CODE targets), once its condition happened; `pop_ready` makes it RUNNING.
It ends as one of:

- SUCCEEDED; HANDLED (failed, its on_failure handler ran, attempts exhausted, `fail_workflow`
  false); SKIPPED (a gate was false); NOT_RUN (a body whose condition did not happen). These
  resolve the node for its successors.
- FAILED. Unhandled, it fails the run: nothing new starts, its descendants become SKIPPED
  (`upstream_failed`), every other unstarted node SKIPPED (`run_failed`). Bodies of
  on_exit_code entries it already activated still run (upstream runs them before it decides
  the step failed). Inside a handler body whose handler is not `handler_failure_fatal`, a
  failure is *tolerated*: the rest of that path is skipped and the handler cycle goes on.
- INTERRUPTED: it was running when the run was interrupted.

A failed node with an on_failure handler goes to HANDLING: the handler and its body run, then
the node is attempted again until it has run `max_attempts` times in total, and only then
becomes HANDLED (or FAILED with `fail_workflow`). The handler runs between attempts, not after
the last one (N attempts, N-1 handler runs), unless there is only one attempt. on_exit_code
bodies never change whether the node failed.

Pools: nodes whose `pool` names a barrier with a `limit` (the copies of a literal foreach's
one-node body) run at most that many at once; the others of the pool stay READY meanwhile.
The run may raise a pool's `allowance` when the executor holds the limit itself (a lane) and
it sends nodes ahead; `requeue` and `drop` answer for nodes the executor gave back unstarted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from prodigy.runtime.errors import PlanError
from prodigy.runtime.nodes import BarrierParams, HandlerParams
from prodigy.runtime.plan import EdgeKind, Plan

DEPENDENCY_EDGES = frozenset({EdgeKind.SEQUENCE, EdgeKind.DATA, EdgeKind.PHASE, EdgeKind.GATE})


class NodeState(StrEnum):
    WAITING = "waiting"
    READY = "ready"
    RUNNING = "running"
    HANDLING = "handling"  # failed; its on_failure handler body is running
    SUCCEEDED = "succeeded"
    HANDLED = "handled"
    SKIPPED = "skipped"
    NOT_RUN = "not_run"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


RESOLVED = frozenset({NodeState.SUCCEEDED, NodeState.HANDLED, NodeState.SKIPPED, NodeState.NOT_RUN})
TERMINAL = RESOLVED | {NodeState.FAILED, NodeState.INTERRUPTED}


class Reason(StrEnum):
    """Why a node ended as it did, when "it ran and that was that" is not the whole story."""

    GATE_CLOSED = "gate_closed"
    UPSTREAM_FAILED = "upstream_failed"
    RUN_FAILED = "run_failed"
    INTERRUPTED = "interrupted"
    HANDLER_NOT_NEEDED = "handler_not_needed"
    ON_SUCCESS_NOT_NEEDED = "on_success_not_needed"
    EXIT_CODE_NOT_MATCHED = "exit_code_not_matched"
    HANDLER_FAILED = "handler_failed"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    TOLERATED = "tolerated"  # failed inside a handler body that is not handler_failure_fatal
    NO_WORKTREE = "no_worktree"  # a merge-phase node: the run has no worktree to merge back
    BUDGET = "budget"  # a spend limit was reached: it did not start (resume runs it)


class Trigger(StrEnum):
    FAILURE = "on_failure"
    SUCCESS = "on_success"
    EXIT_CODE = "on_exit_code"


_NOT_NEEDED = {
    Trigger.FAILURE: Reason.HANDLER_NOT_NEEDED,
    Trigger.SUCCESS: Reason.ON_SUCCESS_NOT_NEEDED,
    Trigger.EXIT_CODE: Reason.EXIT_CODE_NOT_MATCHED,
}


@dataclass(frozen=True, slots=True)
class HandlerPolicy:
    max_attempts: int = 1  # total attempts of the original node
    fail_workflow: bool = False
    failure_fatal: bool = False  # a failing body fails the run
    timeout_s: float | None = None  # cap on each body command


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change the run loop reports (events, display); `cause` names a node id."""

    node: str
    state: NodeState
    reason: Reason | None = None
    cause: str | None = None


@dataclass(frozen=True, slots=True)
class Graph:
    """The static shape of a plan as the scheduler needs it, computed once."""

    order: tuple[str, ...]
    deps: dict[str, tuple[str, ...]]
    dependents: dict[str, tuple[str, ...]]
    gates: dict[str, tuple[str, ...]]
    on_failure: dict[str, str]  # node -> handler entry
    on_success: dict[str, tuple[str, ...]]  # node -> on_success entries
    on_exit: dict[str, dict[int, str]]  # node -> exit code -> entry
    trigger: dict[str, tuple[str, Trigger]]  # entry -> (owner, trigger)
    bodies: dict[str, tuple[str, ...]]  # entry -> entry plus its body, in plan order
    owner_entry: dict[str, str]  # body member -> its entry
    policies: dict[str, HandlerPolicy]  # handler entry -> policy
    pools: dict[str, str]  # pooled node -> its pool (a barrier)
    limits: dict[str, int]  # pool -> how many of its nodes run at once

    @classmethod
    def from_plan(cls, plan: Plan) -> Graph:
        order = tuple(n.id for n in plan.nodes)
        deps: dict[str, list[str]] = {n: [] for n in order}
        dependents: dict[str, list[str]] = {n: [] for n in order}
        seq_preds: dict[str, list[str]] = {n: [] for n in order}
        gates: dict[str, list[str]] = {}
        on_failure: dict[str, str] = {}
        on_success: dict[str, list[str]] = {}
        trigger: dict[str, tuple[str, Trigger]] = {}
        for edge in plan.edges:
            if edge.kind in DEPENDENCY_EDGES:
                deps[edge.dst].append(edge.src)
                dependents[edge.src].append(edge.dst)
            if edge.kind is EdgeKind.SEQUENCE:
                seq_preds[edge.dst].append(edge.src)
            elif edge.kind is EdgeKind.GATE:
                gates.setdefault(edge.dst, []).append(edge.src)
            elif edge.kind is EdgeKind.ON_FAILURE:
                on_failure[edge.src] = edge.dst
                trigger[edge.dst] = (edge.src, Trigger.FAILURE)
            elif edge.kind is EdgeKind.ON_SUCCESS:
                on_success.setdefault(edge.src, []).append(edge.dst)
                trigger[edge.dst] = (edge.src, Trigger.SUCCESS)
        on_exit: dict[str, dict[int, str]] = {}
        policies: dict[str, HandlerPolicy] = {}
        pools: dict[str, str] = {}
        limits: dict[str, int] = {}
        for node in plan.nodes:
            if node.params.pool:
                pools[node.id] = node.params.pool
            elif isinstance(node.params, BarrierParams) and node.params.limit:
                limits[node.id] = node.params.limit
            for code, target in (getattr(node.params, "on_exit_code", None) or {}).items():
                on_exit.setdefault(node.id, {})[int(code)] = target
                trigger[target] = (node.id, Trigger.EXIT_CODE)
            if isinstance(node.params, HandlerParams):
                policies[node.id] = HandlerPolicy(max(1, node.params.max_attempts),
                                                  node.params.fail_workflow,
                                                  node.params.handler_failure_fatal,
                                                  node.params.timeout_s)
        for member, pool in pools.items():
            if pool not in limits:
                raise PlanError(f"node {member!r}: its pool {pool!r} is not a barrier of the "
                                "plan with a limit")
        index = {n: i for i, n in enumerate(order)}
        bodies: dict[str, tuple[str, ...]] = {}
        owner_entry: dict[str, str] = {}
        for entry in trigger:
            members = _body(entry, dependents, seq_preds)
            bodies[entry] = tuple(sorted(members, key=index.__getitem__))
            for member in members:
                # Bodies are disjoint: a nested handler hangs off a body member by an
                # ON_FAILURE edge, never by SEQUENCE, so it is an entry of its own.
                owner_entry.setdefault(member, entry)
        # Two edges between one pair (DATA and SEQUENCE, say) are one dependency.
        return cls(order, {k: tuple(dict.fromkeys(v)) for k, v in deps.items()},
                   {k: tuple(dict.fromkeys(v)) for k, v in dependents.items()},
                   {k: tuple(v) for k, v in gates.items()}, on_failure,
                   {k: tuple(v) for k, v in on_success.items()}, on_exit, trigger, bodies,
                   owner_entry, policies, pools, limits)


def _body(entry: str, dependents: dict[str, list[str]],
          seq_preds: dict[str, list[str]]) -> set[str]:
    """The entry plus every node all of whose SEQUENCE predecessors are in the body."""
    body = {entry}
    queue = deque([entry])
    while queue:
        for nxt in dependents[queue.popleft()]:
            preds = seq_preds[nxt]
            if nxt not in body and preds and all(p in body for p in preds):
                body.add(nxt)
                queue.append(nxt)
    return body


class Scheduler:
    """In-memory run state of one plan execution; the only owner of node states."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.state: dict[str, NodeState] = dict.fromkeys(graph.order, NodeState.WAITING)
        self.reason: dict[str, Reason | None] = {}
        self.cause: dict[str, str | None] = {}
        self.attempts: dict[str, int] = dict.fromkeys(graph.order, 0)
        self.gate_open: dict[str, bool] = {}
        self.failed = False
        self.stopped: Reason | None = None
        self.running = 0
        self._pending = {n: len(graph.deps[n]) for n in graph.order}
        self._active: set[str] = set()  # entries whose condition happened
        self._draining: set[str] = set()  # exit-code bodies that still run after a failure
        self._handling: dict[str, str] = {}  # handler entry -> the owner it is handling
        self._open: dict[str, int] = {}  # handler entry -> body members not yet terminal
        self._ready: deque[str] = deque()
        # A pool's ready nodes wait apart: `pop_ready` hands out at most `allowance` of them
        # at once (its limit, or more when the run sends them ahead to an executor lane).
        self._pool_ready: dict[str, deque[str]] = {p: deque() for p in graph.limits}
        self._pool_busy: dict[str, int] = dict.fromkeys(graph.limits, 0)
        self.allowance: dict[str, int] = dict(graph.limits)
        self._transitions: list[Transition] = []
        for node in graph.order:
            self._check_ready(node)

    # --- queries ---------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.running == 0 and not self._ready and not any(self._pool_ready.values())

    def has_ready(self) -> bool:
        return bool(self._ready) or any(
            queue and self._pool_busy[pool] < self.allowance[pool]
            for pool, queue in self._pool_ready.items())

    def pop_ready(self, limit: int | None = None) -> list[str]:
        """Hand out ready nodes, in the order they became ready (a pool's within the pool's
        allowance, before the others), and mark them RUNNING."""
        out: list[str] = []
        for pool, queue in self._pool_ready.items():
            while (queue and self._pool_busy[pool] < self.allowance[pool]
                   and (limit is None or len(out) < limit)):
                self._pool_busy[pool] += 1
                self._start(queue.popleft(), out)
        while self._ready and (limit is None or len(out) < limit):
            self._start(self._ready.popleft(), out)
        return out

    def _start(self, node: str, out: list[str]) -> None:
        self.state[node] = NodeState.RUNNING
        self.attempts[node] += 1
        self.running += 1
        out.append(node)

    def pop_transitions(self) -> list[Transition]:
        """State changes since the last call, except plain successes (the loop knows those)."""
        out, self._transitions = self._transitions, []
        return out

    def leftovers(self) -> list[str]:
        """Non-terminal nodes once the run is over: a non-empty list is a scheduler bug."""
        return [n for n in self.graph.order if self.state[n] not in TERMINAL]

    # --- outcomes reported by the run loop -------------------------------------------------

    def succeed(self, node: str, *, gate_open: bool | None = None, exit_code: int = 0) -> None:
        self._release(node)
        if gate_open is not None:
            self.gate_open[node] = gate_open
        self._resolve(node, NodeState.SUCCEEDED)
        self._pick_exit_entry(node, exit_code)
        for entry in self.graph.on_success.get(node, ()):
            self._activate(entry)

    def reuse(self, node: str, *, handled: bool = False, gate_open: bool | None = None) -> None:
        """A node satisfied by its checkpoint: resolved without running; no body runs."""
        self._release(node)
        if gate_open is not None:
            self.gate_open[node] = gate_open
        self._resolve(node, NodeState.HANDLED if handled else NodeState.SUCCEEDED)
        self._close(self.graph.on_exit.get(node, {}).values(), Reason.EXIT_CODE_NOT_MATCHED)
        if handled:
            self._close(self.graph.on_success.get(node, ()), Reason.ON_SUCCESS_NOT_NEEDED)
        else:
            for entry in self.graph.on_success.get(node, ()):
                self._activate(entry)

    def fail(self, node: str, *, exit_code: int | None = None) -> NodeState:
        """The node failed (after its retries). Returns HANDLING, or FAILED when unhandled."""
        self._release(node)
        self._close(self.graph.on_success.get(node, ()), Reason.ON_SUCCESS_NOT_NEEDED)
        self._pick_exit_entry(node, exit_code)
        handler = self.graph.on_failure.get(node)
        if handler is not None and self.stopped is None and self._last_attempt(node, handler):
            # Upstream's retry loop: the handler runs between attempts, not after the last
            # one (N attempts, N-1 handler runs); with one attempt it runs once.
            self._end_attempts(node, handler)
            return self.state[node]
        if handler is not None and self.stopped is None:
            self.state[node] = NodeState.HANDLING
            self._handling[handler] = node
            self._open[handler] = len(self.graph.bodies[handler])
            for member in self.graph.bodies[handler]:
                self._reset(member)
            self._activate(handler)
            return NodeState.HANDLING
        entry = self.graph.owner_entry.get(node)
        if entry in self._handling and not self.graph.policies[entry].failure_fatal:
            self._tolerate(node)
        else:
            self._fail_unhandled(node, None, None)
        return NodeState.FAILED

    def interrupt(self, node: str) -> None:
        """A running node was stopped because the run is being interrupted."""
        self._release(node)
        self._set(node, NodeState.INTERRUPTED, Reason.INTERRUPTED, None)
        self._settle()

    def requeue(self, node: str) -> None:
        """A running node whose command the executor lost before it could finish (its
        spawner died): ready again, as if it had not started."""
        self._release(node)
        self.attempts[node] -= 1
        self.state[node] = NodeState.READY
        self._enqueue(node)

    def drop(self, node: str) -> None:
        """A node handed out but dropped unstarted by the executor once the plan stopped (a
        failure stopped the run): it ends as the other unstarted nodes did."""
        self._release(node)
        self._resolve(node, NodeState.SKIPPED, self.stopped or Reason.RUN_FAILED)
        self._settle()

    def stop(self, reason: Reason) -> None:
        """Start nothing more: unstarted nodes end SKIPPED, or NOT_RUN in an idle body."""
        if self.stopped is None:
            self.stopped = reason
        if reason is Reason.INTERRUPTED:
            self._draining.clear()
        self._ready = deque(n for n in self._ready if self._drains(n))
        for pool, queue in self._pool_ready.items():
            self._pool_ready[pool] = deque(n for n in queue if self._drains(n))
        for node in self.graph.order:
            if self.state[node] in (NodeState.WAITING, NodeState.READY) and not self._drains(node):
                entry = self.graph.owner_entry.get(node)
                if entry is not None and entry not in self._active:
                    self._set(node, NodeState.NOT_RUN,
                              _NOT_NEEDED[self.graph.trigger[entry][1]], None)
                else:
                    self._set(node, NodeState.SKIPPED, reason, None)
        self._settle()

    # --- internals -------------------------------------------------------------------------

    def _drains(self, node: str) -> bool:
        return self.graph.owner_entry.get(node) in self._draining

    def _release(self, node: str) -> None:
        if self.state[node] is NodeState.RUNNING:
            self.running -= 1
            pool = self.graph.pools.get(node)
            if pool is not None:
                self._pool_busy[pool] -= 1

    def _enqueue(self, node: str) -> None:
        pool = self.graph.pools.get(node)
        (self._ready if pool is None else self._pool_ready[pool]).append(node)

    def _set(self, node: str, state: NodeState, reason: Reason | None, cause: str | None) -> None:
        self.state[node] = state
        self.reason[node] = reason
        self.cause[node] = cause
        if state is not NodeState.SUCCEEDED:
            self._transitions.append(Transition(node, state, reason, cause))

    def _resolve(self, node: str, state: NodeState, reason: Reason | None = None,
                 cause: str | None = None) -> None:
        self._set(node, state, reason, cause)
        if node in self.graph.on_failure:
            self._close([self.graph.on_failure[node]], Reason.HANDLER_NOT_NEEDED)
        if state is not NodeState.SUCCEEDED and state is not NodeState.HANDLED:
            self._close(self.graph.on_success.get(node, ()), Reason.ON_SUCCESS_NOT_NEEDED)
            self._close(self.graph.on_exit.get(node, {}).values(), Reason.EXIT_CODE_NOT_MATCHED)
        for dependent in self.graph.dependents[node]:
            self._pending[dependent] -= 1
            self._check_ready(dependent)
        self._member_done(node)

    def _check_ready(self, node: str) -> None:
        if self.state[node] is not NodeState.WAITING or self._pending[node] > 0:
            return
        if self.stopped is not None and not self._drains(node):
            return
        if node in self.graph.trigger and node not in self._active:
            return
        closed = [g for g in self.graph.gates.get(node, ()) if not self.gate_open.get(g, False)]
        if closed:
            self._resolve(node, NodeState.SKIPPED, Reason.GATE_CLOSED, closed[0])
            return
        self.state[node] = NodeState.READY
        self._enqueue(node)

    def _activate(self, entry: str) -> None:
        self._active.add(entry)
        self._check_ready(entry)

    def _pick_exit_entry(self, node: str, exit_code: int | None) -> None:
        for code, entry in sorted(self.graph.on_exit.get(node, {}).items()):
            if code == exit_code:
                self._activate(entry)
            else:
                self._close([entry], Reason.EXIT_CODE_NOT_MATCHED)

    def _close(self, entries: Iterable[str], reason: Reason) -> None:
        """Conditional entries whose condition did not happen: their bodies are NOT_RUN."""
        for entry in entries:
            if entry in self._active or self.state[entry] is not NodeState.WAITING:
                continue
            members = [m for m in self.graph.bodies[entry] if self.state[m] is NodeState.WAITING]
            for member in members:
                # Mark them all first: resolving the entry must not make a member READY.
                self.state[member] = NodeState.NOT_RUN
            for member in members:
                self._resolve(member, NodeState.NOT_RUN, reason)

    def _reset(self, member: str) -> None:
        """Put a handler-body member back to WAITING for another handler cycle."""
        if self.state[member] in RESOLVED or self.state[member] is NodeState.FAILED:
            for dependent in self.graph.dependents[member]:
                self._pending[dependent] += 1
        self.state[member] = NodeState.WAITING
        self._pending[member] = sum(
            1 for d in self.graph.deps[member] if self.state[d] not in RESOLVED)

    def _last_attempt(self, node: str, handler: str) -> bool:
        policy = self.graph.policies.get(handler, HandlerPolicy())
        return policy.max_attempts > 1 and self.attempts[node] >= policy.max_attempts

    def _end_attempts(self, owner: str, handler: str) -> None:
        """`owner` has had all its attempts: FAILED with `fail_workflow`, else HANDLED."""
        if self.graph.policies.get(handler, HandlerPolicy()).fail_workflow:
            self._fail_unhandled(owner, Reason.ATTEMPTS_EXHAUSTED, handler)
        else:
            self._resolve(owner, NodeState.HANDLED, Reason.ATTEMPTS_EXHAUSTED, handler)

    def _member_done(self, node: str) -> None:
        entry = self.graph.owner_entry.get(node)
        if entry is None or entry not in self._handling:
            return
        self._open[entry] -= 1
        if self._open[entry] > 0:
            return
        owner = self._handling.pop(entry)
        self._active.discard(entry)
        policy = self.graph.policies.get(entry, HandlerPolicy())
        if self.attempts[owner] < policy.max_attempts and self.stopped is None:
            self.state[owner] = NodeState.READY
            self._enqueue(owner)
            self._transitions.append(Transition(owner, NodeState.READY, None, entry))
        else:
            self._end_attempts(owner, entry)

    def _tolerate(self, node: str) -> None:
        """A handler body member failed, and the handler tolerates it: skip the rest of its
        path in the body, count it done, let the handler cycle finish."""
        entry = self.graph.owner_entry[node]
        body = set(self.graph.bodies[entry])
        for desc in self._descendants(node):
            if desc in body and self.state[desc] is NodeState.WAITING:
                self._resolve(desc, NodeState.SKIPPED, Reason.UPSTREAM_FAILED, node)
        self._set(node, NodeState.FAILED, Reason.TOLERATED, entry)
        for dependent in self.graph.dependents[node]:
            self._pending[dependent] -= 1
            self._check_ready(dependent)
        self._member_done(node)

    def _fail_unhandled(self, node: str, reason: Reason | None, cause: str | None) -> None:
        self._set(node, NodeState.FAILED, reason, cause)
        self.failed = True
        # A fatal failure inside a handler body fails the node being handled as well.
        entry = self.graph.owner_entry.get(node)
        while entry is not None and entry in self._handling:
            owner = self._handling.pop(entry)
            self._active.discard(entry)
            self._set(owner, NodeState.FAILED, Reason.HANDLER_FAILED, node)
            entry = self.graph.owner_entry.get(owner)
        for desc in self._descendants(node):
            if self.state[desc] in (NodeState.WAITING, NodeState.READY) and not self._drains(desc):
                self._set(desc, NodeState.SKIPPED, Reason.UPSTREAM_FAILED, node)
        self._draining |= {e for e in self.graph.on_exit.get(node, {}).values()
                           if e in self._active}
        self.stop(Reason.RUN_FAILED)

    def _settle(self) -> None:
        """Once stopped, end handler cycles that can no longer complete."""
        changed = self.stopped is not None
        while changed:
            changed = False
            for entry, owner in list(self._handling.items()):
                busy = (NodeState.RUNNING, NodeState.HANDLING, NodeState.READY)
                if any(self.state[m] in busy for m in self.graph.bodies[entry]):
                    continue
                del self._handling[entry]
                self._active.discard(entry)
                changed = True
                if self.stopped is Reason.INTERRUPTED:
                    self._set(owner, NodeState.INTERRUPTED, Reason.INTERRUPTED, None)
                else:
                    self._set(owner, NodeState.FAILED, Reason.RUN_FAILED, None)

    def _descendants(self, node: str) -> list[str]:
        seen: set[str] = set()
        queue = deque([node])
        while queue:
            for nxt in self.graph.dependents[queue.popleft()]:
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return [n for n in self.graph.order if n in seen]
