"""`shell:` nodes: `<shell> -c <command>` in the step's directory and environment."""

from __future__ import annotations

import os
import shutil
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from prodigy.runtime.executors.process import run_command
from prodigy.runtime.nodes import ShellParams
from prodigy.runtime.ops.base import Command, Context, Task
from prodigy.runtime.ops.capture import Outcome
from prodigy.runtime.ops.render import render
from prodigy.runtime.ops.step import keep_stdout, process_env, step_op


def prepare(params: ShellParams, ctx: Context) -> dict[str, Any]:
    return {"command": render(params.command, ctx.scope), "shell": params.shell or "sh"}


def run(task: Task) -> Outcome:
    started_at = time.time()
    proc = run_command(
        [_shell(task), "-c", task.inputs["command"]], env=process_env(task), cwd=task.cwd,
        timeout=task.inputs.get("timeout"), log_path=Path(task.log_path), masker=task.masker,
        capture_stdout=keep_stdout(task), split_streams=task.read_output, header=_header(task),
    )
    return Outcome.of_process(proc, started_at)


def command(task: Task) -> Command | None:
    """The node as one plain process, when that is all it is: `run_command`'s direct mode
    (nothing to mask, nobody reads stdout or stderr apart) and no git check around it."""
    if task.masker or keep_stdout(task) or task.read_output or task.inputs.get("commit_required"):
        return None
    return Command([task.inputs["shell"], "-c", task.inputs["command"]], task.env,
                   bool(task.inputs.get("clear_env")), task.cwd, task.log_path, _header(task),
                   task.inputs.get("timeout"))


def _header(task: Task) -> str:
    if task.attempt > 1:
        return f"\n$ {task.inputs['command']}   # attempt {task.attempt}\n"
    return f"$ {task.inputs['command']}\n"


def _shell(task: Task) -> str:
    shell: str = task.inputs["shell"]
    if "PATH" in task.env:  # the step's own PATH decides; let Popen search it
        return shell
    return _resolve(shell, os.environ.get("PATH", ""))


@lru_cache(maxsize=16)
def _resolve(shell: str, path: str) -> str:
    # An absolute path spares Popen its PATH walk on every one of thousands of nodes.
    return shutil.which(shell, path=path) or shell


OP = step_op(prepare, run, command=command, runs_process=True, pure_prepare=True)
