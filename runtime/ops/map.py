"""`map` nodes: the map phase, a loop kind (`base.loop_op`); the loop is `loops/map.py`.

`prepare` renders what selects the work items (the input, the filter, the sort)."""

from __future__ import annotations

from prodigy.runtime.nodes import MapParams, NodeParams, thaw
from prodigy.runtime.ops.base import Context, Prepared, loop_op
from prodigy.runtime.ops.render import render


def prepare(params: NodeParams, ctx: Context) -> Prepared:
    assert isinstance(params, MapParams)
    inputs = {"input": render(params.input, ctx.scope).strip(),
              "filter": thaw(params.filter), "sort": thaw(params.sort)}
    return Prepared(inputs, {}, str(ctx.cwd))


OP = loop_op(prepare)
