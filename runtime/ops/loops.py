"""Ops of the loop kinds: `map`, `foreach`, `validate`, `goal_seek`.

`prepare` renders what the loop itself reads (the map input, the foreach command, the result
file, the scoring command), which goes into the node's checkpoint key; the driver adds the
digests of the node's sub-plans, so editing a body changes the key too. The loop objects are
driver-side (`runtime/loops/`, which picks the class by kind: `LOOPS`); these ops only say
that their node is a loop (`Op.loop`): ops must not import the driver.
"""

from __future__ import annotations

from typing import Any

from prodigy.runtime.nodes import (
    ForeachParams,
    GoalSeekParams,
    MapParams,
    NodeParams,
    ValidateParams,
    thaw,
)
from prodigy.runtime.ops.base import Context, NodeResult, Op, Prepared, Task, resolve_dir
from prodigy.runtime.ops.render import render, render_optional


def prepare_map(params: NodeParams, ctx: Context) -> Prepared:
    assert isinstance(params, MapParams)
    inputs = {"input": render(params.input, ctx.scope).strip(),
              "filter": thaw(params.filter), "sort": thaw(params.sort)}
    return Prepared(inputs, {}, str(ctx.cwd))


def prepare_foreach(params: NodeParams, ctx: Context) -> Prepared:
    assert isinstance(params, ForeachParams)
    inputs: dict[str, Any] = {"command": render_optional(params.command, ctx.scope),
                              "items": thaw(params.items)}
    return Prepared(inputs, {}, str(ctx.cwd))


def prepare_validate(params: NodeParams, ctx: Context) -> Prepared:
    assert isinstance(params, ValidateParams)
    inputs = {"result_file": render_optional(params.result_file, ctx.scope)}
    return Prepared(inputs, {}, str(ctx.cwd))


def prepare_goal_seek(params: NodeParams, ctx: Context) -> Prepared:
    assert isinstance(params, GoalSeekParams)
    return Prepared({"validate": render(params.validate, ctx.scope)}, {},
                    str(resolve_dir(ctx.cwd, None)))


def not_a_task(task: Task) -> NodeResult:
    # Loop nodes never reach an executor; reaching this is a driver bug, reported as a failure.
    return NodeResult(ok=False, message=f"{task.kind} nodes are run by the driver, not as tasks")


MAP = Op(prepare=prepare_map, run=not_a_task, loop=True)
FOREACH = Op(prepare=prepare_foreach, run=not_a_task, loop=True)
VALIDATE = Op(prepare=prepare_validate, run=not_a_task, loop=True)
GOAL_SEEK = Op(prepare=prepare_goal_seek, run=not_a_task, loop=True)
