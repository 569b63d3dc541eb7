"""Lowering: the workflow model -> a networkx DiGraph of typed, frozen plan node params.

Control flow becomes graph structure, as the docstring of `runtime/plan.py` specifies: phases
chained through barriers, `when:` as gate nodes, handlers as bodies hanging off ON_FAILURE /
ON_SUCCESS / ON_EXIT_CODE edges, loops and map agents as sub-plans owned by one node. Data flow
is explicit: every reference becomes a DATA edge from the node producing it (`lower_core`).

One graph holds the main plan and every sub-plan; each node's `plan` attribute says which
("" for the main plan), and edges never cross plans. Node ids are readable and deterministic:
`main.3`, `setup.0`, `main.3.on_failure` (the handler), `main.3.on_failure.0` (its body),
`main.3.when` (a gate), `main.3.validate`, `setup.done` (a barrier), `map`, `map.agent.1`,
`main.2.item.7.0` (body step 0 of item 7 of a foreach expanded at compile time) and
`main.2.do.0` (its sub-plan form).
"""

from __future__ import annotations

from dataclasses import replace

from prodigy.compiler.lower_core import Lowered, Lowering, Subplan
from prodigy.compiler.lower_exprs import ExprCache, freeze, parse_all
from prodigy.compiler.lower_loops import gate_reduce_on_items
from prodigy.compiler.lower_refs import settle
from prodigy.compiler.lower_steps import lower_steps
from prodigy.compiler.model_workflow import EnvText, MapPhase, Phase, Workflow
from prodigy.compiler.scope import MAP_AGENT, MERGE_PHASE, Scope
from prodigy.compiler.source import SourceMap
from prodigy.runtime.nodes import BarrierParams, MapParams
from prodigy.runtime.plan import EdgeKind

SEQ, PHASE = EdgeKind.SEQUENCE, EdgeKind.PHASE
# How messages name a phase: "'${item}' is used in the setup phase, ..."
PLACES = {"main": "the workflow's steps", "setup": "the setup phase", "map": "the map phase",
          "reduce": "the reduce phase", "merge": "the merge phase"}


def lower(workflow: Workflow, source_map: SourceMap, cache: ExprCache | None = None) -> Lowered:
    """The graph of `workflow`; `cache` holds the expressions stage's parses (made here when
    lowering runs on its own, as in tests)."""
    given = {var.name for var in (*workflow.env, *workflow.secrets)}
    given.update(name for name, _ in workflow.args)
    given.update(p.name for p in workflow.parameters)
    # Values known now that a node may read: bound into the node so they count in its
    # fingerprint (a different --arg must not reuse a checkpoint).
    bindable = dict(workflow.args)
    bindable.update((var.name, var.value.text.value) for var in workflow.env
                    if isinstance(var.value, EnvText)
                    and "$" not in var.value.text.value)
    low = Lowering(source_map, bindable, cache or parse_all(workflow, source_map),
                   workflow.claude)
    state = _Phases(low, Scope(plan="", phase="main", given=frozenset(given)))
    state.steps(workflow.setup)
    state.steps(workflow.main)
    if workflow.map is not None:
        state.map(workflow.map, workflow)
    state.steps(workflow.reduce)
    if workflow.map is not None and workflow.reduce is not None and workflow.reduce.steps:
        gate_reduce_on_items(low, "map.done")  # skipped when the map had no items
    state.steps(workflow.merge)
    issues = settle(low)
    low.mark_tracked()
    return Lowered(low.graph, dict(low.subplans),
                   {name: node for name, (node, _) in low.step_ids.items()}, tuple(issues),
                   tuple(low.cache.diagnostics), dict(low.back_refs))


class _Phases:
    """Threads the scope and the last phase's exit through the phases, in run order."""

    def __init__(self, low: Lowering, scope: Scope) -> None:
        self.low, self.scope = low, scope
        self.exits: tuple[str, ...] = ()
        self.last = ""

    def _enter(self, phase: str) -> tuple[tuple[str, ...], EdgeKind]:
        """Scope for `phase`, and the barrier `<previous phase>.done` joining the two."""
        self.scope = replace(self.scope, phase=phase, where=PLACES.get(phase, phase))
        if phase == "merge":
            self.scope = self.scope.within(MERGE_PHASE, where="the merge phase")
        if not self.last:
            return self.exits, SEQ
        barrier = f"{self.last}.done"
        self.low.add(barrier, BarrierParams(closes=self.last),
                     replace(self.scope, phase=self.last), f"end of {self.last}", None)
        self.low.connect(self.exits, barrier, PHASE)
        return (barrier,), PHASE

    def steps(self, phase: Phase | None) -> None:
        if phase is None or not phase.steps:
            return
        preds, kind = self._enter(phase.name)
        self.exits, self.scope = lower_steps(self.low, phase.steps, phase.name, self.scope,
                                             preds, kind)
        self.last = phase.name

    def map(self, mapping: MapPhase, workflow: Workflow) -> None:
        preds, kind = self._enter("map")
        low, scope, node = self.low, self.scope, "map"
        exprs = low.exprs(scope, node)
        low.subplans["map.agent"] = Subplan(node, "agent")
        agent = scope.sub("map.agent", node, MAP_AGENT, "a map agent", phase="map")
        lower_steps(low, mapping.agent, "map.agent", agent, (), SEQ)
        timeouts, policy = mapping.timeouts, workflow.error_policy
        params = MapParams(
            input=exprs.template(mapping.input),
            agent="map.agent",
            json_path=exprs.json_path(mapping.json_path),
            filter=exprs.filter(mapping.filter),
            sort=exprs.sort(mapping.sort_by),
            distinct=mapping.distinct,
            offset=mapping.offset,
            max_items=mapping.max_items,
            max_parallel=mapping.max_parallel,
            agent_timeout_s=mapping.agent_timeout_s,
            timeout_policy=timeouts.policy if timeouts else "per_agent",
            command_timeouts=dict(timeouts.command_timeouts) if timeouts else {},
            cleanup_grace_s=timeouts.cleanup_grace_s if timeouts else None,
            timeout_action=timeouts.action if timeouts else "dlq",
            monitoring=timeouts.monitoring if timeouts else False,
            error_policy=None if policy is None else freeze(policy.to_json()),
            bindings=exprs.bindings,
            max_cost_usd=mapping.budget.max_cost_usd,
            max_tokens=mapping.budget.max_tokens,
        )
        low.add(node, params, scope, f"map: {mapping.input.value}", mapping.span)
        low.connect(preds, node, kind)
        self.scope = low.publish(scope, node, ("map",), None)
        self.exits, self.last = (node,), "map"
