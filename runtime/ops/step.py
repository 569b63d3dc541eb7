"""The shared step options, applied to every step node the same way, whatever its kind.

A step kind's op supplies only its own halves: `prepare` renders its own params, `run` does
its work and returns an `Outcome` (what it printed, its exit code, any variables of its own).
`step_op` wraps them with what every step shares, so no kind can forget an option:
- prepare: working_dir, env overlay (and its digest), timeout, capture spec, output_file,
  outputs, extract, commit_required, rendered into the node's inputs (its checkpoint key);
- run: the timeout, for kinds that do not start a process (which `run_command` bounds), and
  the git HEAD before the work, when the step must commit or its changes are read later;
- auto_commit (`auto_commit.py`): what a successful step left behind, committed before publish;
- publish (`capture.publish`): capture, outputs, extract, output_file, commit_required; and
  with `track_changes`, what the step changed in git as `step.*` (`git/changes.py`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from prodigy.runtime.executors.process import ProcessResult
from prodigy.runtime.git import changes
from prodigy.runtime.nodes import NodeParams, StepParams
from prodigy.runtime.ops import auto_commit
from prodigy.runtime.ops.base import Command, Context, NodeResult, Op, Prepared, Task, resolve_dir
from prodigy.runtime.ops.capture import Outcome, git_head, publish
from prodigy.runtime.ops.render import render, render_optional

OwnPrepare = Callable[[Any, Context], dict[str, Any]]


def step_op(prepare: OwnPrepare, run: Callable[[Task], Outcome], *,
            command: Callable[[Task], Command | None] | None = None,
            runs_process: bool = False, pure_prepare: bool = False) -> Op:
    """The Op of a step kind: its own halves wrapped with the shared step options.

    `runs_process`: `run` starts a process that `run_command` bounds by the timeout; other
    kinds run in the worker, so the wrapper bounds them. `command`: the node as one plain
    process (see `base.Command`), settled through the same publish step.
    """
    from_process = Outcome.of_process

    def prepare_node(params: NodeParams, ctx: Context) -> Prepared:
        assert isinstance(params, StepParams)
        return prepare_step(params, ctx, prepare(params, ctx))

    def run_node(task: Task) -> NodeResult:
        if task.inputs.get("refused"):
            return publish(task, _refused(task), None)
        tracked = task.inputs.get("track_changes")
        reads_head = task.inputs.get("commit_required") or task.inputs.get("auto_commit")
        head = git_head(task.cwd) if reads_head or tracked else None
        bounded = not runs_process and task.inputs.get("timeout") is not None
        outcome = _within(run, task, task.inputs["timeout"]) if bounded else run(task)
        # Before publish: a `commit_required` on the same step sees the commit.
        result = publish(task, auto_commit.commit(task, outcome, head), head)
        if tracked:
            found = changes.since(head, task.cwd).variables("step")
            result = replace(result, variables={**result.variables, **found})
        return result

    def as_command(task: Task) -> Command | None:
        # A tracked or auto-committing step reads git around its work, a refused one reports
        # why: only `run_node` does that.
        if command is None or task.inputs.get("track_changes") or task.inputs.get("refused") \
                or task.inputs.get("auto_commit"):
            return None
        return command(task)

    def settle(task: Task, proc: ProcessResult, started_at: float) -> NodeResult:
        return publish(task, from_process(proc, started_at))

    return Op(prepare=prepare_node, run=run_node,
              command=as_command if command is not None else None,
              settle=settle if command is not None else None, pure_prepare=pure_prepare)


def prepare_step(params: StepParams, ctx: Context, inputs: dict[str, Any]) -> Prepared:
    """Render the policy every step carries; `inputs` holds the kind's own rendered params."""
    working_dir = render_optional(params.working_dir, ctx.scope)
    # A NUL names no directory (resolving it raises), whatever `allow_outside` says; that key
    # is the step's explicit opt-out of containment (validate reports it, P604).
    refused = _nul(working_dir)
    cwd = ctx.cwd if refused else resolve_dir(ctx.cwd, working_dir)
    if not refused and not params.allow_outside:
        refused = outside(ctx.cwd, cwd, working_dir)
    if refused:  # started nowhere: the step fails, saying why (`run_node`)
        inputs["refused"] = refused
        cwd = ctx.cwd
    step_env = {name: render(value, ctx.scope) for name, value in params.env.items()}
    if params.clear_env:
        overlay = {**step_env, **ctx.env.identity()}
        digest = ctx.env.digest(overlay)
    else:
        overlay, digest = ctx.env.step_overlay(step_env, ctx.variables, ctx.scope.get("item"))
    inputs.update({
        "cwd": str(cwd), "timeout": params.timeout_s, "clear_env": params.clear_env,
        "capture": params.capture, "capture_format": params.capture_format,
        "capture_streams": dict(params.capture_streams),
        "output_file": render_optional(params.output_file, ctx.scope),
        "step_id": params.step_id, "outputs": dict(params.outputs),
        "extract": {k: dict(v) for k, v in params.extract.items()},
        "commit_required": params.commit_required,
        "env": digest,  # the rendered environment, secrets by name, as a digest
    })
    if params.track_changes:  # only when set: the other steps' checkpoint keys stay as they were
        inputs["track_changes"] = True
    if params.auto_commit:  # (the same: only when set)
        inputs["auto_commit"] = _commit_inputs(params.commit_config or {})
    if params.allow_outside:  # (the same: only when set)
        inputs["allow_outside"] = True
    return Prepared(inputs, overlay, str(cwd))


