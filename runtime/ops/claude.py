"""`claude:` nodes in their simplest honest form: one non-interactive Claude Code call.

argv is `$PRODIGY_CLAUDE_BIN` (default `claude`, split like a shell word list so a wrapper such
as `python fake_claude.py` works) plus `--print --dangerously-skip-permissions <prompt>`, the
interpolated prompt as ONE argument. stdout is `${claude.output}`; a non-zero exit is a failed
result, so on_failure handlers and retries see it like any other failure.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Any

from prodigy.runtime.executors.process import run_command
from prodigy.runtime.nodes import ClaudeParams
from prodigy.runtime.ops.base import Context, Task
from prodigy.runtime.ops.capture import Outcome
from prodigy.runtime.ops.render import render
from prodigy.runtime.ops.step import process_env, step_op

FLAGS = ("--print", "--dangerously-skip-permissions")


def claude_argv(prompt: str) -> list[str]:
    binary = os.environ.get("PRODIGY_CLAUDE_BIN") or "claude"
    return [*shlex.split(binary), *FLAGS, prompt]


def prepare(params: ClaudeParams, ctx: Context) -> dict[str, Any]:
    prompt = render(params.prompt, ctx.scope)
    return {"prompt": prompt, "argv": claude_argv(prompt)}


def run(task: Task) -> Outcome:
    started_at = time.time()
    header = f"$ claude {task.inputs['prompt']}\n"
    # Claude's answer is the step's output: always kept whole (it is text meant to be read).
    proc = run_command(
        task.inputs["argv"], env=process_env(task), cwd=task.cwd,
        timeout=task.inputs.get("timeout"), log_path=Path(task.log_path), masker=task.masker,
        capture_stdout=True, header=header,
    )
    return Outcome.of_process(proc, started_at)


OP = step_op(prepare, run, runs_process=True, pure_prepare=True)
