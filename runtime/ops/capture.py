"""The publish step: a step's `Outcome` becomes its NodeResult, with the variables it publishes.

Applied to every step kind by `step.step_op` (later nodes reach what it publishes by DATA
edges):
- `<kind>.output` (stdout; its last 64 KiB unless captured), `<kind>.stderr` (tail),
  `<kind>.exit_code`, `<kind>.success`; and `<step_id>.output` when the step has an `id:`.
- `capture: NAME`: `NAME` is the typed value (capture_format string | json | lines | number |
  boolean; or the value the op gives, such as analyze's result object) plus, per
  `capture_streams`, `NAME.stderr`, `NAME.exit_code`, `NAME.success`, `NAME.duration`; and
  `CAPTURED_OUTPUT`. A value that does not parse fails the step, except boolean, which falls
  back to the command's success (as upstream).
- `<step_id>.<name>` for each of `outputs` (the files matching its glob, as a list).
- each `extract` variable, cut out of the output after the step succeeded.
`commit_required` fails a successful step that did not move git HEAD in its directory.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy.runtime.executors.process import ProcessResult
from prodigy.runtime.expr import select_json_path
from prodigy.runtime.ops.base import NodeResult, Task
from prodigy.runtime.store import atomic_write

DEFAULT_STREAMS = {"stdout": True, "stderr": False, "exit_code": True, "success": True,
                   "duration": True}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a step's own work produced, before the shared options are applied."""

    exit_code: int  # negative: killed by that signal; -1 with timed_out
    duration: float
    started_at: float
    stdout: str = ""  # what `capture:` and `output_file:` read
    stderr: str = ""
    output: str = ""  # masked tail of all it printed: the terminal, handlers' `${error.output}`
    timed_out: bool = False
    error: str = ""  # why it failed when the exit code does not say (could not start, ...)
    variables: dict[str, Any] = field(default_factory=dict)  # variables of its own
    value: Any = None  # the typed value a `capture:` stores, when it is not parsed stdout
    usage: dict[str, Any] | None = None  # an agent's cost, tokens, turns (claude)

    @classmethod
    def of_process(cls, proc: ProcessResult, started_at: float) -> Outcome:
        return cls(-1 if proc.timed_out else proc.exit_code, proc.duration, started_at,
                   proc.stdout, proc.stderr, proc.output, proc.timed_out, proc.error)


def git_head(cwd: str) -> str | None:
    proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    return proc.stdout.strip() if proc.returncode == 0 else None


_KEYS: dict[str, tuple[str, str, str, str]] = {}


def _keys(kind: str) -> tuple[str, str, str, str]:
    """`<kind>.output`, `.stderr`, `.exit_code`, `.success`: made once a kind, not once a node
    (a run keeps every node's variables: 100,000 copies would hold 400,000 equal strings)."""
    keys = _KEYS.get(kind)
    if keys is None:
        keys = _KEYS[kind] = (f"{kind}.output", f"{kind}.stderr", f"{kind}.exit_code",
                              f"{kind}.success")
    return keys


def publish(task: Task, outcome: Outcome, head_before: str | None = None) -> NodeResult:
    inputs, kind = task.inputs, task.kind
    exit_code = outcome.exit_code
    ok, message = exit_code == 0 and not outcome.error, _message(outcome, inputs.get("timeout"))
    output, stderr, code, success = _keys(kind)
    out = {output: outcome.stdout, stderr: outcome.stderr, code: exit_code,
           success: exit_code == 0, **outcome.variables}
    if inputs.get("step_id"):
        out[f"{inputs['step_id']}.output"] = outcome.stdout
    name = inputs.get("capture")
    if name:
        value, problem = ((outcome.value, "") if outcome.value is not None else
                          parse_capture(outcome.stdout, inputs.get("capture_format", "string"),
                                        ok))
        if problem and ok:
            ok, message = False, f"capture {name!r}: {problem}"
        streams = {**DEFAULT_STREAMS, **(inputs.get("capture_streams") or {})}
        parts = {"": value, ".stderr": outcome.stderr, ".exit_code": exit_code,
                 ".success": exit_code == 0, ".duration": round(outcome.duration, 3)}
        for stream, suffix in (("stdout", ""), ("stderr", ".stderr"), ("exit_code", ".exit_code"),
                               ("success", ".success"), ("duration", ".duration")):
            if streams[stream] and not (suffix == "" and problem):
                out[name + suffix] = parts[suffix]
        out["CAPTURED_OUTPUT"] = outcome.stdout
    if ok and inputs.get("commit_required"):
        head = git_head(task.cwd)
        if head is None:
            ok, message = False, "commit_required: the working directory is not a git repository"
        elif head == head_before:
            ok, message = False, f"step {task.label!r} has commit_required but created no commits"
    if ok:
        ok, message = _outputs(task, outcome, out)
    return NodeResult(ok=ok, exit_code=exit_code, duration=outcome.duration, message=message,
                      output=outcome.output, variables=out, timed_out=outcome.timed_out,
                      started_at=outcome.started_at, usage=outcome.usage)

def _message(outcome: Outcome, timeout: float | None) -> str:
    if outcome.error:
        return outcome.error
    if outcome.timed_out:
        return f"timed out after {timeout:.3g} seconds"
    if outcome.exit_code > 0:
        return f"exit code {outcome.exit_code}"
    return f"killed by signal {-outcome.exit_code}" if outcome.exit_code < 0 else ""


def _outputs(task: Task, outcome: Outcome, out: dict[str, Any]) -> tuple[bool, str]:
    """output_file, `outputs` globs and `extract` variables, after a successful command."""
    inputs = task.inputs
    if not (inputs.get("output_file") or inputs.get("outputs") or inputs.get("extract")):
        return True, ""
    cwd = Path(task.cwd)
    if inputs.get("output_file"):
        target = cwd / inputs["output_file"]
        try:
            atomic_write(target, outcome.stdout)
        except OSError as exc:
            return False, f"output_file {target}: {exc.strerror or exc}"
    for name, pattern in (inputs.get("outputs") or {}).items():
        out[f"{inputs.get('step_id') or name}.{name}"] = sorted(
            str(p.relative_to(cwd)) for p in cwd.glob(pattern))
    for name, spec in (inputs.get("extract") or {}).items():
        value, problem = extract(spec, outcome)
        if problem:
            return False, f"capture_outputs {name!r}: {problem}"
        out[name] = value
    return True, ""


def extract(spec: dict[str, Any], outcome: Outcome) -> tuple[Any, str]:
    """One setup `capture_outputs` variable: source, regex or JSONPath, size, line handling."""
    source = spec.get("source", "stdout")
    text = {"stdout": outcome.stdout, "stderr": outcome.stderr,
            "both": outcome.stdout + outcome.stderr}.get(source, outcome.output)
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
    # `string` drops trailing newlines as shell `$(...)` does (`echo abc` captures `abc`);
    # `raw` keeps stdout as printed.
    return (text if fmt == "raw" else text.rstrip("\n")), ""
