"""What the drawing emitters draw: a plan reduced to a readable graph.

Both DOT and Mermaid draw the same view: the main plan's nodes grouped by phase, with
- a foreach expanded at compile time collapsed into one node when its copies exceed
  `collapse_above` nodes (labelled "<times> N items"), and
- a map drawn as one node naming its agent template and "<times> N items" (N from max_items, or
  "N" when only the run knows).
Sub-plans other than the map agent are listed inside their owner's label.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

from prodigy.runtime.plan import Plan, PlanNode

_EXPANDED = re.compile(r"^(?P<owner>.+?)\.item\.(?P<index>\d+)(?:\.|$)")
PHASE_ORDER = ("setup", "main", "map", "reduce", "merge")
TIMES = "\u00d7"  # the multiplication sign of "<times> 10 items"


@dataclass(frozen=True, slots=True)
class ViewNode:
    id: str
    kind: str
    label: str
    phase: str


@dataclass(frozen=True, slots=True)
class ViewEdge:
    src: str
    dst: str
    kind: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class View:
    title: str
    nodes: tuple[ViewNode, ...]
    edges: tuple[ViewEdge, ...]

    def phases(self) -> list[tuple[str, list[ViewNode]]]:
        grouped: dict[str, list[ViewNode]] = {}
        for node in self.nodes:
            grouped.setdefault(node.phase, []).append(node)
        order = [p for p in PHASE_ORDER if p in grouped]
        order += sorted(p for p in grouped if p not in PHASE_ORDER)
        return [(phase, grouped[phase]) for phase in order]


def build_view(plan: Plan, collapse_above: int = 200) -> View:
    # The view reads the nodes several times: build a compiled plan's foreach copies once.
    plan = replace(plan, nodes=tuple(plan.nodes), edges=tuple(plan.edges))
    groups = _groups(plan, collapse_above)
    nodes: list[ViewNode] = []
    seen_groups: set[str] = set()
    for node in plan.nodes:
        group = groups.get(node.id)
        if group is None:
            nodes.append(ViewNode(node.id, node.kind, _label(plan, node), node.phase))
        elif group not in seen_groups:
            seen_groups.add(group)
            nodes.append(_group_node(plan, group, node))
    exit_codes = _exit_codes(plan)
    edges: dict[tuple[str, str, str], ViewEdge] = {}
    for edge in plan.edges:
        src, dst = groups.get(edge.src, edge.src), groups.get(edge.dst, edge.dst)
        if src == dst:
            continue
        label = exit_codes.get((edge.src, edge.dst), "") if edge.kind == "on_exit_code" else ""
        edges.setdefault((src, dst, str(edge.kind)), ViewEdge(src, dst, str(edge.kind), label))
    title = str(plan.workflow.get("name") or plan.workflow.get("source") or "workflow")
    return View(title, tuple(nodes), tuple(edges.values()))


def _groups(plan: Plan, collapse_above: int) -> dict[str, str]:
    """node id -> the collapsed node standing for it, for fan-outs larger than the limit."""
    owners: Counter[str] = Counter()
    for node in plan.nodes:
        match = _EXPANDED.match(node.id)
        if match:
            owners[match.group("owner")] += 1
    big = {owner for owner, size in owners.items() if size > collapse_above}
    found: dict[str, str] = {}
    for node in plan.nodes:
        match = _EXPANDED.match(node.id)
        if match and match.group("owner") in big:
            found[node.id] = f"{match.group('owner')}.item.*"
    return found


def _group_node(plan: Plan, group: str, first: PlanNode) -> ViewNode:
    owner = group[: -len(".item.*")]
    prefix = f"{owner}.item.0."
    body = [n.label for n in plan.nodes if n.id.startswith(prefix) or n.id == prefix[:-1]]
    items = first.params.bindings.get("total", "N") if first.params.bindings else "N"
    lines = [f"{owner}: foreach {TIMES} {items} items", *body[:6]]
    if len(body) > 6:
        lines.append(f"… {len(body) - 6} more")
    return ViewNode(group, "foreach", "\n".join(lines), first.phase)


def _label(plan: Plan, node: PlanNode) -> str:
    lines = [node.label if node.label.startswith(node.id) else f"{node.id}: {node.label}"]
    params = node.params
    if node.kind == "map":
        agent = plan.subplans.get(str(getattr(params, "agent", "")))
        count = getattr(params, "max_items", None)
        lines.append(f"{TIMES} {count if count is not None else 'N'} items")
        lines += [f"  {n.label}" for n in agent.nodes] if agent else []
    else:
        for name in _subplan_names(params):
            sub = plan.subplans.get(name)
            if sub is not None:
                role = name.rsplit(".", 1)[-1]
                lines.append(f"{role}:")
                lines += [f"  {n.label}" for n in sub.nodes]
    return "\n".join(lines[:12])


def _subplan_names(params: object) -> list[str]:
    return [str(getattr(params, key)) for key in ("body", "commands", "on_incomplete", "attempt")
            if isinstance(getattr(params, key, None), str)]


def _exit_codes(plan: Plan) -> Mapping[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for node in plan.nodes:
        for code, entry in (getattr(node.params, "on_exit_code", None) or {}).items():
            found[(node.id, entry)] = f"exit {code}"
    return found
