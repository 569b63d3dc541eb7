"""`handler` nodes: the start of an on_failure body, evaluated by the driver itself.

A control kind (see `gate.py`): inline, not checkpointed. Its inputs are the failure it
handles, attempt number included, so each handler cycle has its own keys downstream.
"""

from __future__ import annotations

import time
from typing import Any

from prodigy.runtime.nodes import NodeParams
from prodigy.runtime.ops.base import Context, Failure, NodeResult, Op, Prepared, Task


def error_variables(failure: Failure) -> dict[str, Any]:
    """A handler body's view of the failure: `${error.*}` and the failed node's output as
    `${shell.output}` / `${claude.output}` (and CAPTURED_OUTPUT)."""
    error = {"message": failure.message, "exit_code": failure.exit_code,
             "step": failure.label, "node": failure.node_id, "attempt": failure.attempt}
    return {"error": error, "error.message": failure.message,
            "error.exit_code": failure.exit_code, "error.step": failure.label,
            "error.attempt": failure.attempt, f"{failure.kind}.output": failure.output,
            # Upstream's names in a `test:` command's handler (any handler here).
            "test.output": failure.output, "test.exit_code": failure.exit_code,
            "test.attempt": failure.attempt,
            "CAPTURED_OUTPUT": failure.output}


def prepare(params: NodeParams, ctx: Context) -> Prepared:
    return Prepared({"variables": error_variables(ctx.failure) if ctx.failure else {}})


def run(task: Task) -> NodeResult:
    return NodeResult(ok=True, variables=task.inputs["variables"], started_at=time.time())


OP = Op(prepare=prepare, run=run, inline=True, checkpointed=False)
