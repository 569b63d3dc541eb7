"""What every command-running node shares: rendering its step params, and turning the finished
process into a NodeResult with the variables it publishes.

Published (plan.py's StepParams list; later nodes reach them by DATA edges):
- `<kind>.output` (stdout; its last 64 KiB unless captured), `<kind>.stderr` (tail),
  `<kind>.exit_code`, `<kind>.success`; and `<step_id>.output` when the step has an `id:`.
- `capture: NAME`: `NAME` is the typed value (capture_format string | json | lines | number |
  boolean) plus, per `capture_streams`, `NAME.stderr`, `NAME.exit_code`, `NAME.success`,
  `NAME.duration`; and `CAPTURED_OUTPUT`. A value that does not parse fails the step, except
  boolean, which falls back to the command's success (as upstream).
- `<step_id>.<name>` for each of `outputs` (the files matching its glob, as a list).
- each `extract` variable, cut out of the output after the step succeeded.
`commit_required` fails a successful step that did not move git HEAD in its directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from prodigy.runtime.expr import select_json_path
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
    if params.clear_env:
        overlay = {**step_env, "PRODIGY_AUTOMATION": "true", "PRODIGY_RUN_ID": ctx.run_id}
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
    return Prepared(inputs, overlay, str(cwd))


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


def git_head(cwd: str) -> str | None:
    proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    return proc.stdout.strip() if proc.returncode == 0 else None


def finish(task: Task, proc: ProcessResult, kind: str, started_at: float,
           head_before: str | None = None) -> NodeResult:
    inputs = task.inputs
    exit_code = -1 if proc.timed_out else proc.exit_code
    ok, message = exit_code == 0 and not proc.error, _message(proc, inputs.get("timeout"))
    out = {f"{kind}.output": proc.stdout, f"{kind}.stderr": proc.stderr,
           f"{kind}.exit_code": exit_code, f"{kind}.success": exit_code == 0}
    if inputs.get("step_id"):
        out[f"{inputs['step_id']}.output"] = proc.stdout
    name = inputs.get("capture")
    if name:
        value, problem = parse_capture(proc.stdout, inputs.get("capture_format", "string"), ok)
        if problem and ok:
            ok, message = False, f"capture {name!r}: {problem}"
        streams = {**DEFAULT_STREAMS, **(inputs.get("capture_streams") or {})}
        parts = {"": value, ".stderr": proc.stderr, ".exit_code": exit_code,
                 ".success": exit_code == 0, ".duration": round(proc.duration, 3)}
        for stream, suffix in (("stdout", ""), ("stderr", ".stderr"), ("exit_code", ".exit_code"),
                               ("success", ".success"), ("duration", ".duration")):
            if streams[stream] and not (suffix == "" and problem):
                out[name + suffix] = parts[suffix]
        out["CAPTURED_OUTPUT"] = proc.stdout
    if ok and inputs.get("commit_required"):
        head = git_head(task.cwd)
        if head is None:
            ok, message = False, "commit_required: the working directory is not a git repository"
        elif head == head_before:
            ok, message = False, f"step {task.label!r} has commit_required but created no commits"
    if ok:
        ok, message = _outputs(task, proc, out)
    return NodeResult(ok=ok, exit_code=exit_code, duration=proc.duration, message=message,
                      output=proc.output, variables=out, timed_out=proc.timed_out,
                      started_at=started_at)


def _message(proc: ProcessResult, timeout: float | None) -> str:
    if proc.error:
        return proc.error
    if proc.timed_out:
        return f"timed out after {timeout:.3g} seconds"
    if proc.exit_code > 0:
        return f"exit code {proc.exit_code}"
    return f"killed by signal {-proc.exit_code}" if proc.exit_code < 0 else ""


def _outputs(task: Task, proc: ProcessResult, out: dict[str, Any]) -> tuple[bool, str]:
    """output_file, `outputs` globs and `extract` variables, after a successful command."""
    inputs = task.inputs
    if not (inputs.get("output_file") or inputs.get("outputs") or inputs.get("extract")):
        return True, ""
    cwd = Path(task.cwd)
    if inputs.get("output_file"):
        target = cwd / inputs["output_file"]
        try:
            atomic_write(target, proc.stdout)
        except OSError as exc:
            return False, f"output_file {target}: {exc.strerror or exc}"
    for name, pattern in (inputs.get("outputs") or {}).items():
        out[f"{inputs.get('step_id') or name}.{name}"] = sorted(
            str(p.relative_to(cwd)) for p in cwd.glob(pattern))
    for name, spec in (inputs.get("extract") or {}).items():
        value, problem = extract(spec, proc)
        if problem:
            return False, f"capture_outputs {name!r}: {problem}"
        out[name] = value
    return True, ""


def extract(spec: dict[str, Any], proc: ProcessResult) -> tuple[Any, str]:
    """One setup `capture_outputs` variable: source, regex or JSONPath, size, line handling."""
    source = spec.get("source", "stdout")
    text = {"stdout": proc.stdout, "stderr": proc.stderr,
            "both": proc.stdout + proc.stderr}.get(source, proc.output)
    value: Any = text
    if spec.get("pattern"):
        match = re.search(spec["pattern"], text, re.MULTILINE)
        value = (match.group(1) if match and match.groups() else match.group(0)) if match else None
    elif spec.get("json_path"):
        try:
            found = select_json_path(json.loads(text), spec["json_path"])
        except json.JSONDecodeError:
            return None, "output is not JSON"
        value = found[0] if len(found) == 1 else (found or None)
    if value is None:
        if spec.get("default") is None:
            return None, "no match and no default"
        value = spec["default"]
    if isinstance(value, str):
        lines = value.splitlines()
        mode = spec.get("multiline", "preserve")
        if mode == "join":
            value = " ".join(lines)
        elif mode == "first_line":
            value = lines[0] if lines else ""
        elif mode == "last_line":
            value = lines[-1] if lines else ""
        elif mode == "array":
            value = lines
        if isinstance(value, str) and spec.get("max_size"):
            value = value[: int(spec["max_size"])]
    return value, ""


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
        for convert in (int, float):
            try:
                return convert(stripped), ""
            except ValueError:
                pass
        return None, f"stdout is not a number: {stripped[:60]!r}"
    if fmt == "boolean":
        word = text.strip().lower()
        return (word == "true") if word in ("true", "false") else success, ""
    return text, ""
