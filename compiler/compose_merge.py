"""Merging one composed document over another: a child over its base (`extends:`), a workflow
over the template it uses.

The child's keys replace the base's, except the mappings in `MERGED`, which merge key by key
(the child's entry wins), and the step list: a child's `commands:` (or `steps:`) replaces the
base's, or, over a template, follows the template's steps (`concat`). The merged document's
root is the child's, so a diagnostic about the workflow as a whole points at the child.
"""

from __future__ import annotations

from collections.abc import Mapping

from prodigy.compiler.compose_map import Layer

COMPOSITION_KEYS = ("extends", "imports", "template", "workflows", "sub_workflows")
MERGED = ("env", "secrets", "profiles", "defaults", "workflows", "sub_workflows", "parameters")
_STEPS = ("commands", "steps")


def merge(base: Layer, child: Layer, concat: bool = False) -> Layer:
    out = base.copy()
    for key in base.data:
        out.graft((key,), base, (key,))
    out.mounts[()] = child.origin(())
    child_steps = next((k for k in _STEPS if k in child.data), None)
    base_steps = next((k for k in _STEPS if k in base.data), None)
    if child_steps is not None:
        for key in _STEPS:
            _drop(out, key)
    for key, value in child.data.items():
        previous = base.data.get(key)
        if key in MERGED and isinstance(value, Mapping) and isinstance(previous, Mapping) \
                and _by_name(value) and _by_name(previous):
            out.data[key] = {**previous, **value}
            for name in value:
                out.graft((key, name), child, (key, name))
        elif key == child_steps and concat and base_steps is not None:
            before = base.data[base_steps]
            steps = [*(before if isinstance(before, list) else []),
                     *(value if isinstance(value, list) else [])]
            out.data[key] = steps
            out.mounts[(key,)] = child.origin((key,))
            offset = len(steps) - len(value) if isinstance(value, list) else len(steps)
            for i in range(offset):
                out.graft((key, i), base, (base_steps, i))
            for i in range(len(steps) - offset):
                out.graft((key, offset + i), child, (key, i))
        else:
            out.data[key] = value
            out.graft((key,), child, (key,))
    return out


def _by_name(value: object) -> bool:
    # `parameters: {required: [...], optional: [...]}` lists are not keyed by name.
    return isinstance(value, Mapping) and not any(
        isinstance(value.get(group), list) for group in ("required", "optional"))


def _drop(layer: Layer, key: str) -> None:
    layer.data.pop(key, None)
    for path in [p for p in layer.mounts if p[:1] == (key,)]:
        del layer.mounts[path]
    for path in [p for p in layer.groups if p[:1] == (key,)]:
        del layer.groups[path]


def strip(layer: Layer) -> Layer:
    """The document without its composition keys: composition is done with them."""
    for key in COMPOSITION_KEYS:
        _drop(layer, key)
    return layer
