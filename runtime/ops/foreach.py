"""`foreach` nodes: a loop kind (`base.loop_op`); the loop is `loops/foreach.py`.

`prepare` renders where the items come from (the literal items or the command)."""

from __future__ import annotations

from typing import Any

from prodigy.runtime.nodes import ForeachParams, NodeParams, thaw
from prodigy.runtime.ops.base import Context, Prepared, loop_op
from prodigy.runtime.ops.render import render_optional


def prepare(params: NodeParams, ctx: Context) -> Prepared:
    assert isinstance(params, ForeachParams)
    inputs: dict[str, Any] = {"command": render_optional(params.command, ctx.scope),
                              "items": thaw(params.items)}
    return Prepared(inputs, {}, str(ctx.cwd))


OP = loop_op(prepare)
