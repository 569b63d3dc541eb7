"""`write_file:` nodes: render path and content, write atomically under the working dir.

The path must stay inside the working directory (resolved at run time, symlinks included),
unless the step sets `allow_outside: true`;
`format: json` re-emits the content as 2-space JSON (invalid JSON fails the step), `yaml`
re-emits YAML; `mode` is octal text; `create_dirs` creates missing parents.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from prodigy.runtime.nodes import WriteFileParams
from prodigy.runtime.ops.base import Context, Task
from prodigy.runtime.ops.capture import Outcome
from prodigy.runtime.ops.render import render
from prodigy.runtime.ops.step import step_op
from prodigy.runtime.store import atomic_write


def prepare(params: WriteFileParams, ctx: Context) -> dict[str, Any]:
    return {"path": render(params.path, ctx.scope), "content": render(params.content, ctx.scope),
            "format": params.format, "mode": params.mode, "create_dirs": params.create_dirs}


def run(task: Task) -> Outcome:
    """Its stdout (`${write_file.output}`, what a `capture:` reads) is the one-line report."""
    started = time.time()
    written, message = _write(Path(task.cwd), task.inputs)
    line = task.masker.mask(message + "\n")
    log = Path(task.log_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(line)
    return Outcome(0 if written else 1, time.time() - started, started,
                   stdout=message if written else "", stderr="" if written else message,
                   output=line, error="" if written else message)


def _write(root: Path, inputs: dict[str, Any]) -> tuple[bool, str]:
    rel = inputs["path"]
    if "\0" in rel:  # (no file can be named by it: resolving it would raise)
        return False, f"write_file: path {rel!r} holds a NUL character"
    # `allow_outside: true` on the step is the explicit opt-out (validate reports it, P604).
    free = bool(inputs.get("allow_outside"))
    if not rel or (Path(rel).is_absolute() and not free):
        return False, f"write_file: path {rel!r} must be relative to the working directory"
    target = (root / rel).resolve()
    if not free and not target.is_relative_to(root.resolve()):
        return False, f"write_file: path {rel!r} escapes the working directory (traversal)"
    content = inputs["content"]
    fmt = inputs["format"]
    if fmt == "json":
        try:
            content = json.dumps(json.loads(content), indent=2, ensure_ascii=False) + "\n"
        except json.JSONDecodeError as exc:
            return False, f"write_file: Invalid JSON content ({exc.msg} at line {exc.lineno})"
    elif fmt == "yaml":
        import yaml

        try:
            content = yaml.safe_dump(yaml.safe_load(content), sort_keys=False)
        except yaml.YAMLError as exc:
            return False, f"write_file: Invalid YAML content ({exc})"
    if not target.parent.is_dir() and not inputs["create_dirs"]:
        return False, f"write_file: directory {target.parent} does not exist (set create_dirs)"
    try:
        mode = int(str(inputs["mode"]), 8)
    except ValueError:
        return False, f"write_file: mode {inputs['mode']!r} is not octal"
    data = content.encode()
    try:
        atomic_write(target, data, mode=mode)
    except OSError as exc:
        return False, f"write_file: {target}: {exc.strerror or exc}"
    return True, f"Wrote {len(data)} bytes to {rel}"


OP = step_op(prepare, run)
