"""Lowering: the workflow model -> a networkx DiGraph of typed, frozen plan node params.

Control flow becomes graph structure, as the docstring of `runtime/plan.py` specifies: phases
chained through barriers, `when:` as gate nodes, handlers as bodies hanging off ON_FAILURE /
ON_SUCCESS / ON_EXIT_CODE edges, loops and map agents as sub-plans owned by one node. Data flow
is explicit: every reference becomes a DATA edge from the node producing it (`lower_exprs`).

One graph holds the main plan and every sub-plan; each node's `plan` attribute says which
("" for the main plan), and edges never cross plans. Node ids are readable and deterministic:
`main.3`, `setup.0`, `main.3.on_failure` (the handler), `main.3.on_failure.0` (its body),
`main.3.when` (a gate), `main.3.validate`, `map`, `map.agent.1`, `main.2.item.7.0` (body
step 0 of item 7 of a foreach expanded at compile time), `main.2.do.0` (its sub-plan form).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from prodigy.compiler.diagnostics import Diagnostic
from prodigy.compiler.lower_exprs import ExprCache, Parsed, ref_sites
from prodigy.compiler.model import EnvText, MapPhase, Text, Workflow
from prodigy.compiler.scope import (
    ITEM_ROOTS,
    MAP_AGENT,
    MERGE_PHASE,
    PROVIDED,
    PUBLISHED,
    Pending,
    RefIssue,
    Scope,
    resolve,
    root_of,
)
from prodigy.compiler.source import SourceMap
from prodigy.runtime.nodes import BarrierParams, MapParams, NodeParams
from prodigy.runtime.plan import EdgeKind
from prodigy.runtime.span import Span

SEQ, DATA, PHASE = EdgeKind.SEQUENCE, EdgeKind.DATA, EdgeKind.PHASE


@dataclass(frozen=True, slots=True)
class LNode:
    """What a graph node holds: everything the plan needs about it except its id."""

    params: NodeParams
    phase: str
    label: str
    span: Span | None
    plan: str  # "" for the main plan, else the sub-plan's name


@dataclass(frozen=True, slots=True)
class Subplan:
    owner: str  # the node (in the enclosing plan) that runs this sub-plan
    role: str  # agent | do | attempt | commands | on_incomplete


@dataclass(frozen=True, slots=True)
class Lowered:
    graph: nx.DiGraph
    subplans: Mapping[str, Subplan]
    step_ids: Mapping[str, str]  # user step id -> node that publishes it
    issues: tuple[RefIssue, ...]
    diagnostics: tuple[Diagnostic, ...]  # expression errors


@dataclass(slots=True)
class Lowering:
    """The mutable state of one lowering; nothing outside `lower()` ever sees it."""

    source_map: SourceMap
    bindable: dict[str, str]  # --arg and literal env values: bound into nodes that read them
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)
    cache: ExprCache = field(init=False)
    subplans: dict[str, Subplan] = field(default_factory=dict)
    step_ids: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (node, plan)
    captures: dict[str, str] = field(default_factory=dict)  # capture root -> node
    pending: list[Pending] = field(default_factory=list)
    roots_read: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.cache = ExprCache(self.source_map)

    def add(self, node_id: str, params: NodeParams, scope: Scope, label: str,
            span: Span | None) -> None:
        self.graph.add_node(node_id, node=LNode(params, scope.phase, label, span, scope.plan))

    def edge(self, src: str, dst: str, kind: EdgeKind) -> None:
        # One networkx edge per node pair; its attributes are the set of kinds it carries
        # (a step can both follow and read its predecessor).
        self.graph.add_edge(src, dst, **{kind.value: True})

    def connect(self, preds: Iterable[str], dst: str, kind: EdgeKind) -> None:
        for pred in preds:
            self.edge(pred, dst, kind)

    def exprs(self, scope: Scope, node: str) -> Exprs:
        return Exprs(self, scope, node)

    def publish(self, scope: Scope, node: str, names: Iterable[str], step_id: Text | None,
                captures: Iterable[str] = ()) -> Scope:
        """Register what `node` publishes; later references resolve to it."""
        found = {root_of(n): node for n in names}
        for name in captures:
            found[root_of(name)] = node
            self.captures.setdefault(root_of(name), node)
        if step_id is not None:
            found[step_id.value] = node
            self.step_ids.setdefault(step_id.value, (node, scope.plan))
        return scope.bind(found)


class Exprs:
    """The expressions of one node: parsed, their references resolved, bindings collected."""

    __slots__ = ("bindings", "low", "node", "scope")

    def __init__(self, low: Lowering, scope: Scope, node: str) -> None:
        self.low, self.scope, self.node = low, scope, node
        self.bindings: dict[str, Any] = {}

    def template(self, text: Text | None) -> Any:
        return self._encoded("template", text)

    def condition(self, text: Text | None) -> Any:
        return self._encoded("condition", text)

    def filter(self, text: Text | None) -> Any:
        return self._encoded("filter", text)  # names item fields, not variables: no edges

    def sort(self, text: Text | None) -> Any:
        return self._encoded("sort", text)

    def json_path(self, text: Text | None) -> str:
        found = self._encoded("json_path", text)
        return found if isinstance(found, str) else ""

    def _encoded(self, kind: str, text: Text | None) -> Any:
        if text is None:
            return None
        parsed = self.low.cache.parse(kind, text)
        if parsed is None:
            return None
        if parsed.refs:
            self._resolve(parsed, text)
        return parsed.encoded

    def _resolve(self, parsed: Parsed, text: Text) -> None:
        low, scope = self.low, self.scope
        sites: list[tuple[Span, bool]] | None = None
        for index, path in enumerate(parsed.refs):
            root = path.root
            low.roots_read.add(root)
            found = resolve(scope, root, self.node)
            if isinstance(found, tuple):
                low.edge(found[0], found[1], DATA)
                continue
            if found == PROVIDED:
                if root in low.bindable and not scope.provides_context(root):
                    self.bindings[root] = low.bindable[root]
                continue
            if sites is None:
                sites = ref_sites(text, len(parsed.refs), low.source_map)
            span, braced = sites[index]
            low.pending.append(Pending(root, str(path), braced, bool(path.segments), span,
                                       scope.chain(self.node), scope.where,
                                       scope.all_context()))


def lower(workflow: Workflow, source_map: SourceMap) -> Lowered:
    from prodigy.compiler.lower_steps import lower_steps

    given = {var.name for var in (*workflow.env, *workflow.secrets)}
    given.update(name for name, _ in workflow.args)
    given.update(p.name for p in workflow.parameters)
    bindable = {name: value for name, value in workflow.args}
    bindable.update((var.name, var.value.text.value) for var in workflow.env
                    if isinstance(var.value, EnvText) and not var.value.secret
                    and "$" not in var.value.text.value)
    low = Lowering(source_map, bindable)
    scope = Scope(plan="", phase="main", given=frozenset(given))
    exits: tuple[str, ...] = ()
    last = ""
    for phase in (workflow.setup, workflow.main):
        if phase is not None and phase.steps:
            scope = _phase_scope(scope, phase.name)
            exits, scope = lower_steps(low, phase.steps, phase.name, scope,
                                       _barrier(low, scope, last, exits), PHASE if last else SEQ)
            last = phase.name
    if workflow.map is not None:
        scope = _phase_scope(scope, "map")
        exits, scope = _lower_map(low, workflow.map, scope, _barrier(low, scope, last, exits))
        last = "map"
    for phase in (workflow.reduce, workflow.merge):
        if phase is not None and phase.steps:
            scope = _phase_scope(scope, phase.name)
            if phase.name == "merge":
                scope = scope.within(MERGE_PHASE, where="the merge phase")
            exits, scope = lower_steps(low, phase.steps, phase.name, scope,
                                       _barrier(low, scope, last, exits), PHASE if last else SEQ)
            last = phase.name
    from prodigy.compiler.lower_refs import settle

    issues = settle(low)
    return Lowered(low.graph, dict(low.subplans),
                   {k: node for k, (node, _) in low.step_ids.items()}, tuple(issues),
                   tuple(low.cache.diagnostics))


def _phase_scope(scope: Scope, phase: str) -> Scope:
    from dataclasses import replace

    return replace(scope, phase=phase, where=phase)


def _barrier(low: Lowering, scope: Scope, last: str, exits: tuple[str, ...]) -> tuple[str, ...]:
    """The join between the previous phase and the next: `<previous phase>.done`."""
    if not last:
        return exits
    node = f"{last}.done"
    from dataclasses import replace

    low.add(node, BarrierParams(closes=last), replace(scope, phase=last), f"end of {last}",
            None)
    low.connect(exits, node, PHASE)
    return (node,)


def _lower_map(low: Lowering, mapping: MapPhase, scope: Scope, preds: tuple[str, ...]
               ) -> tuple[tuple[str, ...], Scope]:
    from prodigy.compiler.lower_steps import lower_steps, policy_json

    node = "map"
    exprs = low.exprs(scope, node)
    agent = scope.sub("map.agent", node, MAP_AGENT, "a map agent", phase="map")
    low.subplans["map.agent"] = Subplan(node, "agent")
    lower_steps(low, mapping.agent, "map.agent", agent, (), SEQ)
    timeouts = mapping.timeouts
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
        error_policy=None,
        bindings=exprs.bindings,
    )
    del policy_json
    low.add(node, params, scope, f"map: {mapping.input.value}", mapping.span)
    low.connect(preds, node, PHASE)
    return (node,), low.publish(scope, node, ("map",), None)


__all__ = ["ITEM_ROOTS", "PUBLISHED", "LNode", "Lowered", "Subplan", "lower"]
