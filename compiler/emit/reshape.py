"""Where the view departs from the plan's graph: barriers joining phases left out, large
fan-outs collapsed, the entries of a sub-plan found, exit codes put on their edges."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence

from prodigy.runtime.plan import PlanEdge, PlanNode

_EXPANDED = re.compile(r"^(?P<owner>.+?)\.item\.(?P<index>\d+)(?:\.|$)")
Edge = tuple[str, str, str]  # src, dst, kind


def entries(nodes: Sequence[PlanNode], edges: Sequence[PlanEdge]) -> list[str]:
    """The nodes of a sub-plan that nothing in it precedes: where each item starts."""
    targets = {e.dst for e in edges}
    return [n.id for n in nodes if n.id not in targets]


def joins_phases(node: PlanNode) -> bool:
    # A phase's closing barrier `closes` its own phase; a foreach's closes the step's id.
    return node.kind == "barrier" and getattr(node.params, "closes", None) == node.phase


def rewired(edges: list[Edge], dropped: set[str]) -> Iterator[Edge]:
    """The edges without the dropped barriers: each barrier's drawn predecessors are joined to
    its successors by a PHASE edge (through chains of barriers, as for an empty phase)."""
    into: dict[str, list[str]] = {}
    for src, dst, _ in edges:
        if dst in dropped:
            into.setdefault(dst, []).append(src)

    def sources(barrier: str, seen: frozenset[str]) -> list[str]:
        found: list[str] = []
        for src in into.get(barrier, []):
            if src not in dropped:
                found.append(src)
            elif src not in seen:
                found += sources(src, seen | {src})
        return found

    for src, dst, kind in edges:
        if dst in dropped:
            continue
        if src not in dropped:
            yield src, dst, kind
        else:
            yield from ((pred, dst, "phase") for pred in sources(src, frozenset({src})))


def groups(nodes: list[PlanNode], collapse_above: int) -> dict[str, str]:
    """node id -> the collapsed node standing for it, for fan-outs larger than the limit."""
    owners: Counter[str] = Counter()
    for node in nodes:
        match = _EXPANDED.match(node.id)
        if match:
            owners[match.group("owner")] += 1
    big = {owner for owner, size in owners.items() if size > collapse_above}
    found: dict[str, str] = {}
    for node in nodes:
        match = _EXPANDED.match(node.id)
        if match and match.group("owner") in big:
            found[node.id] = f"{match.group('owner')}.item.*"
    return found


def exit_codes(nodes: list[PlanNode]) -> Mapping[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for node in nodes:
        for code, entry in (getattr(node.params, "on_exit_code", None) or {}).items():
            found[(node.id, entry)] = f"exit {code}"
    return found
