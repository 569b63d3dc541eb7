"""`write_file:` nodes: render path and content, write atomically under the working dir.

The path must stay inside the working directory (resolved at run time, symlinks included);
`format: json` re-emits the content as 2-space JSON (invalid JSON fails the step), `yaml`
re-emits YAML; `mode` is octal text; `create_dirs` creates missing parents.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from prodigy.runtime.nodes import NodeParams, WriteFileParams
from prodigy.runtime.ops.base import Context, NodeResult, Op, Prepared, Task, resolve_dir
from prodigy.runtime.ops.render import render, render_optional
from prodigy.runtime.store import atomic_write


def prepare(params: NodeParams, ctx: Context) -> Prepared:
    assert isinstance(params, WriteFileParams)
    cwd = resolve_dir(ctx.cwd, render_optional(params.working_dir, ctx.scope))
    inputs = {"path": render(params.path, ctx.scope), "content": render(params.content, ctx.scope),
              "format": params.format, "mode": params.mode, "create_dirs": params.create_dirs}
    return Prepared(inputs, {}, str(cwd))


def run(task: Task) -> NodeResult:
    started = time.time()
    inputs = task.inputs
    result, message = _write(Path(task.cwd), inputs)
    line = message + "\n"
    log = Path(task.log_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(task.masker.mask(line))
    return NodeResult(ok=result, exit_code=0 if result else 1, duration=time.time() - started,
                      message="" if result else message, output=task.masker.mask(line),
                      variables={"write_file.output": message} if result else {},
                      started_at=started)


def _write(root: Path, inputs: dict[str, Any]) -> tuple[bool, str]:
    rel = inputs["path"]
    if not rel or "\0" in rel or Path(rel).is_absolute():
        return False, f"write_file: path {rel!r} must be relative to the working directory"
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()):
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


OP = Op(prepare=prepare, run=run)
