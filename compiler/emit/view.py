"""What the drawing emitters draw: a plan reduced to a readable graph.

DOT and Mermaid draw the same view:
- a cluster per phase (setup, main, map, reduce, merge) and, inside the map phase, one for the
  agent template, whose steps are nodes with their handlers and validations beside them;
- inside those, a cluster per use of a sub-workflow or template the steps were inlined from
  (the nodes' `group`), nested as the uses were;
- a map's input pipeline (input, json_path, filter, sort_by, distinct, offset, max_items) as a
  source node feeding the map, and a PER_ITEM edge from the map into its agent template;
- no barrier joining two phases (the clusters show the phases): its predecessors are joined to
  its successors by PHASE edges;
- a foreach expanded at compile time collapsed into one node when its copies exceed
  `collapse_above` nodes;
- at most one edge between two nodes, of the most telling kind (`PRIORITY`): a gate's
  SEQUENCE edge is implied by its GATE edge, a DATA edge by the SEQUENCE edge beside it.
Other sub-plans (a run-time foreach body, a validation's commands) are listed in their owner's
label. `View.legend()` explains the edge kinds the view uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from prodigy.compiler.emit import reshape
from prodigy.compiler.emit.labels import group_label, input_label, node_label
from prodigy.compiler.emit.reshape import Edge
from prodigy.runtime.plan import Plan, PlanNode

PHASE_ORDER = ("setup", "main", "map", "reduce", "merge")
AGENT_CLUSTER = "agent template: once per item"
# edge kind -> what it means, in the legend's order.
LEGEND: dict[str, str] = {
    "sequence": "runs next",
    "data": "passes a value to",
    "gate": "when: runs it only if true",
    "on_failure": "runs if the step fails",
    "on_success": "runs if the step succeeds",
    "on_exit_code": "runs on that exit code",
    "phase": "next phase, once this one is done",
    "per_item": "runs the agent template per item",
}
# When two edges join the same nodes, the one whose kind comes first is drawn.
PRIORITY = {kind: rank for rank, kind in enumerate((
    "on_failure", "on_success", "on_exit_code", "gate", "per_item", "phase", "sequence", "data"))}
EDGE_LABELS = {"on_failure": "on_failure", "on_success": "on_success", "per_item": "each item"}


@dataclass(frozen=True, slots=True)
class ViewCluster:
    key: str  # a phase name, the sub-plan name of a map's agent template, or a group's path
    label: str
    parent: str = ""  # the enclosing cluster's key; "" at the top level
    kind: str = "phase"  # phase | agent | group


@dataclass(frozen=True, slots=True)
class ViewNode:
    id: str
    kind: str
    label: str
    cluster: str


@dataclass(frozen=True, slots=True)
class ViewEdge:
    src: str
    dst: str
    kind: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class View:
    title: str
    clusters: tuple[ViewCluster, ...]  # parents before their children
    nodes: tuple[ViewNode, ...]
    edges: tuple[ViewEdge, ...]

    def children(self, parent: str) -> list[ViewCluster]:
        return [c for c in self.clusters if c.parent == parent]

    def members(self, cluster: str) -> list[ViewNode]:
        return [n for n in self.nodes if n.cluster == cluster]

    def legend(self) -> list[tuple[str, str]]:
        """(edge kind, meaning) for each kind drawn."""
        used = {edge.kind for edge in self.edges}
        return [(kind, meaning) for kind, meaning in LEGEND.items() if kind in used]


@dataclass(frozen=True, slots=True)
class _Placed:
    node: PlanNode
    cluster: str
    subplans: Mapping[str, Plan]  # of the plan holding the node: its bodies are there


def build_view(plan: Plan, collapse_above: int = 200) -> View:
    plan = _materialised(plan)
    placed, clusters, edges = _place(plan)
    placed, clusters = _grouped(placed, clusters)
    groups = reshape.groups([p.node for p in placed], collapse_above)
    dropped = {p.node.id for p in placed if reshape.joins_phases(p.node)}
    nodes = _nodes([p for p in placed if p.node.id not in dropped], groups)
    labels = reshape.exit_codes([p.node for p in placed])
    drawn: dict[tuple[str, str], ViewEdge] = {}
    for src, dst, kind in reshape.rewired(edges, dropped):
        label = labels.get((src, dst), "") if kind == "on_exit_code" else ""
        src, dst = groups.get(src, src), groups.get(dst, dst)
        old = drawn.get((src, dst))
        if src != dst and (old is None or PRIORITY[kind] < PRIORITY[old.kind]):
            drawn[(src, dst)] = ViewEdge(src, dst, kind, label or EDGE_LABELS.get(kind, ""))
    title = str(plan.workflow.get("name") or plan.workflow.get("source") or "workflow")
    return View(title, tuple(clusters), tuple(nodes), tuple(drawn.values()))


def _nodes(placed: list[_Placed], groups: Mapping[str, str]) -> list[ViewNode]:
    copies: dict[str, list[PlanNode]] = {}
    for item in placed:
        if item.node.id in groups:
            copies.setdefault(groups[item.node.id], []).append(item.node)
    nodes: list[ViewNode] = []
    for item in placed:
        node, group = item.node, groups.get(item.node.id)
        if group is None:
            if node.kind == "map":
                nodes.append(ViewNode(input_id(node.id), "input", input_label(node.params),
                                      item.cluster))
            nodes.append(ViewNode(node.id, node.kind, node_label(node, item.subplans),
                                  item.cluster))
        elif copies[group][0] is node:
            owner = group[: -len(".item.*")]
            nodes.append(ViewNode(group, "foreach", group_label(owner, copies[group]),
                                  item.cluster))
    return nodes


def input_id(map_id: str) -> str:
    """The name of a map's input node: `<map>.input`, a pattern no plan node id has."""
    return f"{map_id}.input"


