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

from prodigy.runtime.nodes import ClaudeParams, NodeParams
from prodigy.runtime.ops.base import Context, NodeResult, Op, Prepared, Task
from prodigy.runtime.ops.capture import finish, git_head, prepare_step, process_env
from prodigy.runtime.ops.render import render
from prodigy.runtime.process import run_command

FLAGS = ("--print", "--dangerously-skip-permissions")


def claude_argv(prompt: str) -> list[str]:
    binary = os.environ.get("PRODIGY_CLAUDE_BIN") or "claude"
    return [*shlex.split(binary), *FLAGS, prompt]


def prepare(params: NodeParams, ctx: Context) -> Prepared:
    assert isinstance(params, ClaudeParams)
    prompt = render(params.prompt, ctx.scope)
    return prepare_step(params, ctx, {"prompt": prompt, "argv": claude_argv(prompt)})


def run(task: Task) -> NodeResult:
    started_at = time.time()
    argv = task.inputs["argv"]
    header = f"$ claude {task.inputs['prompt']}\n"
    head = git_head(task.cwd) if task.inputs.get("commit_required") else None
    # Claude's answer is the step's output: always kept whole (it is text meant to be read).
    proc = run_command(
        argv, env=process_env(task), cwd=task.cwd, timeout=task.inputs.get("timeout"),
        log_path=Path(task.log_path), masker=task.masker, capture_stdout=True, header=header,
    )
    return finish(task, proc, "claude", started_at, head)


OP = Op(prepare=prepare, run=run, pure_prepare=True)
