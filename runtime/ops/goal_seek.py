"""`goal_seek` nodes: a loop kind (`base.loop_op`); the loop is `loops/refine.py`.

`prepare` renders the scoring command."""

from __future__ import annotations

from prodigy.runtime.nodes import GoalSeekParams, NodeParams
from prodigy.runtime.ops.base import Context, Prepared, loop_op, resolve_dir
from prodigy.runtime.ops.render import render


def prepare(params: NodeParams, ctx: Context) -> Prepared:
    assert isinstance(params, GoalSeekParams)
    return Prepared({"validate": render(params.validate, ctx.scope)}, {},
                    str(resolve_dir(ctx.cwd, None)))


OP = loop_op(prepare)
