"""Run, reuse or skip, with reasons a user can read (doit style); and whether to retry.

A node is reused only when the run has a `done` record under exactly the key the node has now.
Otherwise it runs, and the reasons say why by comparing the new key's ingredients with the
recorded ones: no checkpoint, interrupted last time, failed last time, its own definition
changed (fingerprint), a node it depends on changed (upstream), or only its rendered inputs
changed (an argument, an env value, a captured variable).

Retries (`RetryPolicy`) are decided here too: `attempts` counts every try, backoff is fixed,
linear, exponential, fibonacci or custom, capped by `max_delay_s`, with optional jitter;
`retry_on` limits retries to failures whose text matches (network, timeout, server_error,
rate_limit, or regexes), and `budget_s` bounds the total time spent retrying.
"""

from __future__ import annotations

import hashlib
import json.encoder
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from prodigy.runtime import environment
from prodigy.runtime.masking import Masker
from prodigy.runtime.nodes import NodeParams, field_names, thaw
from prodigy.runtime.ops import OPS, Context, Task, check_kinds
from prodigy.runtime.plan import Plan, PlanNode, canonical_json
from prodigy.runtime.scheduler import Graph, NodeState, Trigger
from prodigy.runtime.store import CheckpointStore, NodeRecord, RecordStatus, StateDir

KEY_VERSION = 1
Visible = dict[str, tuple[int, Any]]  # variable -> (plan index of its producer, value)
_EMPTY: Visible = {}


class Action(StrEnum):
    RUN = "run"
    REUSE = "reuse"
    SKIP = "skip"


class Why(StrEnum):
    NO_CHECKPOINT = "no checkpoint"
    INTERRUPTED = "interrupted last time"
    FAILED_BEFORE = "failed last time"
    FINGERPRINT_CHANGED = "fingerprint changed"
    UPSTREAM_CHANGED = "upstream changed"
    INPUTS_CHANGED = "inputs changed"
    UPSTREAM_RUNS = "upstream runs first"
    FORCED = "forced"
    CHECKPOINT_MATCHES = "checkpoint matches"
    NOT_CHECKPOINTED = "evaluated every run"
    CONDITIONAL = "conditional"
    GATE_CLOSED = "when: is false"
    UPSTREAM_FAILED = "upstream failed"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reasons: tuple[tuple[Why, str], ...]

    def explain(self) -> str:
        return "; ".join(f"{why}: {detail}" if detail else str(why) for why, detail in
                         self.reasons)

    def to_json(self) -> dict[str, Any]:
        return {"action": str(self.action),
                "reasons": [{"why": str(w), "detail": d} for w, d in self.reasons]}


# How canonical_json writes a string (ensure_ascii off), without an encoder call per node.
_json_string = json.encoder.encode_basestring


def checkpoint_key(fingerprint: str, inputs: Any, deps: Mapping[str, str]) -> str:
    """sha256 over the node's fingerprint, its rendered inputs and its dependencies' keys."""
    return key_from_inputs_json(fingerprint, canonical_json(inputs), deps)


def key_from_inputs_json(fingerprint: str, inputs_json: str, deps: Mapping[str, str]) -> str:
    """`checkpoint_key` given the inputs already in canonical JSON (a frame reuses that text
    for nodes that share params). The hashed text is exactly the canonical JSON of
    {"deps", "fingerprint", "inputs", "v"}: keys in sorted order, each value canonical."""
    deps_json = canonical_json(deps) if deps else "{}"
    body = (f'{{"deps":{deps_json},"fingerprint":{_json_string(fingerprint)},'
            f'"inputs":{inputs_json},"v":{KEY_VERSION}}}')
    return hashlib.sha256(body.encode()).hexdigest()


def decide(record: NodeRecord | None, key: str, fingerprint: str, deps: Mapping[str, str],
           *, forced: bool = False) -> Decision:
    if forced:
        return Decision(Action.RUN, ((Why.FORCED, ""),))
    if record is None:
        return Decision(Action.RUN, ((Why.NO_CHECKPOINT, ""),))
    if record.key == key:
        if record.status is RecordStatus.DONE:
            return Decision(Action.REUSE, ((Why.CHECKPOINT_MATCHES, _short(key)),))
        if record.status is RecordStatus.STARTED:
            return Decision(Action.RUN, ((Why.INTERRUPTED, f"attempt {record.attempt}"),))
        return Decision(Action.RUN, ((Why.FAILED_BEFORE, ""),))
    reasons: list[tuple[Why, str]] = []
    if record.fingerprint != fingerprint:
        reasons.append((Why.FINGERPRINT_CHANGED,
                        f"{_short(record.fingerprint)} -> {_short(fingerprint)}"))
    changed = sorted(d for d in set(deps) | set(record.deps) if deps.get(d) != record.deps.get(d))
    if changed:
        reasons.append((Why.UPSTREAM_CHANGED, ", ".join(changed)))
    if not reasons:
        reasons.append((Why.INPUTS_CHANGED, ""))
    return Decision(Action.RUN, tuple(reasons))


