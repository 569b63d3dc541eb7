"""`--force ID`: which nodes a name the user gives makes the run execute again.

An ID is a step's own `id:` as written in the workflow (every node of that step: a foreach
expanded at compile time repeats it), a plan node id as `prodigy compile` and `--dry-run` show
it (`main.3`, `map.agent.0`), or one frame's node as events name it (`map[item_0]/map.agent.0`,
`iteration2/main.3`), passed on as it is.

The run looks up `--force` for the nodes of the top-level plan; a loop runs its body's nodes
again only when it is forced as a whole (every item or attempt of it runs again). So a node
inside a loop body (a map agent's step, a runtime foreach's `do:`, a validation command) forces
the top-level loop that holds it, and the caller is told so.

A name that matches nothing is refused with the closest names, never ignored.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prodigy.runtime.decide import body_names
from prodigy.runtime.plan import Plan, PlanNode


@dataclass(frozen=True, slots=True)
class Forced:
    nodes: frozenset[str]  # what RunOptions.force gets
    notes: tuple[str, ...]  # a name inside a loop body widened to the loop holding it


class UnknownForceId(ValueError):
    """A `--force` name that is neither a step `id:` nor a node of the plan."""


def resolve(plan: Plan, names: Iterable[str]) -> Forced:
    """The nodes `names` force; raises UnknownForceId naming the first that matches nothing."""
    names = list(dict.fromkeys(names))
    if not names:
        return Forced(frozenset(), ())
    owner: dict[str, str] = {}  # every node id, at any depth -> its top-level node
    by_step: dict[str, list[str]] = {}  # user `id:` -> node ids carrying it
    for top, node in _nodes(plan):
        owner[node.id] = top
        step_id = getattr(node.params, "step_id", None)
        if step_id:
            by_step.setdefault(step_id, []).append(node.id)
    nodes: set[str] = set()
    notes: list[str] = []
    for name in names:
        if name in owner:
            targets = [name]
        elif name in by_step:
            targets = by_step[name]
        elif "/" in name and name.rsplit("/", 1)[1] in owner:
            nodes.add(name)  # one frame's node: the run matches it as it is
            continue
        else:
            raise UnknownForceId(_unknown(name, by_step, owner))
        inside: dict[str, list[str]] = {}  # top-level loop -> the targets in its bodies
        for target in targets:
            nodes.add(owner[target])
            if owner[target] != target:
                inside.setdefault(owner[target], []).append(target)
        notes += [f"--force {name}: {', '.join(found)} {'runs' if len(found) == 1 else 'run'} "
                  f"inside the loop {top}, so {top} runs again as a whole (every item or "
                  "attempt)" for top, found in inside.items()]
    return Forced(frozenset(nodes), tuple(notes))


def _nodes(plan: Plan) -> Iterator[tuple[str, PlanNode]]:
    """(top-level node id, node) for every node, the bodies of a top-level loop under it."""
    for node in plan.nodes:
        yield node.id, node
        stack = [plan.subplans[name] for name in body_names(node.params)
                 if name in plan.subplans]
        while stack:
            sub = stack.pop()
            yield from ((node.id, inner) for inner in sub.nodes)
            stack.extend(sub.subplans.values())


def _unknown(name: str, by_step: dict[str, list[str]], owner: dict[str, str]) -> str:
    close = difflib.get_close_matches(name, [*by_step, *owner], n=3, cutoff=0.6)
    guess = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    ids = ", ".join(sorted(by_step)[:10]) or "none"
    return (f"--force {name!r}: no step has that `id:` and the plan has no such node{guess} "
            f"(step ids: {ids}; node ids: see `--dry-run`)")
