"""How each node kind runs: one op per kind, `OP` in the module named after it
(`runtime/ops/<kind>.py`), gathered in OPS (kind -> Op) for every kind of `runtime/nodes.py`.

A node kind without its op module is an internal error when this package is imported; the
runtime refuses, before running anything, a plan with a kind that has no op here.
"""

from importlib import import_module

from prodigy.runtime.errors import InternalError, PlanError
from prodigy.runtime.nodes import NODE_KINDS
from prodigy.runtime.ops.base import Context, Failure, NodeResult, Op, Prepared, Task
from prodigy.runtime.plan import Plan


def load_op(kind: str) -> Op:
    """`OP` of `prodigy.runtime.ops.<kind>`."""
    name = f"{__name__}.{kind}"
    try:
        module = import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise InternalError(f"node kind {kind!r} has no op: module {name} "
                            f"(runtime/ops/{kind}.py, defining OP) is missing") from None
    op = getattr(module, "OP", None)
    if not isinstance(op, Op):
        raise InternalError(f"{name} defines no OP (an ops.base.Op) for node kind {kind!r}")
    return op


OPS: dict[str, Op] = {kind: load_op(kind) for kind in NODE_KINDS}

# The params of loop kinds that name the sub-plans they run.
BODIES = {"map": ("agent",), "foreach": ("body",), "validate": ("commands", "on_incomplete"),
          "goal_seek": ("attempt",)}


def check_kinds(plan: Plan) -> frozenset[str]:
    """Refuse, before anything runs, a plan this runtime cannot run faithfully: node kinds it
    has no op for and loop nodes whose sub-plans are missing. Returns the kinds the plan
    (with its sub-plans) holds."""
    kinds: set[str] = set()
    names: set[str] = set()
    wanted: list[tuple[str, str]] = []
    stack = [plan]
    while stack:
        current = stack.pop()
        names |= set(current.subplans)
        for node in current.nodes:
            kinds.add(node.kind)
            for field in BODIES.get(node.kind, ()):
                body = getattr(node.params, field, None)
                if body is not None:
                    wanted.append((node.id, body))
        stack.extend(current.subplans.values())
    missing = sorted(kinds - OPS.keys())
    if missing:
        raise PlanError(f"this runtime cannot run node kind(s) {', '.join(missing)} "
                        f"(it runs: {', '.join(sorted(OPS))})")
    lost = [f"{body!r} (of node {node})" for node, body in wanted if body not in names]
    if lost:
        raise PlanError(f"the plan has no sub-plan {', '.join(lost)}")
    return frozenset(kinds)


__all__ = ["OPS", "Context", "Failure", "NodeResult", "Op", "Prepared", "Task", "check_kinds",
           "load_op"]
