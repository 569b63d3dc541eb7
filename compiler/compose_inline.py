"""Sub-workflows inlined: a step `- workflow: NAME` becomes the steps of that sub-workflow.

`NAME` is a sub-workflow of this file (`workflows:`, an unaliased import's, or a base's),
`ALIAS.NAME` one of the file imported as ALIAS, and `ALIAS` alone that file's own steps. The
inlined steps keep their own options and get, where they do not set them, the sub-workflow's
`env:` and `working_dir:`, then the `env:` of the `workflow:` step. Its parameters (declared
under `parameters:`, bound by the step's `with:`, else their defaults) are substituted into
every `${NAME}` of its steps, here, so two uses with different values are two sets of steps.
A template's `with:` values (`bind_template`) become its parameters' defaults instead:
`--param` still overrides them, and the run-time variables do the rest.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from prodigy.compiler.compose_map import Group, Layer, Origin, get, is_ref
from prodigy.compiler.compose_templates import ParamDecl, as_text, declared, type_problem
from prodigy.compiler.source_map import DataPath, SourceMap
from prodigy.runtime.span import Span

if TYPE_CHECKING:
    from prodigy.compiler.compose import Composer, FileUnit

_REF_KEYS = ("workflow", "with", "env")
_DEF_KEYS = ("commands", "steps", "env", "parameters", "description", "working_dir", "source")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_-]*)\}")
# A step, where it came from, where its added options came from, and the groups it is in.
Entry = tuple[object, Layer, DataPath, dict[DataPath, Origin], Group]
# Whose scope the steps resolve in, the layer and path of the step list, the definition's.
Target = tuple["FileUnit", Layer, DataPath, Layer | None, DataPath]


def span(layer: Layer, path: DataPath, key: bool = False) -> Span:
    smap, at = layer.origin(path)
    return SourceMap.key_span(smap, at) if key else SourceMap.span(smap, at)


def expand(composer: Composer, unit: FileUnit, layer: Layer, path: DataPath,
           stack: tuple[object, ...]) -> None:
    """Replace the `workflow:` steps of the step list at `path` of `layer` by their steps."""

    steps = get(layer.data, path)
    parent = get(layer.data, path[:-1])
    if not isinstance(steps, list) or not isinstance(parent, dict) or \
            not any(map(is_ref, steps)):
        return
    before = Layer(layer.data, dict(layer.mounts), dict(layer.groups))
    entries: list[Entry] = []
    for i, step in enumerate(steps):
        if is_ref(step):
            entries += _inline(composer, unit, before, (*path, i), step, stack)
        else:
            entries.append((step, before, (*path, i), {}, before.groups.get((*path, i), ())))
    parent[path[-1]] = [entry[0] for entry in entries]
    layer.graft(path, before, path)
    for j, (_, source, at, extra, group) in enumerate(entries):
        layer.graft((*path, j), source, at)
        layer.mounts.update({(*path, j, *k): found for k, found in extra.items()})
        if group:
            layer.groups[(*path, j)] = group


def _inline(composer: Composer, unit: FileUnit, layer: Layer, at: DataPath,
            step: Mapping[str, object], stack: tuple[object, ...]) -> list[Entry]:

    for key in step:
        if key not in _REF_KEYS:
            composer.error("P119", f"`{key}` cannot be set on a `workflow:` step",
                           span(layer, (*at, key), key=True),
                           hint="a `workflow:` step takes `with:` and `env:`; set the rest on "
                                "the sub-workflow's steps")
    ref = step["workflow"]
    where = span(layer, (*at, "workflow"))
    target = resolve(composer, unit, str(ref), where) if isinstance(ref, str) else None
    if not isinstance(ref, str):
        composer.error("P111", "`workflow:` names a sub-workflow: a string", where)
    if target is None:
        return []
    scope, steps_layer, steps_path, def_layer, def_path = target
    seen = (id(steps_layer), steps_path)
    composer.inlined.add(seen)
    if seen in stack:
        composer.error("P003", f"composition cycle: sub-workflow '{ref}' uses itself", where,
                       hint="a sub-workflow cannot use itself, even through others")
        return []
    entries: list[Entry] = []
    steps = get(steps_layer.data, steps_path)
    label = composer.group_label(f"workflow {ref}")
    composer.inside.append(label)
    try:
        for k, sub in enumerate(steps if isinstance(steps, list) else []):
            if is_ref(sub):
                entries += _inline(composer, scope, steps_layer, (*steps_path, k), sub,
                                   (*stack, seen))
            else:
                entries.append((sub, steps_layer, (*steps_path, k), {},
                                steps_layer.groups.get((*steps_path, k), ())))
    finally:
        composer.inside.pop()
    bound = _bind(composer, def_layer, def_path, step, layer, at, str(ref))
    added: list[tuple[Layer, DataPath]] = [(layer, (*at, "env"))]
    if def_layer is not None:
        added = [(def_layer, (*def_path, "env")), (def_layer, (*def_path, "working_dir")),
                 *added]
    return [_adapt((*entry[:4], (label, *entry[4])), bound, added) for entry in entries]


def resolve(composer: Composer, unit: FileUnit, ref: str, where: Span) -> Target | None:
    alias, dot, name = ref.partition(".")
    if dot:
        imported = unit.aliases.get(alias)
        if imported is None:
            composer.error("P210", f"unknown import alias '{alias}' in '{ref}'", where,
                           hint=_suggest(alias, unit.aliases, "import aliases"))
            return None
        found = imported.defs.get(name)
        if found is None:
            composer.error("P210", f"{imported.file} defines no sub-workflow '{name}'", where,
                           hint=_suggest(name, imported.defs, "its sub-workflows"))
            return None
    elif ref in unit.defs:
        found = unit.defs[ref]
    elif ref in unit.aliases:
        imported = unit.aliases[ref]
        main = next((k for k in ("commands", "steps") if k in imported.layer.data), "commands")
        return imported, imported.layer, (main,), None, ()
    else:
        composer.error("P210", f"unknown sub-workflow '{ref}'", where,
                       hint=_suggest(ref, {**unit.defs, **unit.aliases}, "sub-workflows"))
        return None
    body = found.layer.data
    definition = get(body, found.path)
    if not isinstance(definition, Mapping):
        return None
    for key in definition:
        if key not in _DEF_KEYS and composer.once((id(found.layer), *found.path, key)):
            composer.error("P119", f"`{key}` of a sub-workflow is not supported: its steps "
                           "are inlined where it is used", span(found.layer,
                                                                (*found.path, key), key=True),
                           hint=f"remove `{key}:`")
    if "source" in definition:
        smap, at = found.layer.origin((*found.path, "source"))
        source = composer.follow(definition["source"], smap.file, SourceMap.span(smap, at),
                                 "used as a sub-workflow by")
        if source is None:
            return None
        main = next((k for k in ("commands", "steps") if k in source.layer.data), "commands")
        return source, source.layer, (main,), found.layer, found.path
    main = "steps" if "steps" in definition else "commands"
    return found.unit, found.layer, (*found.path, main), found.layer, found.path


def _suggest(name: str, known: Mapping[str, object], what: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"the {what} here: {', '.join(sorted(known))}" if known else f"there are no {what}"


def _bind(composer: Composer, def_layer: Layer | None, def_path: DataPath,
          step: Mapping[str, object], layer: Layer, at: DataPath, ref: str) -> dict[str, str]:
    """The parameter values of one use of a sub-workflow: `with:`, else the defaults."""

    where = (*def_path, "parameters")
    decls = declared(get(def_layer.data, where), where) if def_layer is not None else {}
    given = step.get("with")
    values = {name: as_text(d.default) for name, d in decls.items() if d.has_default}
    for name, value in (given.items() if isinstance(given, Mapping) else ()):
        decl = decls.get(name)
        if decl is None and decls:
            composer.error("P110", f"sub-workflow '{ref}' has no parameter '{name}'",
                           span(layer, (*at, "with", name), key=True),
                           hint=_suggest(name, decls, "parameters"))
            continue
        problem = type_problem(decl, value) if decl is not None else None
        if problem and decl is not None:
            composer.error("P504", f"parameter '{name}' = {value!r} {problem}",
                           span(layer, (*at, "with", name)),
                           hint=f"sub-workflow '{ref}' declares it as {decl.type}")
        # Substituted even when refused: reported once, not again as missing (P503).
        values[name] = as_text(value)
    for decl in decls.values():
        if decl.required and decl.name not in values:
            composer.error("P503", f"sub-workflow '{ref}' needs parameter '{decl.name}'",
                           span(layer, (*at, "workflow")),
                           hint=f"give it under `with:` ({decl.name}: VALUE)")
    return values


def _substitute(value: object, bound: Mapping[str, str]) -> object:
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: bound.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_substitute(v, bound) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, bound) for k, v in value.items()}
    return value


def _adapt(entry: Entry, bound: Mapping[str, str],
           added: list[tuple[Layer, DataPath]]) -> Entry:

    value, source, path, extra, group = entry
    value = _substitute(copy.deepcopy(value), bound) if bound else copy.deepcopy(value)
    if not isinstance(value, dict):
        return value, source, path, extra, group
    extra = dict(extra)
    for layer, at in added:
        found = get(layer.data, at)
        if at[-1] == "working_dir":
            if isinstance(found, str) and "working_dir" not in value:
                value["working_dir"] = _substitute(found, bound)
                extra[("working_dir",)] = layer.origin(at)
            continue
        env = value.setdefault("env", {}) if isinstance(found, Mapping) and found else None
        if not isinstance(env, dict) or not isinstance(found, Mapping):
            continue
        for name, text in found.items():
            if name not in env:
                env[name] = _substitute(text, bound)
                extra[("env", name)] = layer.origin((*at, name))
    return value, source, path, extra, group


def bind_template(composer: Composer, layer: Layer, template: FileUnit, own: Layer,
                  given: Mapping[str, object]) -> None:
    """Check a template's `with:` against its parameters; each value becomes a default."""
    decls = declared(layer.data.get("parameters"), ("parameters",))
    params = copy.deepcopy(layer.data.get("parameters"))
    for name, value in given.items():
        at = ("template", "with", name)
        decl = decls.get(name)
        if decl is None:
            composer.error("P110", f"template {template.file} has no parameter '{name}'",
                           span(own, at, key=True),
                           hint=_suggest(name, decls, "parameters of the template"))
            continue
        problem = type_problem(decl, value)
        if problem:
            composer.error("P504", f"parameter '{name}' = {value!r} {problem}", span(own, at),
                           hint=f"the template declares it as {decl.type} "
                                f"({decl.description or 'no description'})")
            # Reported here, once: the parameter is not also missing a value (P503).
            _declare(params, decl, "required", False)
            continue
        _declare(params, decl, "default", value)
        layer.mounts[(*decl.path, "default")] = own.origin(at)
    if params is not None:
        layer.data["parameters"] = params


def _declare(params: object, decl: ParamDecl, key: str, value: object) -> None:
    """Set `key` of the declaration of `decl` in `params`, whatever form it is written in."""
    holder = get(params, decl.path[1:-1])
    entry = get(params, decl.path[1:])
    if isinstance(entry, dict):
        entry[key] = value
    elif isinstance(holder, list) and isinstance(decl.path[-1], int):
        holder[decl.path[-1]] = {"name": decl.name, key: value}  # a bare name in a list
    elif isinstance(holder, dict):
        holder[decl.path[-1]] = {key: value}