def _commit_inputs(config: Mapping[str, Any]) -> dict[str, Any]:
    """`commit_config` as `auto_commit.commit` reads it (the compiler refused `squash`)."""
    return {"message": config.get("message_template"), "pattern": config.get("message_pattern"),
            "author": config.get("author"), "sign": bool(config.get("sign")),
            "include": list(config.get("include_files") or ()),
            "exclude": list(config.get("exclude_files") or ())}


def outside(root: Path, cwd: Path, working_dir: str | None) -> str | None:
    """Why `working_dir` is refused, or None: as a `write_file` path, it must stay inside the
    run's directory (the worktree in a git repository), symlinks resolved; an absolute path
    may name a directory in there (`${WORKTREE}/sub`)."""
    if not working_dir:
        return None
    if cwd.is_relative_to(root.resolve()):
        return None
    return (f"working_dir {working_dir!r} is outside the run's directory {root} "
            "(steps may only work inside it)")


def _nul(working_dir: str | None) -> str | None:
    if working_dir is not None and "\0" in working_dir:
        return f"working_dir {working_dir!r} holds a NUL character"
    return None


def _refused(task: Task) -> Outcome:
    message = f"prodigy: {task.inputs['refused']}"
    started = time.time()
    log = Path(task.log_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(task.masker.mask(message + "\n"))
    return Outcome(1, 0.0, started, stderr=message, output=message + "\n", error=message)


def _within(run: Callable[[Task], Outcome], task: Task, limit: float) -> Outcome:
    """Run in-process work under the step's timeout. Work that overruns is reported as timed
    out and left to finish in its thread: Python cannot stop it, and an op whose last act is
    an atomic rename never leaves a half-written file either way."""
    started_at = time.time()
    done: list[Outcome] = []
    worker = threading.Thread(target=lambda: done.append(run(task)), daemon=True,
                              name=f"prodigy-{task.node_id}")
    worker.start()
    worker.join(limit)
    if done:
        return done[0]
    message = f"timed out after {limit:.3g} seconds"
    return Outcome(-1, time.time() - started_at, started_at, output=message + "\n",
                   timed_out=True, error=message)


def keep_stdout(task: Task) -> bool:
    """All of stdout is needed: a capture, an output_file or an extract reads it."""
    inputs = task.inputs
    return bool(inputs.get("capture") or inputs.get("output_file") or inputs.get("extract"))


def process_env(task: Task) -> dict[str, str]:
    """The environment the command gets: the worker's own, under the driver's overlay.
    Read afresh each time: the inline executor runs in a process whose env may change."""
    if task.inputs.get("clear_env"):
        return dict(task.env)
    return {**os.environ, **task.env}
