"""How each node kind runs: one op per kind, registered in OPS (kind -> Op).

The runtime refuses, before running anything, a plan with a kind that has no op here.
"""

from prodigy.runtime.errors import PlanError
from prodigy.runtime.ops import claude, control, shell, write_file
from prodigy.runtime.ops.base import Context, Failure, NodeResult, Op, Prepared, Task
from prodigy.runtime.plan import Plan

OPS: dict[str, Op] = {
    "shell": shell.OP,
    "claude": claude.OP,
    "write_file": write_file.OP,
    "gate": control.GATE,
    "handler": control.HANDLER,
    "barrier": control.BARRIER,
}



def check_kinds(plan: Plan) -> None:
    """Refuse, before anything runs, a plan with node kinds this runtime has no op for."""
    kinds: set[str] = set()
    stack = [plan]
    while stack:
        current = stack.pop()
        kinds.update(n.kind for n in current.nodes)
        stack.extend(current.subplans.values())
    missing = sorted(kinds - OPS.keys())
    if missing:
        raise PlanError(f"this runtime cannot run node kind(s) {', '.join(missing)} "
                        f"(it runs: {', '.join(sorted(OPS))})")


__all__ = ["OPS", "Context", "Failure", "NodeResult", "Op", "Prepared", "Task", "check_kinds"]
