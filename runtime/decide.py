"""Run, reuse or skip, with reasons a user can read (doit style).

A node is reused only when the run has a `done` record under exactly the key the node has now.
Otherwise it runs, and the reasons say why by comparing the new key's ingredients with the
recorded ones: no checkpoint, interrupted last time, failed last time, its own definition
changed (fingerprint), a node it depends on changed (upstream), or only its rendered inputs
changed (an argument, an env value, a captured variable).

Whether a failed node is tried again is its `policies.RetryPolicy`'s to say.
"""

from __future__ import annotations

import hashlib
import json.encoder
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from prodigy.runtime import environment
from prodigy.runtime.git import changes
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
    if run_id and state.cache_dir.is_dir():  # read only: a dry run writes nothing
        store = CheckpointStore.for_reading(state.cache_dir)
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
        node_scope = {**scope, **variables, **thaw(node.params.bindings)}
        if changes.READS in node.params.bindings:  # as the run would see them (frame.py)
            changes.bind(node_scope, node.params.bindings[changes.READS], cwd)
        ctx = Context(run_id or "dry-run", nid, node.label, node_scope, variables, cwd, run_env)
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
