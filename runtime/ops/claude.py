"""`claude:` nodes: one non-interactive Claude Code session, read as it streams.

argv is `$PRODIGY_CLAUDE_BIN` (default `claude`, split like a shell word list so a wrapper such
as `python fake_claude.py` works), then `-p --output-format stream-json --verbose`, the
permission mode (`bypassPermissions` unless the step says otherwise, as upstream), the step's
model, turn limit, tool lists and appended system prompt, and last the interpolated prompt as
ONE argument. It runs in the step's directory (the worktree) with `PRODIGY_AUTOMATION=true`.

stdout is the session's transcript: it goes, masked, to `logs/NODE.jsonl` as it arrives (the
driver follows that file for the live display, `prodigy logs` reads it), and is parsed when the
session ends (`claude_stream.py`). The step fails, with the CLI's own words as its message
(`${error.message}`), when the result says `is_error` or an error subtype, when there is no
result, or when the exit code is not 0 (the result decides, whatever the exit code: versions
of the CLI differ on it, one exits 0 when not logged in, another 1).
`${claude.output}` (and a capture) is the final result text; `claude.session_id`,
`claude.cost_usd`, `claude.turns`, `claude.model` and `claude.tokens` are bound too.
"""

from __future__ import annotations

import os
import shlex
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from prodigy.runtime.executors.process import run_command
from prodigy.runtime.nodes import ClaudeParams
from prodigy.runtime.ops.base import Context, Task
from prodigy.runtime.ops.capture import Outcome
from prodigy.runtime.ops.claude_stream import parse
from prodigy.runtime.ops.render import render, render_optional
from prodigy.runtime.ops.step import process_env, step_op

STREAM_FLAGS = ("-p", "--output-format", "stream-json", "--verbose")
# What the CLI prints when it refuses to skip permission prompts as root, and what to do.
_ROOT_REFUSAL = "cannot be used with root/sudo privileges"
_ROOT_HINT = ("the Claude CLI refuses permission_mode bypassPermissions when run as root: set "
              "IS_SANDBOX=1 in the environment if this is a sandbox (a container, a CI "
              "runner), or choose permission_mode: acceptEdits")


def claude_argv(prompt: str, params: ClaudeParams | None, system: str | None) -> list[str]:
    """The CLI's argv; `params` None takes every option's default (a verify check)."""
    binary = os.environ.get("PRODIGY_CLAUDE_BIN") or "claude"
    argv = [*shlex.split(binary), *STREAM_FLAGS,
            "--permission-mode", getattr(params, "permission_mode", "bypassPermissions")]
    model = getattr(params, "model", None)
    if model:
        argv += ["--model", model]
    turns = getattr(params, "max_turns", None)
    if turns:
        argv += ["--max-turns", str(turns)]
    for flag, tools in (("--allowedTools", getattr(params, "allowed_tools", ())),
                        ("--disallowedTools", getattr(params, "disallowed_tools", ()))):
        if tools:
            argv += [flag, ",".join(tools)]
    if system:
        argv += ["--append-system-prompt", system]
    return [*argv, prompt]


def prepare(params: ClaudeParams, ctx: Context) -> dict[str, Any]:
    prompt = render(params.prompt, ctx.scope)
    system = render_optional(getattr(params, "append_system_prompt", None), ctx.scope)
    return {"prompt": prompt, "argv": claude_argv(prompt, params, system)}


def transcript_path(log_path: str) -> Path:
    """`logs/NODE.jsonl` beside the node's `logs/NODE.log`."""
    return Path(log_path).with_suffix(".jsonl")


def run(task: Task) -> Outcome:
    started_at = time.time()
    transcript = transcript_path(task.log_path)
    header = f"$ claude {task.inputs['prompt']}\n(transcript: {transcript})\n"
    # The CLI runs its Bash tools in sessions of their own: a per-task tag finds them when a
    # timeout has to stop the session; SIGINT first lets the CLI stop them and report.
    tag = ("PRODIGY_TASK_TAG", uuid.uuid4().hex)
    proc = run_command(
        task.inputs["argv"], env={**process_env(task), tag[0]: tag[1]}, cwd=task.cwd,
        timeout=task.inputs.get("timeout"), log_path=Path(task.log_path), masker=task.masker,
        capture_stdout=True, split_streams=True, header=header, stdout_path=transcript,
        stop_signal=signal.SIGINT, strays=tag,
    )
    summary = parse(proc.stdout)
    failure = "" if proc.timed_out or proc.error else summary.failure(proc.exit_code)
    if _ROOT_REFUSAL in proc.stderr or _ROOT_REFUSAL in summary.result:
        failure = _ROOT_HINT
    exit_code = -1 if proc.timed_out else proc.exit_code or (1 if failure else 0)
    usage = {**summary.usage(), "transcript": str(transcript)}
    variables = {"claude.session_id": summary.session_id, "claude.turns": summary.turns,
                 "claude.cost_usd": summary.cost_usd, "claude.model": summary.model,
                 "claude.tokens": dict(summary.tokens)}
    # What the terminal shows under the step: the result on success; on a failure its message
    # already holds the CLI's words, so the output adds only what the CLI printed on stderr.
    output = summary.result if summary.has_result and not failure else proc.stderr
    return Outcome(exit_code, proc.duration, started_at, stdout=summary.result,
                   stderr=proc.stderr, output=output, timed_out=proc.timed_out,
                   error=proc.error or failure, variables=variables, usage=usage)


OP = step_op(prepare, run, runs_process=True, pure_prepare=True)