def _materialised(plan: Plan) -> Plan:
    # The view reads the nodes several times: build a compiled plan's foreach copies once.
    return replace(plan, nodes=tuple(plan.nodes), edges=tuple(plan.edges))


def _place(plan: Plan) -> tuple[list[_Placed], list[ViewCluster], list[Edge]]:
    """Every node drawn with its cluster, the clusters in drawing order, and the plan edges
    plus the map's: input -> map (DATA) and map -> the agent template's entries (PER_ITEM)."""
    placed: list[_Placed] = []
    agents: dict[str, ViewCluster] = {}
    # The map's GATE on each reduce node (no items, no reduce) is left out: the PHASE edge
    # already says reduce follows the map, and a gate per reduce node would hide it.
    maps = {node.id for node in plan.nodes if node.kind == "map"}
    edges = [(e.src, e.dst, str(e.kind)) for e in plan.edges
             if not (e.src in maps and str(e.kind) == "gate")]
    for node in plan.nodes:
        placed.append(_Placed(node, node.phase, plan.subplans))
        key = str(getattr(node.params, "agent", "")) if node.kind == "map" else ""
        if key not in plan.subplans:
            continue
        agent = _materialised(plan.subplans[key])
        agents[key] = ViewCluster(key, AGENT_CLUSTER, node.phase, "agent")
        placed += [_Placed(n, key, agent.subplans) for n in agent.nodes]
        edges.append((input_id(node.id), node.id, "data"))
        edges += [(node.id, entry, "per_item")
                  for entry in reshape.entries(agent.nodes, agent.edges)]
        edges += [(e.src, e.dst, str(e.kind)) for e in agent.edges]
    phases = {p.node.phase for p in placed if p.cluster == p.node.phase}
    order = [p for p in PHASE_ORDER if p in phases] + sorted(phases - set(PHASE_ORDER))
    clusters: list[ViewCluster] = []
    for phase in order:
        clusters.append(ViewCluster(phase, phase))
        clusters += [c for c in agents.values() if c.parent == phase]
    return placed, clusters, edges


def _grouped(placed: list[_Placed], clusters: list[ViewCluster]
             ) -> tuple[list[_Placed], list[ViewCluster]]:
    """Each node moved into the clusters of its groups, created as first met (a group's
    cluster before those nested in it)."""
    groups: dict[str, ViewCluster] = {}
    out: list[_Placed] = []
    for item in placed:
        parent = item.cluster
        for label in item.node.params.group:
            key = f"{parent}/{label}"
            groups.setdefault(key, ViewCluster(key, label, parent, "group"))
            parent = key
        out.append(replace(item, cluster=parent) if parent != item.cluster else item)
    return out, [*clusters, *groups.values()]
