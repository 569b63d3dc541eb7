"""Control kinds the driver evaluates itself: `gate`, `handler`, `barrier`.

They run no command and only read the scope, so they are `inline` and not checkpointed; a
resume recomputes them from the restored variables. Their rendered inputs still feed the keys
of the nodes after them, so a gate that flips or a different failure being handled changes
the keys downstream.
"""

from __future__ import annotations

import time
from typing import Any

from prodigy.runtime.nodes import GateParams, NodeParams
from prodigy.runtime.ops.base import Context, Failure, NodeResult, Op, Prepared, Task
from prodigy.runtime.ops.render import test


def prepare_gate(params: NodeParams, ctx: Context) -> Prepared:
    assert isinstance(params, GateParams)
    return Prepared({"open": test(params.when, ctx.scope)})


def run_gate(task: Task) -> NodeResult:
    return NodeResult(ok=True, gate=bool(task.inputs["open"]), started_at=time.time())


def error_variables(failure: Failure) -> dict[str, Any]:
    """A handler body's view of the failure: `${error.*}` and the failed node's output as
    `${shell.output}` / `${claude.output}` (and CAPTURED_OUTPUT)."""
    error = {"message": failure.message, "exit_code": failure.exit_code,
             "step": failure.label, "node": failure.node_id, "attempt": failure.attempt}
    return {"error": error, "error.message": failure.message,
            "error.exit_code": failure.exit_code, "error.step": failure.label,
            "error.attempt": failure.attempt, f"{failure.kind}.output": failure.output,
            "CAPTURED_OUTPUT": failure.output}


def prepare_handler(params: NodeParams, ctx: Context) -> Prepared:
    # The attempt number is part of the inputs, so each handler cycle has its own keys.
    return Prepared({"variables": error_variables(ctx.failure) if ctx.failure else {}})


def run_handler(task: Task) -> NodeResult:
    return NodeResult(ok=True, variables=task.inputs["variables"], started_at=time.time())


def prepare_barrier(params: NodeParams, ctx: Context) -> Prepared:
    return Prepared({})


def run_barrier(task: Task) -> NodeResult:
    return NodeResult(ok=True, started_at=time.time())


GATE = Op(prepare=prepare_gate, run=run_gate, inline=True, checkpointed=False)
HANDLER = Op(prepare=prepare_handler, run=run_handler, inline=True, checkpointed=False)
BARRIER = Op(prepare=prepare_barrier, run=run_barrier, inline=True, checkpointed=False)
