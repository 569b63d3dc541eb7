"""Variables the frame binds around each step, beyond what the step's op publishes.

- `${step.name}` (the step's label, as the terminal shows it) and `${step.index}` (its 0-based
  position in its list of steps), bound into the scope of a node whose params read them. They
  share the `step` root with the git change values (`${step.files_changed}`, `git/changes.py`),
  which are flat keys of their own.
- `${last.output}`, `${last.exit_code}`, `${last.success}`: the step that ran just before,
  whatever its kind, published by every step next to `<kind>.*` (the compiler draws the DATA
  edge from that step, so its output is kept).
- `${ID.exit_code}` and `${ID.success}` of a step with `id:`, next to the `${ID.output}` the
  publish step gives it (`ops/capture.py`); a `capture:` of the same name keeps its own.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from prodigy.runtime.nodes import NodeParams, StepParams, field_names, params_to_json
from prodigy.runtime.plan import canonical_json

# How a template reference to `step.name` / `step.index` looks in the params' JSON encoding.
_READS_STEP = re.compile(r'\["step","(?:name|index)"')
# (kind, ids of the params' fields but `bindings`) -> (the params, whether they read them).
# The copies of a foreach body share their field values (bindings apart: values, never
# templates), so one encoding answers for all of them; the params kept alive keep the ids
# from being reused while the entry stands.
_SEEN: dict[tuple[type, tuple[int, ...]], tuple[NodeParams, bool]] = {}


def reads_step(params: NodeParams) -> bool:
    names = _template_fields(type(params))
    values = tuple(getattr(params, name) for name in names)
    key = (type(params), tuple(map(id, values)))
    hit = _SEEN.get(key)
    if hit is not None and all(getattr(hit[0], name) is value
                               for name, value in zip(names, values, strict=True)):
        return hit[1]
    if len(_SEEN) > 8192:
        _SEEN.clear()
    found = bool(_READS_STEP.search(canonical_json(params_to_json(replace(params,
                                                                          bindings={})))))
    _SEEN[key] = (params, found)
    return found


_FIELDS: dict[type, tuple[str, ...]] = {}


def _template_fields(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(name for name in field_names(cls) if name != "bindings")
    return names


def step_variables(node_id: str, label: str) -> dict[str, Any]:
    """`step.name` and `step.index` of the node `node_id` (`main.3`, `map.agent.0`,
    `main.4.on_failure.1`: the last number is its place in its list)."""
    index = next((int(part) for part in reversed(node_id.split(".")) if part.isdigit()), 0)
    return {"step.name": label, "step.index": index}


def published(params: NodeParams, kind: str, variables: dict[str, Any],
              exit_code: int | None) -> dict[str, Any]:
    """A step's variables with `last.*` and `ID.exit_code`/`ID.success` added."""
    if not isinstance(params, StepParams):
        return variables
    code = exit_code or 0
    out = {**variables, "last.output": variables.get(f"{kind}.output", ""),
           "last.exit_code": code, "last.success": code == 0}
    if params.step_id:
        out.setdefault(f"{params.step_id}.exit_code", code)
        out.setdefault(f"{params.step_id}.success", code == 0)
    return out
