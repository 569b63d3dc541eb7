"""What every command-running node shares: rendering its step params, and turning the finished
process into a NodeResult with typed captures and `output_file`.

Captured variables, for `capture: NAME` (the compiler also lowers `capture_output`):
`NAME` holds the typed value (capture_format string | json | lines | number | boolean), and,
per `capture_streams`, `NAME.stderr`, `NAME.exit_code`, `NAME.success`, `NAME.duration`. A
capturing node also sets `<kind>.output` (`shell.output`, `claude.output`) and `CAPTURED_OUTPUT`
to its raw stdout. A value that does not parse as its format fails the step, except boolean,
which falls back to the command's success (upstream behaviour).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from prodigy.runtime.nodes import StepParams
from prodigy.runtime.ops.base import Context, NodeResult, Prepared, Task, resolve_dir
from prodigy.runtime.ops.render import render, render_optional
from prodigy.runtime.process import ProcessResult
from prodigy.runtime.store import atomic_write

DEFAULT_STREAMS = {"stdout": True, "stderr": False, "exit_code": True, "success": True,
                   "duration": True}


def prepare_step(params: StepParams, ctx: Context, inputs: dict[str, Any]) -> Prepared:
    """Render the policy every step carries; `inputs` holds the kind's own rendered params."""
    cwd = resolve_dir(ctx.cwd, render_optional(params.working_dir, ctx.scope))
    step_env = {name: render(value, ctx.scope) for name, value in params.env.items()}
    overlay = ctx.env.step_overlay(step_env, ctx.variables, ctx.scope.get("item"))
    inputs.update({
        "cwd": str(cwd),
        "timeout": params.timeout_s,
        "capture": params.capture,
        "capture_format": params.capture_format,
        "capture_streams": dict(params.capture_streams),
        "output_file": render_optional(params.output_file, ctx.scope),
        "env": ctx.env.key_view(overlay),
    })
    return Prepared(inputs, overlay, str(cwd))


def wants_stdout(task: Task) -> bool:
    return bool(task.inputs.get("capture") or task.inputs.get("output_file"))


def process_env(task: Task) -> dict[str, str]:
    return {**os.environ, **task.env}


def finish(task: Task, proc: ProcessResult, kind: str, started_at: float) -> NodeResult:
    inputs = task.inputs
    timeout = inputs.get("timeout")
    exit_code = -1 if proc.timed_out else proc.exit_code
    ok = exit_code == 0 and not proc.error
    if proc.error:
        message = proc.error
    elif proc.timed_out:
        message = f"timed out after {timeout:g} seconds"
    elif exit_code != 0:
        message = f"exit code {exit_code}" if exit_code > 0 else f"killed by signal {-exit_code}"
    else:
        message = ""
    variables: dict[str, Any] = {}
    name = inputs.get("capture")
    if name:
        value, problem = parse_capture(proc.stdout, inputs.get("capture_format", "string"), ok)
        if problem and ok:
            ok, message = False, f"capture {name!r}: {problem}"
        streams = {**DEFAULT_STREAMS, **(inputs.get("capture_streams") or {})}
        if streams["stdout"] and not problem:
            variables[name] = value
        if streams["stderr"]:
            variables[f"{name}.stderr"] = proc.stderr
        if streams["exit_code"]:
            variables[f"{name}.exit_code"] = exit_code
        if streams["success"]:
            variables[f"{name}.success"] = exit_code == 0
        if streams["duration"]:
            variables[f"{name}.duration"] = round(proc.duration, 3)
        variables[f"{kind}.output"] = proc.stdout
        variables["CAPTURED_OUTPUT"] = proc.stdout
    if ok and inputs.get("output_file"):
        target = Path(task.cwd) / inputs["output_file"]
        try:
            atomic_write(target, proc.stdout)
        except OSError as exc:
            ok, message = False, f"output_file {target}: {exc.strerror or exc}"
    return NodeResult(ok=ok, exit_code=exit_code, duration=proc.duration, message=message,
                      output=proc.output, variables=variables, timed_out=proc.timed_out,
                      started_at=started_at)


def parse_capture(text: str, fmt: str, success: bool) -> tuple[Any, str]:
    """(value, problem): the typed value of captured stdout, or why it does not parse."""
    if fmt == "json":
        try:
            return json.loads(text), ""
        except json.JSONDecodeError as exc:
            return None, f"stdout is not JSON ({exc.msg} at line {exc.lineno})"
    if fmt == "lines":
        return text.splitlines(), ""
    if fmt == "number":
        stripped = text.strip()
        try:
            return int(stripped), ""
        except ValueError:
            pass
        try:
            return float(stripped), ""
        except ValueError:
            return None, f"stdout is not a number: {stripped[:60]!r}"
    if fmt == "boolean":
        word = text.strip().lower()
        return (word == "true") if word in ("true", "false") else success, ""
    return text, ""
