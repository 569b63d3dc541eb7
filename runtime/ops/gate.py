"""`gate` nodes: a `when:` condition, evaluated by the driver itself.

Like every control kind (gate, handler, barrier) it runs no command and only reads the scope,
so it is `inline` and not checkpointed: a resume recomputes it from the restored variables.
Its rendered input still feeds the keys of the nodes after it, so a gate that flips changes
the keys downstream.
"""

from __future__ import annotations

import time

from prodigy.runtime.nodes import GateParams, NodeParams
from prodigy.runtime.ops.base import Context, NodeResult, Op, Prepared, Task
from prodigy.runtime.ops.render import test


def prepare(params: NodeParams, ctx: Context) -> Prepared:
    assert isinstance(params, GateParams)
    return Prepared({"open": test(params.when, ctx.scope)})


def run(task: Task) -> NodeResult:
    return NodeResult(ok=True, gate=bool(task.inputs["open"]), started_at=time.time())


OP = Op(prepare=prepare, run=run, inline=True, checkpointed=False)
