"""Sub-workflows no step uses, checked all the same.

A sub-workflow's steps are schema-checked where they are inlined, as part of the composed
document; one no step inlines would never be, and a typo in it would pass until the day a step
uses it. Each unused definition's steps are checked here, under their own key path (a
`- workflow:` step in it is not a step the schema knows: its reference is resolved instead),
through the file's source map, so every diagnostic names the file and line of the definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from prodigy.compiler.compose_inline import resolve, span
from prodigy.compiler.compose_map import ComposedMap, get, is_ref
from prodigy.compiler.schema_check import check_schema

# Stands, in the checked copy, for a `- workflow:` step (which is resolved, not schema-checked);
# valid, so it is never reported.
_RESOLVED = {"shell": "true"}

if TYPE_CHECKING:
    from prodigy.compiler.compose import Composer, FileUnit, SubDef


def check_unused(composer: Composer, units: list[FileUnit]) -> None:
    """Check each sub-workflow defined in `units` (each file once) that nothing inlined."""
    for unit in units:
        for sub in unit.defs.values():
            if sub.unit is unit:
                _check(composer, sub)


def _check(composer: Composer, sub: SubDef) -> None:
    definition = get(sub.layer.data, sub.path)
    if not isinstance(definition, Mapping) or "source" in definition:
        return  # a definition naming a file: that file is checked where it is used
    main = "steps" if "steps" in definition else "commands"
    at = (*sub.path, main)
    if (id(sub.layer), at) in composer.inlined:
        return
    steps = definition.get(main)
    if not isinstance(steps, list):
        return
    checked: list[object] = []
    for k, step in enumerate(steps):
        if is_ref(step):
            ref = step["workflow"]
            if isinstance(ref, str):
                resolve(composer, sub.unit, ref, span(sub.layer, (*at, k, "workflow")))
            step = _RESOLVED  # resolved above; the schema knows no `workflow:` step
        checked.append(step)
    smap, _ = sub.layer.origin(())
    key, name = sub.path
    data = {"commands": [], key: {name: {main: checked}}}
    composer.diagnostics.extend(check_schema(data, ComposedMap.over(smap, sub.layer.mounts)))
