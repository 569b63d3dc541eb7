"""`barrier` nodes: a join (the end of a phase or of an expanded foreach); a control kind
(see `gate.py`) that reads nothing and always succeeds."""

from __future__ import annotations

import time

from prodigy.runtime.nodes import NodeParams
from prodigy.runtime.ops.base import Context, NodeResult, Op, Prepared, Task


def prepare(params: NodeParams, ctx: Context) -> Prepared:
    return Prepared({})


def run(task: Task) -> NodeResult:
    return NodeResult(ok=True, started_at=time.time())


OP = Op(prepare=prepare, run=run, inline=True, checkpointed=False)
