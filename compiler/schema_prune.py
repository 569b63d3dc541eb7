"""The part of a workflow the schema accepts, so that one run reports every problem.

A schema error makes only the value it is about meaningless. The stages after the schema check
(normalize, expressions, lower, checks) read schema-valid data, so rather than stopping at the
first stage with errors the pipeline hands them a pruned copy:

- a step of a phase (`commands:`/`steps:`, `setup:`, `map.agent_template:`, `reduce:`,
  `merge:`, or a bare list) with an error anywhere inside it becomes a placeholder the schema
  accepts, and the normalizer skips its path; the other steps keep their indexes, hence their
  source spans and node ids;
- any other wrong value is removed with the key that holds it (`map.max_parallel: abc`, an
  unknown key);
- removing can break the parent (a required key gone), so the copy is checked again and pruned
  further until it is valid; an error at the document itself leaves nothing to check.

Copies are made only along pruned paths, and only for files that have schema errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from prodigy.compiler.compose_map import get as _at
from prodigy.compiler.schema_check import error_paths, is_valid
from prodigy.compiler.source import DataPath

# Each round removes at least one value; real files need one or two.
_ROUNDS = 8
_PHASES = ("setup", "reduce", "merge")
_DELETE = object()


@dataclass(frozen=True, slots=True)
class Usable:
    data: object
    skipped: frozenset[DataPath]  # steps with errors, replaced by placeholders: not read


def usable_part(data: object) -> Usable | None:
    """`data` without the values the schema rejects; None when nothing usable is left."""
    skipped: set[DataPath] = set()
    current = data
    for _ in range(_ROUNDS):
        if is_valid(current):
            return Usable(current, frozenset(skipped))
        paths = error_paths(current)
        if not paths:
            return None  # the two validators disagree: trust neither
        for path in paths:
            step = _step_of(current, path)
            if step is not None and step not in skipped:
                skipped.add(step)
                current = _put(current, step, {"shell": "true"})
                continue
            owner = _owning_key(path)
            if step is not None or owner is None:
                return None  # the placeholder itself, or the whole document, is at fault
            current = _put(current, owner, _DELETE)
    return None


def _step_list(data: object, path: DataPath) -> DataPath | None:
    """The path of the phase step list `path` is inside, if any."""
    if isinstance(data, list):
        return ()
    head = path[0] if path and isinstance(data, dict) else None
    if head in ("commands", "steps"):
        return (head,)
    if head in _PHASES:
        return (head, "commands") if isinstance(_at(data, (head,)), dict) else (head,)
    if head == "map" and path[1:2] == ("agent_template",):
        inner = ("map", "agent_template")
        return (*inner, "commands") if isinstance(_at(data, inner), dict) else inner
    return None


def _step_of(data: object, path: DataPath) -> DataPath | None:
    """The phase step that contains `path` (or is at it)."""
    steps = _step_list(data, path)
    if steps is None or not isinstance(_at(data, steps), list):
        return None
    size = len(steps)
    if len(path) > size and path[:size] == steps and isinstance(path[size], int):
        return path[:size + 1]
    return None


def _owning_key(path: DataPath) -> DataPath | None:
    """The path up to its last mapping key: what to remove so `path` goes with it."""
    for end in range(len(path), 0, -1):
        if isinstance(path[end - 1], str):
            return path[:end]
    return None


def _put(node: object, path: DataPath, value: object) -> object:
    """A copy of `node` with `value` at `path` (`_DELETE` removes the key); untouched
    subtrees are shared, not copied."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict) and isinstance(head, str) and head in node:
        new_dict = dict(node)
        if not rest and value is _DELETE:
            del new_dict[head]
        else:
            new_dict[head] = _put(node[head], rest, value)
        return new_dict
    if isinstance(node, list) and isinstance(head, int) and 0 <= head < len(node):
        new_list = list(node)
        new_list[head] = _put(node[head], rest, value)
        return new_list
    return node
