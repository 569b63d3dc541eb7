"""Lowering of loops: foreach (expanded at compile time, or as a sub-plan) and goal_seek.

A foreach over a literal list is expanded into one copy of its body per item, with `item`,
`index` and `total` bound in each copy's params: the plan shows the real fan-out and each item
checkpoints on its own. The body is lowered once into a scratch graph and stamped per item
(ids `<step>.item.<k>.<j>`), so a 100,000-item list costs one lowering plus cheap copies whose
params all share the body's encoded templates. Items run in `parallel` lanes: item k starts
after item k-parallel finished, which bounds concurrency without runtime support.

A foreach becomes a `foreach` node with its body as a sub-plan instead when its items come
from a command, or when the step needs one node to stand for the whole loop (a gate, a
handler, validation, a capture, retry...), or when its body holds sub-plans itself.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import networkx as nx

from prodigy.compiler.lower_core import Exprs, LNode, Lowering, Subplan
from prodigy.compiler.model import Foreach, GoalSeek, Step, substeps
from prodigy.compiler.normalize_policies import tolerate
from prodigy.compiler.scope import FOREACH_BODY, PUBLISHED, REFINEMENT, Scope
from prodigy.runtime.nodes import BarrierParams, ForeachParams, GoalSeekParams
from prodigy.runtime.plan import EdgeKind

SEQ = EdgeKind.SEQUENCE
_HOLE = "\x00"  # stands for the item number in the scratch lowering's node ids
LOOP_CONTEXT = FOREACH_BODY | {"foreach"}


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
    command = step.command
    if step.validation is not None or isinstance(command, GoalSeek):
        return True
    if isinstance(command, Foreach) and not expandable(step, SEQ):
        return True
    return any(_makes_subplan(s) for s in substeps(step))


def lower_expanded(low: Lowering, step: Step, loop: Foreach, base: str, scope: Scope,
                   preds: tuple[str, ...], kind: EdgeKind) -> tuple[str, str, Scope]:
    """Returns (entry node, join node, scope after the loop)."""
    from prodigy.compiler.lower_steps import lower_body

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
    first, exits, after = lower_body(low, body, f"{base}.item.{_HOLE}", inner, (), SEQ)
    scratch, low.graph = low.graph, saved
    alias = "foreach" in low.roots_read
    low.roots_read |= read_before
    _retarget(low, pending_mark, join)
    total = len(items)
    lanes = max(loop.parallel, 1)
    tails: list[tuple[str, ...]] = []
    entry = join
    for index, item in enumerate(items):
        bound: dict[str, Any] = {"item": item, "index": index, "total": total}
        if alias:
            bound["foreach"] = {"item": item, "index": index, "total": total}
        number = str(index)
        _stamp(low, scratch, number, bound)
        item_exits = tuple(e.replace(_HOLE, number) for e in exits)
        if first is not None:
            item_entry = first.replace(_HOLE, number)
            entry = entry if index else item_entry
            if index < lanes:
                low.connect(preds, item_entry, kind)
            else:
                low.connect(tails[index - lanes], item_entry, SEQ)
        tails.append(item_exits)
    low.add(join, BarrierParams(closes="foreach"), scope, step.label or
            f"foreach: {total} items", loop.span)
    lane_tails = [t for t in tails[-lanes:]] if first is not None else []
    for tail in lane_tails:
        low.connect(tail, join, SEQ)
    if first is None or not items:
        low.connect(preds, join, kind)
    carried = {name: join for name, node in after.names.items()
               if scope.names.get(name) != node and name not in PUBLISHED}
    carried["foreach"] = join
    return entry, join, low.publish(scope, join, (), step.id).bind(carried)


def _retarget(low: Lowering, mark: int, join: str) -> None:
    """References parked while lowering the scratch body point at the loop's join node, and
    so do step ids and captures declared inside it."""
    for index in range(mark, len(low.pending)):
        pending = low.pending[index]
        chain = tuple((plan, join if _HOLE in node else node) for plan, node in pending.chain)
        low.pending[index] = replace(pending, chain=chain)
    for name, (node, plan) in list(low.step_ids.items()):
        if _HOLE in node:
            low.step_ids[name] = (join, plan)
    for name, node in list(low.captures.items()):
        if _HOLE in node:
            low.captures[name] = join


def _stamp(low: Lowering, scratch: nx.DiGraph, number: str, bound: dict[str, Any]) -> None:
    graph = low.graph
    for node, attrs in scratch.nodes(data=True):
        lowered: LNode | None = attrs.get("node")
        if lowered is None:
            continue  # a producer outside the loop, reached by a DATA edge
        params = lowered.params
        changes: dict[str, Any] = {"bindings": {**params.bindings, **bound}
                                   if params.bindings else bound}
        exit_codes = getattr(params, "on_exit_code", None)
        if exit_codes:
            changes["on_exit_code"] = {c: n.replace(_HOLE, number) for c, n in
                                       exit_codes.items()}
        graph.add_node(node.replace(_HOLE, number),
                       node=LNode(replace(params, **changes), lowered.phase, lowered.label,
                                  lowered.span, lowered.plan))
    for src, dst, kinds in scratch.edges(data=True):
        graph.add_edge(src.replace(_HOLE, number), dst.replace(_HOLE, number), **kinds)


def foreach_node(low: Lowering, loop: Foreach, base: str, scope: Scope,
                 exprs: Exprs) -> ForeachParams:
    from prodigy.compiler.lower_steps import lower_steps

    body = f"{base}.do"
    low.subplans[body] = Subplan(base, "do")
    inner = scope.sub(body, base, LOOP_CONTEXT, "a foreach body")
    lower_steps(low, loop.body, body, inner, (), SEQ)
    return ForeachParams(body=body, items=loop.items, command=exprs.template(loop.command),
                         parallel=loop.parallel, continue_on_error=loop.continue_on_error,
                         max_items=loop.max_items)


def goal_seek_node(low: Lowering, seek: GoalSeek, base: str, scope: Scope,
                   exprs: Exprs) -> GoalSeekParams:
    from prodigy.compiler.lower_steps import lower_steps

    attempt = f"{base}.attempt"
    low.subplans[attempt] = Subplan(base, "attempt")
    inner = scope.sub(attempt, base, REFINEMENT, "a goal_seek attempt")
    lower_steps(low, (seek.attempt,), attempt, inner, (), SEQ)
    return GoalSeekParams(goal=seek.goal, attempt=attempt, validate=exprs.template(seek.validate),
                          threshold=seek.threshold, max_attempts=seek.max_attempts,
                          timeout_s=seek.timeout_s, fail_on_incomplete=seek.fail_on_incomplete)
