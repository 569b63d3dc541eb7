"""Lowering of loops: foreach (expanded at compile time, or as a sub-plan) and goal_seek.

A foreach over a literal list is expanded into one copy of its body per item, with `item`,
`index` and `total` bound in each copy's params: the plan shows the real fan-out and each item
checkpoints on its own. The body is lowered once into a scratch graph; the graph keeps a single
node standing for the copies (its `Expansion`), and plan building writes the copies (ids
`<step>.item.<k>.<j>`) straight into the plan, their params sharing the body's encoded
templates. The loop ends at a barrier with the step's id. A body of one node makes the copies
a *pool*: each copy follows the loop's predecessors, names the barrier as its `pool`, and the
barrier's `limit` (`parallel`) is how many the run starts at once, so the run can keep the
next items waiting at the executor. A longer body runs in `parallel` lanes of plan edges
instead: item k's entry follows item k-parallel's exits (a pool counts running nodes, which
are not items then).

A foreach becomes a `foreach` node with its body as a sub-plan instead when its items come
from a command, or when the step needs one node to stand for the whole loop (a gate, a
handler, validation, a capture, retry...), or when its body holds sub-plans itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import networkx as nx

from prodigy.compiler.commands.foreach import LOOP_CONTEXT, Foreach
from prodigy.compiler.commands.goal_seek import GoalSeek
from prodigy.compiler.commands.registry import KIND_ROOTS
from prodigy.compiler.lower_core import Expansion, Lowering, natural_key
from prodigy.compiler.model import Step, substeps
from prodigy.compiler.normalize_policies import tolerate
from prodigy.compiler.scope import Scope
from prodigy.runtime.nodes import BarrierParams
from prodigy.runtime.plan import EdgeKind

SEQ = EdgeKind.SEQUENCE
_HOLE = "\x00"  # stands for the item number in the scratch lowering's node ids
# lower_steps.lower_body, passed in: loops hold steps, and steps hold loops.
LowerBody = Callable[[Lowering, tuple[Step, ...], str, Scope, tuple[str, ...], EdgeKind],
                     tuple[str | None, tuple[str, ...], Scope]]


def expandable(step: Step, kind: EdgeKind) -> bool:
    command = step.command
    if not isinstance(command, Foreach) or command.items is None:
        return False
    if (step.when or step.on_failure or step.on_success or step.on_exit_code or step.validation
            or step.verify or step.retry or step.capture or step.outputs or step.analysis):
        return False
    # A body's entry must be one node when the foreach starts a handler body.
    if kind not in (SEQ, EdgeKind.PHASE) and command.parallel > 1:
        return False
    return not any(_makes_subplan(s) for s in command.body)


def _makes_subplan(step: Step) -> bool:
    """Whether lowering `step` creates sub-plans (or a nested expansion), which a body copied
    per item cannot hold."""
    command = step.command
    if step.validation is not None or isinstance(command, GoalSeek | Foreach):
        return True
    return any(_makes_subplan(s) for s in substeps(step))


def lower_expanded(low: Lowering, step: Step, loop: Foreach, base: str, scope: Scope,
                   preds: tuple[str, ...], kind: EdgeKind, lower_body: LowerBody
                   ) -> tuple[str, str, Scope]:
    """Returns (entry node, join node, scope after the loop)."""
    items = loop.items or ()
    if loop.max_items is not None:
        items = items[: loop.max_items]
    body = tuple(tolerate(s) for s in loop.body) if loop.continue_on_error else loop.body
    join = base
    pending_mark = len(low.pending)
    saved, low.graph = low.graph, nx.DiGraph()
    inner = scope.within(LOOP_CONTEXT, where="a foreach body")
    read_before = set(low.roots_read)
    low.roots_read.clear()
    hole = f"{base}.item.{_HOLE}"
    first, exits, after = lower_body(low, body, hole, inner, (), SEQ)
    scratch, low.graph = low.graph, saved
    alias = "foreach" in low.roots_read
    low.roots_read |= read_before
    _retarget(low, pending_mark, hole, join)
    pooled = _poolable(scratch, kind) and bool(items)
    lanes = max(loop.parallel, 1)
    if pooled:
        # Every copy hangs off the loop's predecessors; the run holds `parallel` at once.
        lanes, node = len(items), scratch.nodes[first]["node"]
        scratch.nodes[first]["node"] = replace(node, params=replace(node.params, pool=join))
    low.add(join, BarrierParams(closes="foreach", limit=max(loop.parallel, 1) if pooled else 0),
            scope, step.label or f"foreach: {len(items)} items", loop.span)
    entry = join
    if first is None or not items:
        low.connect(preds, join, kind)
    else:
        group = f"{base}.item.*"
        expansion = _expansion(scratch, hole, f"{base}.item.", items, lanes, alias,
                               first, exits)
        low.add(group, BarrierParams(closes="items"), scope, f"{len(items)} items",
                loop.span, expansion)
        low.connect(preds, group, kind)
        for src, _, _ in expansion.inbound:
            low.edge(src, group, EdgeKind.DATA)
        low.edge(group, join, SEQ)
        entry = first.replace(hole, f"{base}.item.0", 1)
    carried = {name: join for name, node in after.names.items()
               if scope.names.get(name) != node and name not in KIND_ROOTS}
    carried["foreach"] = join
    return entry, join, low.publish(scope, join, (), step.id).bind(carried)


def _poolable(scratch: nx.DiGraph, kind: EdgeKind) -> bool:
    """Whether the copies can be a pool: the body is one node (a pool counts nodes running,
    which is items running only then) and the loop is on a main line (a handler body's
    entry must be one node)."""
    own = [n for n, attrs in scratch.nodes(data=True) if "node" in attrs]
    return len(own) == 1 and kind in (SEQ, EdgeKind.PHASE)


def _expansion(scratch: nx.DiGraph, hole: str, prefix: str, items: tuple[str, ...],
               lanes: int, alias: bool, entry: str, exits: tuple[str, ...]) -> Expansion:
    own = [n for n, attrs in scratch.nodes(data=True) if "node" in attrs]
    order = nx.lexicographical_topological_sort(scratch.subgraph(own), key=natural_key)
    edges: list[tuple[str, str, tuple[str, ...]]] = []
    inbound: list[tuple[str, str, tuple[str, ...]]] = []
    for src, dst, kinds in scratch.edges(data=True):
        entry_kinds = tuple(sorted(kinds))
        (edges if "node" in scratch.nodes[src] else inbound).append((src, dst, entry_kinds))
    return Expansion(hole, prefix, items, lanes, alias,
                     tuple((n, scratch.nodes[n]["node"]) for n in order), tuple(sorted(edges)),
                     tuple(sorted(inbound)), entry, exits)


def _retarget(low: Lowering, mark: int, hole: str, join: str) -> None:
    """References parked while lowering the scratch body point at the loop's join node, and
    so do step ids and captures declared inside it."""
    for index in range(mark, len(low.pending)):
        pending = low.pending[index]
        chain = tuple((plan, join if node.startswith(hole) else node)
                      for plan, node in pending.chain)
        low.pending[index] = replace(pending, chain=chain)
    for name, (node, plan) in list(low.step_ids.items()):
        if node.startswith(hole):
            low.step_ids[name] = (join, plan)
    for name, (node, plan) in list(low.captures.items()):
        if node.startswith(hole):
            low.captures[name] = (join, plan)


def gate_reduce_on_items(low: Lowering, barrier: str) -> None:
    """Reduce runs only when the map had items: the map node's result is a gate (its
    `gate`: items > 0) on every node of the reduce steps' main paths, entered from the
    `map.done` barrier. Every node, not only the first: a node skipped by its gate lets the
    next step run, as a `when: false` step does. Handler bodies hang off those nodes and are
    not needed when they are skipped; merge, after `reduce.done`, still runs."""
    graph = low.graph
    seen: set[str] = set()
    stack = [dst for dst in graph.successors(barrier)]
    while stack:
        node = stack.pop()
        lnode = graph.nodes[node].get("node")
        if node in seen or lnode is None or lnode.phase != "reduce" or lnode.plan:
            continue
        seen.add(node)
        if lnode.expansion is None:
            low.edge("map", node, EdgeKind.GATE)
        else:  # a foreach expanded per item: every copy is gated, not only the first
            graph.nodes[node]["node"] = replace(lnode, expansion=_gated(lnode.expansion))
        stack.extend(dst for dst in graph.successors(node)
                     if not _HANDLER_EDGES & set(graph.edges[node, dst]))


# Edges into a body that runs only on its parent's outcome: not part of its main path.
_HANDLER_EDGES = {EdgeKind.ON_FAILURE.value, EdgeKind.ON_SUCCESS.value,
                  EdgeKind.ON_EXIT_CODE.value}


def _gated(expansion: Expansion) -> Expansion:
    """`expansion` with the map's gate on each main-path node of its body (every copy)."""
    main, stack = set(), [expansion.entry]
    while stack:
        node = stack.pop()
        if node not in main:
            main.add(node)
            stack.extend(dst for src, dst, kinds in expansion.edges
                         if src == node and not _HANDLER_EDGES & set(kinds))
    gates = tuple(("map", node, (EdgeKind.GATE.value,)) for node in sorted(main))
    return replace(expansion, inbound=tuple(sorted((*expansion.inbound, *gates))))
