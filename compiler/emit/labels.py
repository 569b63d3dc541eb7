"""The text inside the drawn boxes: what a reader needs to tell the nodes apart.

A step shows the user's `id:` when it has one before the compiler's label, and no plan id
(`main.3`, `map.agent.1.on_failure.0`: names the user never wrote; the drawings keep them as
node names, which an SVG shows on hover). A foreach copy shows the item it runs for; a map shows
how it runs its agents, and its input pipeline is a node of its own (`input_label`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from prodigy.runtime.expr.codec import from_json
from prodigy.runtime.nodes import thaw
from prodigy.runtime.plan import Plan, PlanNode

TIMES = "\u00d7"  # the multiplication sign of "<times> 10 items"
MAX_LINES = 12


def node_label(node: PlanNode, subplans: Mapping[str, Plan]) -> str:
    """`subplans`: those of the plan holding the node, where its bodies are."""
    params: Any = node.params  # each kind's own fields, read by kind below
    if node.kind == "map":  # its compiler label names the input, which has a node of its own
        return "\n".join([getattr(params, "step_id", None) or node.id, *map_lines(params)])
    lines = [_titled(node)]
    item = item_line(params.bindings)
    if item:
        lines.append(item)
    if node.kind == "barrier" and params.limit:  # a foreach whose copies are a pool
        lines.append("one item at a time" if params.limit == 1
                     else f"up to {params.limit} items at a time")
    if node.kind == "handler":
        lines += _handler_lines(params)
    if node.kind == "verify":
        lines += _verify_lines(params)
    if node.kind == "validate":
        lines.append(f"until {params.threshold:g}% complete")
    if node.kind == "goal_seek":
        lines.append(f"until score \u2265 {params.threshold:g}")
    for name in _subplan_names(params):
        sub = subplans.get(name)
        if sub is not None:
            lines.append(f"{name.rsplit('.', 1)[-1]}:")
            lines += [f"  {n.label}" for n in sub.nodes]
    if len(lines) > MAX_LINES:
        lines[MAX_LINES - 1:] = [f"\u2026 {len(lines) - MAX_LINES + 1} more"]
    return "\n".join(lines)


def _titled(node: PlanNode) -> str:
    name = getattr(node.params, "step_id", None)
    return f"{name}: {node.label}" if name and not node.label.startswith(name) else node.label


def item_line(bindings: Mapping[str, Any] | None) -> str:
    """`item 2/3: runtime` for a copy of a foreach expanded at compile time, else ''."""
    if not bindings or "item" not in bindings or not isinstance(bindings.get("index"), int):
        return ""
    total = bindings.get("total")
    where = f"{bindings['index'] + 1}/{total}" if isinstance(total, int) else bindings["index"] + 1
    return f"item {where}: {short(bindings['item'])}"


def short(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(thaw(value), ensure_ascii=False)
    return text if len(text) <= width else text[: width - 2] + " \u2026"


def map_lines(params: Any) -> list[str]:
    lines = [f"up to {params.max_parallel} agents at a time"]
    if params.agent_timeout_s is not None:
        lines.append(f"agent timeout {params.agent_timeout_s:g} s")
    policy = params.error_policy or {}
    if policy.get("on_item_failure"):
        lines.append(f"failed items: {policy['on_item_failure']}")
    return lines


def input_label(params: Any) -> str:
    """The map's input pipeline, in the order the runtime applies it."""
    lines = [f"input: {expression(params.input)}"]
    if params.json_path:
        lines.append(f"json_path: {params.json_path}")
    if params.filter is not None:
        lines.append(f"filter: {expression(params.filter)}")
    if params.sort is not None:
        lines.append(f"sort_by: {expression(params.sort)}")
    if params.distinct:
        lines.append(f"distinct: {params.distinct}")
    if params.offset:
        lines.append(f"offset: {params.offset}")
    if params.max_items is not None:
        lines.append(f"max_items: {params.max_items}")
    return "\n".join(lines)


def expression(encoded: Any) -> str:
    """An expression or template as the user wrote it (canonically), from its plan encoding."""
    try:
        return short(str(from_json(thaw(encoded))), 60)
    except ValueError:
        return short(encoded, 60)


def group_label(owner: str, copies: list[PlanNode]) -> str:
    """A foreach expanded at compile time, too big to draw copy by copy."""
    items: dict[int, Any] = {}
    for node in copies:
        bindings = node.params.bindings or {}
        if isinstance(bindings.get("index"), int):
            items.setdefault(bindings["index"], bindings.get("item"))
    total = copies[0].params.bindings.get("total", "N") if copies[0].params.bindings else "N"
    shown = [short(items[i], 16) for i in sorted(items)[:4]]
    if len(items) > 4:
        shown.append("\u2026")
    lines = [f"{owner}: foreach {TIMES} {total} items", f"items: {', '.join(shown)}"]
    prefix = f"{owner}.item.0."
    body = [n.label for n in copies if n.id.startswith(prefix)]
    lines += body[:6]
    if len(body) > 6:
        lines.append(f"\u2026 {len(body) - 6} more")
    return "\n".join(lines)


def _handler_lines(params: Any) -> list[str]:
    lines = []
    if params.max_attempts > 1:
        lines.append(f"up to {params.max_attempts} attempts")
    # Whether the failure stops the run (or the item) is what a reader asks of a handler.
    lines.append("then still fails" if params.fail_workflow else "then goes on")
    return lines


def _verify_lines(params: Any) -> list[str]:
    lines = [f"{params.criteria}{f' {params.at_least}' if params.at_least else ''} of:"]
    for check in params.checks:
        lines.append(f"  {check.get('runner', 'shell')}: {expression(check.get('command'))}")
    return lines


def _subplan_names(params: object) -> list[str]:
    return [str(getattr(params, key)) for key in ("body", "commands", "on_incomplete", "attempt")
            if isinstance(getattr(params, key, None), str)]
