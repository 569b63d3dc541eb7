"""`validate` nodes: a loop kind (`base.loop_op`); the loop is `loops/refine.py`.

`prepare` renders the result file the measurement is read from."""

from __future__ import annotations

from prodigy.runtime.nodes import NodeParams, ValidateParams
from prodigy.runtime.ops.base import Context, Prepared, loop_op
from prodigy.runtime.ops.render import render_optional


def prepare(params: NodeParams, ctx: Context) -> Prepared:
    assert isinstance(params, ValidateParams)
    inputs = {"result_file": render_optional(params.result_file, ctx.scope)}
    return Prepared(inputs, {}, str(ctx.cwd))


OP = loop_op(prepare)
