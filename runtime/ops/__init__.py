"""How each node kind runs: one op per kind, registered in OPS (kind -> Op).

The runtime refuses, before running anything, a plan with a kind that has no op here.
"""

from prodigy.runtime.ops import claude, control, shell, write_file
from prodigy.runtime.ops.base import Context, Failure, NodeResult, Op, Prepared, Task

OPS: dict[str, Op] = {
    "shell": shell.OP,
    "claude": claude.OP,
    "write_file": write_file.OP,
    "gate": control.GATE,
    "handler": control.HANDLER,
    "barrier": control.BARRIER,
}

__all__ = ["OPS", "Context", "Failure", "NodeResult", "Op", "Prepared", "Task"]