def _short(digest: str) -> str:
    return digest[:12]


# --- retries ---------------------------------------------------------------------------------

_MATCHERS = {
    "timeout": re.compile(r"timed out|timeout", re.IGNORECASE),
    "network": re.compile(r"network|connection (refused|reset|closed|timed out)|could not resolve"
                          r"|name resolution|ECONNRESET|ECONNREFUSED|EHOSTUNREACH|broken pipe",
                          re.IGNORECASE),
    "server_error": re.compile(r"\b5\d\d\b|server error|bad gateway|service unavailable",
                               re.IGNORECASE),
    "rate_limit": re.compile(r"rate.?limit|\b429\b|too many requests|overloaded", re.IGNORECASE),
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A step's `retry:` block as the compiler lowers it (`retry_defaults` already applied).

    `attempts` counts every run, the first included. Delays are in seconds.
    """

    attempts: int = 1
    backoff: str = "exponential"
    initial_delay_s: float = 1.0
    max_delay_s: float = 30.0
    increment_s: float | None = None
    base: float = 2.0
    delays_s: tuple[float, ...] = ()
    jitter: bool = False
    jitter_factor: float = 0.3
    retry_on: tuple[str, ...] = ()
    retry_on_patterns: tuple[str, ...] = ()
    budget_s: float | None = None

    @classmethod
    def from_params(cls, retry: Mapping[str, Any] | None) -> RetryPolicy:
        if not retry:
            return cls()
        known = {k: v for k, v in retry.items() if k in cls.__dataclass_fields__}
        for name in ("delays_s", "retry_on", "retry_on_patterns"):
            if name in known:
                known[name] = tuple(known[name] or ())
        return cls(**known)

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `retry` (1 = the second attempt)."""
        n = max(1, retry)
        if self.backoff == "fixed":
            delay = self.initial_delay_s
        elif self.backoff == "linear":
            step = self.increment_s if self.increment_s is not None else self.initial_delay_s
            delay = self.initial_delay_s + step * (n - 1)
        elif self.backoff == "fibonacci":
            a, b = 1, 1
            for _ in range(n - 1):
                a, b = b, a + b
            delay = self.initial_delay_s * a
        elif self.backoff == "custom":
            delay = self.delays_s[n - 1] if n <= len(self.delays_s) else self.max_delay_s
        else:
            delay = self.initial_delay_s * self.base ** (n - 1)
        delay = min(delay, self.max_delay_s)
        if self.jitter:
            delay *= 1 + self.jitter_factor * (2 * rand() - 1)
        return max(0.0, delay)

    def matches(self, text: str, timed_out: bool) -> bool:
        if not self.retry_on and not self.retry_on_patterns:
            return True
        for name in self.retry_on:
            if (name == "timeout" and timed_out) or (
                    name in _MATCHERS and _MATCHERS[name].search(text)):
                return True
        return any(re.search(p, text) for p in self.retry_on_patterns)

    def next_delay(self, attempt: int, text: str, timed_out: bool, elapsed_s: float,
                   rand: Callable[[], float] = random.random) -> float | None:
        """Seconds before trying again after failed try `attempt`, or None: do not retry."""
        if attempt >= self.attempts or not self.matches(text, timed_out):
            return None
        delay = self.delay(attempt, rand)
        if self.budget_s is not None and elapsed_s + delay > self.budget_s:
            return None
        return delay


# --- what a node sees, and the dry run -----------------------------------------------------


def plan_digest(plan: Plan) -> str:
    """What a loop body is: its nodes' fingerprints, its edges, its nested bodies. A loop
    node's key covers the digests of its bodies, so editing an agent template reruns a map."""
    lines = [*(f"{n.id} {n.fingerprint}" for n in plan.nodes),
             *(f"{e.src} {e.kind} {e.dst}" for e in plan.edges),
             *(f"sub {name} {plan_digest(sub)}" for name, sub in sorted(plan.subplans.items()))]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def body_names(params: NodeParams) -> list[str]:
    """Text params of a node (the sub-plan names a loop node refers to are among them)."""
    return [v for v in (getattr(params, f) for f in field_names(type(params)))
            if isinstance(v, str)]


def merge_visible(deps: tuple[str, ...], vis: dict[str, Visible],
                  own: dict[str, dict[str, Any]], index: dict[str, int]) -> Visible:
    """A node's visible variables from its dependencies' (all already computed)."""
    if not deps:
        return _EMPTY
    if len(deps) == 1 and not own.get(deps[0]):
        return vis[deps[0]]  # shared, not copied: most nodes add nothing
    out: Visible = {}
    for dep in deps:
        for name, (position, value) in vis[dep].items():
            if name not in out or out[name][0] < position:
                out[name] = (position, value)
        position = index[dep]
        for name, value in (own.get(dep) or {}).items():
            if name not in out or out[name][0] <= position:
                out[name] = (position, value)
    return out


def dry_run(plan: Plan, *, state: StateDir, run_id: str | None, cwd: Path,
            force: frozenset[str] = frozenset(), args: dict[str, str] | None = None
            ) -> list[tuple[PlanNode, Decision]]:
    """What a run would do, node by node, and why; runs and writes nothing.

    Nodes downstream of a node that would run and whose captured variables they see cannot
    have their key computed yet: they are reported as running because upstream runs first.
    """
    check_kinds(plan)
    run_env = environment.build(plan.workflow, run_id or "dry-run", cwd, dict(args or {}),
                                dry_run=True)
    records: dict[str, NodeRecord] = {}
    graph = Graph.from_plan(plan)
    if run_id and state.cache_dir.is_dir():
        store = CheckpointStore(state.cache_dir)
        try:
            records = store.load(run_id, graph.order)
        finally:
            store.close()
    scope = environment.base_scope(plan.workflow, run_env)
    subplans: dict[str, Plan] = {}
    stack = [plan]
    while stack:
        for name, sub in stack.pop().subplans.items():
            subplans[name] = sub
            stack.append(sub)
    index = {n: i for i, n in enumerate(graph.order)}
    out: dict[str, Decision] = {}
    keys: dict[str, str] = {}
    own: dict[str, dict[str, Any]] = {}
    vis: dict[str, Visible] = {}
    tainted: set[str] = set()  # nodes whose inputs depend on output not produced yet
    gate_open: dict[str, bool | None] = {}
    masker = Masker(run_env.mask_values)
    for node in plan.nodes:
        nid, op = node.id, OPS[node.kind]
        deps = graph.deps[nid]
        vis[nid] = merge_visible(deps, vis, own, index)
        if node.phase == "merge":
            out[nid] = Decision(Action.SKIP, ((Why.CONDITIONAL, "merge phase: no worktree"),))
            continue
        entry = graph.owner_entry.get(nid)
        if entry is not None:
            owner, trigger = graph.trigger[entry]
            if trigger is not Trigger.SUCCESS or out[owner].action is Action.SKIP:
                out[nid] = Decision(Action.SKIP, ((Why.CONDITIONAL, f"{trigger} of {owner}"),))
                continue
        closed = [g for g in graph.gates.get(nid, ()) if gate_open.get(g) is False]
        if closed:
            out[nid] = Decision(Action.SKIP, ((Why.GATE_CLOSED, closed[0]),))
            continue
        waiting = [d for d in deps if d in tainted]
        if waiting:
            why = (Why.UPSTREAM_RUNS, ", ".join(waiting)) if records else (Why.NO_CHECKPOINT, "")
            if not op.checkpointed:
                why = (Why.NOT_CHECKPOINTED, "evaluated when reached")
            out[nid] = Decision(Action.RUN, (why,))
            tainted.add(nid)
            gate_open[nid] = None
            continue
        variables = {k: v for k, (_, v) in vis[nid].items()}
        ctx = Context(run_id or "dry-run", nid, node.label,
                      {**scope, **variables, **thaw(node.params.bindings)}, variables, cwd, run_env)
        prepared = op.prepare(node.params, ctx)
        if op.loop:
            bodies = {name: plan_digest(subplans[name]) for name in body_names(node.params)
                      if name in subplans}
            prepared = replace(prepared, inputs={**prepared.inputs, "@bodies": bodies})
        dep_keys = {d: keys.get(d) or f"<{_sim_state(out[d])}>" for d in deps}
        keys[nid] = checkpoint_key(node.fingerprint, prepared.inputs, dep_keys)
        if not op.checkpointed:
            result = op.run(Task(run_id or "dry-run", nid, node.kind, node.label, 1,
                                 prepared.inputs, {}, str(cwd), "", masker))
            own[nid] = result.variables
            gate_open[nid] = result.gate
            detail = "" if result.gate is None else f"when: {str(result.gate).lower()}"
            out[nid] = Decision(Action.RUN, ((Why.NOT_CHECKPOINTED, detail),))
            continue
        decision = decide(records.get(nid), keys[nid], node.fingerprint, dep_keys,
                          forced=nid in force)
        out[nid] = decision
        if decision.action is Action.REUSE:
            own[nid] = dict(records[nid].result.get("variables") or {})
        elif (not node.params.repeatable or getattr(node.params, "capture", None)
              or op.loop):
            tainted.add(nid)  # what it will capture is not known before it runs
    return [(node, out[node.id]) for node in plan.nodes]


def _sim_state(decision: Decision) -> str:
    if decision.action is Action.SKIP:
        why = decision.reasons[0][0]
        return str(NodeState.SKIPPED if why is Why.GATE_CLOSED else NodeState.NOT_RUN)
    return "running"
