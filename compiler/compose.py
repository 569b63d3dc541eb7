"""Composition: `extends:`, `imports:`, `workflows:` and `template:` compiled away.

Runs on the loaded YAML, before the schema check, so every later stage sees one workflow and
knows nothing of composition. Per file (each file once, cached by its real path):

1. its composition keys are schema-checked on their own (a bad one is reported and left out);
2. the files it names are composed first: its base (`extends:`), its template, its imports;
3. its own step lists are expanded: a step `- workflow: NAME` (or `ALIAS.NAME`, or `ALIAS`
   for an imported file's own steps) is replaced by that sub-workflow's steps
   (compiler/compose_inline.py);
4. it is merged over its template, then over its base (compiler/compose_merge.py), and its
   composition keys are dropped.

Paths are relative to the file that names them. `Composed.via` remembers, per file pulled in,
the chain of references that pulled it in, so a diagnostic in it says how it got there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from prodigy.compiler.compose_inline import bind_template, expand
from prodigy.compiler.compose_map import ComposedMap, Layer, get, is_ref
from prodigy.compiler.compose_merge import COMPOSITION_KEYS, merge, strip
from prodigy.compiler.compose_templates import find_template, is_path
from prodigy.compiler.compose_unused import check_unused
from prodigy.compiler.schema_check import check_schema
from prodigy.compiler.source import DataPath, LoadedFile, SourceMap, load_file
from prodigy.runtime.diagnostics import Diagnostic
from prodigy.runtime.span import Span

# Where a workflow keeps step lists that may hold `- workflow:` steps.
STEP_LISTS: tuple[DataPath, ...] = (
    ("commands",), ("steps",), ("setup",), ("setup", "commands"), ("reduce",),
    ("reduce", "commands"), ("map", "agent_template"), ("map", "agent_template", "commands"),
    ("merge",), ("merge", "commands"))
Via = tuple[tuple[str, Span], ...]


@dataclass(slots=True)
class SubDef:
    """A sub-workflow definition: `workflows.NAME` of `layer`, resolved in `unit`'s scope."""

    unit: FileUnit
    layer: Layer
    path: DataPath


@dataclass(slots=True)
class FileUnit:
    """A composed file: its document, and the names its steps can use."""

    file: str
    layer: Layer
    via: Via
    defs: dict[str, SubDef] = field(default_factory=dict)
    aliases: dict[str, FileUnit] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Composed:
    loaded: LoadedFile  # the one composed document, with a source map into every file
    diagnostics: tuple[Diagnostic, ...]
    via: Mapping[str, Via]

    def annotate(self, diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
        """Each diagnostic in a file pulled in says which chain of references pulled it in."""
        out = []
        for diag in diagnostics:
            file = diag.span.file if diag.span is not None else ""
            chain = self.via.get(file)
            if chain:
                how = ", ".join(f"{word} {s.file}:{s.line}" for word, s in reversed(chain))
                diag = replace(diag, message=f"{diag.message} (in {file}, {how})",
                               related=(*diag.related, *(s for _, s in chain)))
            out.append(diag)
        return out


def needs_composing(data: object) -> bool:
    """Whether composition has anything to do: most files take this fast way out."""
    if isinstance(data, list):
        return any(map(is_ref, data))
    if not isinstance(data, Mapping):
        return False
    if any(key in data for key in COMPOSITION_KEYS):
        return True
    lists = (get(data, path) for path in STEP_LISTS)
    return any(isinstance(steps, list) and any(map(is_ref, steps)) for steps in lists)


def compose(loaded: LoadedFile) -> Composed:
    if not needs_composing(loaded.data):
        return Composed(loaded, (), {})
    composer = Composer()
    composer.stack.append(os.path.realpath(loaded.path))
    root = composer.unit(loaded, ())
    check_unused(composer, [root, *(u for u in composer.units.values() if u is not None)])
    data: object = root.layer.data
    if isinstance(loaded.data, list) and set(root.layer.data) == {"commands"}:
        data = root.layer.data["commands"]  # a bare list stays one
        root.layer.mounts = {(*p[1:],) if p[:1] == ("commands",) else p: o
                             for p, o in root.layer.mounts.items() if p != ()}
        root.layer.groups = {p[1:]: g for p, g in root.layer.groups.items()}
    smap = ComposedMap.over(loaded.source_map, root.layer.mounts, root.layer.groups)
    return Composed(replace(loaded, data=data, source_map=smap),
                    tuple(composer.diagnostics), composer.via)


class Composer:
    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.units: dict[str, FileUnit | None] = {}
        self.via: dict[str, Via] = {}
        self.stack: list[str] = []  # real paths of the files being composed, outermost first
        self.reported: set[object] = set()
        self.inlined: set[object] = set()  # (layer id, path) of each step list inlined
        self.uses: dict[tuple[str, ...], int] = {}  # group labels given out, per enclosing
        self.inside: list[str] = []  # the groups of the sub-workflow being inlined

    def group_label(self, label: str) -> str:
        """`label`, numbered from its second use in the same enclosing group on: each use of a
        sub-workflow is its own group (cluster), even right after another use of it."""
        key = (*self.inside, label)
        count = self.uses[key] = self.uses.get(key, 0) + 1
        return label if count == 1 else f"{label} #{count}"

    def once(self, key: object) -> bool:
        """True the first time `key` is seen: a definition used twice is reported once."""
        fresh = key not in self.reported
        self.reported.add(key)
        return fresh

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, hint=hint))

    def unit(self, loaded: LoadedFile, via: Via) -> FileUnit:
        data, smap = loaded.data, loaded.source_map
        if isinstance(data, list):
            own = Layer({"commands": data}, {(): (smap, ()), ("commands",): (smap, ())})
        else:
            own = Layer.of(dict(data) if isinstance(data, Mapping) else {}, smap)
        usable = self._checked_keys(own.data, smap)
        unit = FileUnit(loaded.path, own, via)
        template = self._template(own, loaded, via) if "template" in usable else None
        base = (self.follow(own.data["extends"], loaded.path,
                            loaded.source_map.span(("extends",)), "extended by", via)
                if "extends" in usable else None)
        for inherited in (template[0] if template else None, base):
            if inherited is not None:
                unit.defs.update(inherited.defs)
                unit.aliases.update(inherited.aliases)
        if "imports" in usable:
            self._imports(unit, loaded, via)
        for key in ("workflows", "sub_workflows"):
            defined = own.data.get(key)
            if key in usable and isinstance(defined, Mapping):
                for name in defined:
                    unit.defs[str(name)] = SubDef(unit, own, (key, str(name)))
        for path in STEP_LISTS:
            expand(self, unit, own, path, ())
        layer = own.copy()
        if template is not None:
            layer = merge(template[0].layer, self._override(own))
            given = next((layer.data[k] for k in ("commands", "steps") if k in layer.data), [])
            layer = merge(layer, own, concat=True)
            self._bind_with(layer, template[0], own, template[1])
            self._group_template(layer, len(given) if isinstance(given, list) else 0, own)
        if base is not None:
            layer = merge(base.layer, layer)
        unit.layer = strip(layer)
        return unit

    def _checked_keys(self, data: dict[str, object], smap: SourceMap) -> set[str]:
        """The composition keys whose shape is right; the others are reported here, where the
        schema check of the composed document no longer sees them."""
        usable = set()
        for key in COMPOSITION_KEYS:
            if key not in data:
                continue
            value = data[key]
            if key in ("workflows", "sub_workflows") and isinstance(value, Mapping):
                # A definition's steps are checked where they are used, once inlined.
                value = {name: {k: [] if k in ("commands", "steps") else v
                                for k, v in d.items()} if isinstance(d, Mapping) else d
                         for name, d in value.items()}
            found = check_schema({"commands": [], key: value}, smap)
            self.diagnostics.extend(found)
            if not found:
                usable.add(key)
        return usable

    def follow(self, ref: object, from_file: str, span: Span, how: str, via: Via = (),
               target: Path | None = None) -> FileUnit | None:
        """The composed file a reference in `from_file` at `span` names, or None (reported)."""
        path = target or Path(from_file).parent / Path(str(ref)).expanduser()
        shown = os.path.normpath(path)
        real = os.path.realpath(path)
        if real in self.stack:
            names = [Path(c).name for c in (*self.stack[self.stack.index(real):], real)]
            self.error("P003", f"composition cycle: {' -> '.join(names)}", span,
                       hint="a workflow cannot extend, import or use itself, even through "
                            "other files")
            return None
        if real in self.units:
            return self.units[real]
        if not Path(path).is_file():
            self.error("P001", f"no such file: {shown}", span,
                       hint="paths are relative to the file that names them")
            self.units[real] = None
            return None
        inner = load_file(shown)
        self.diagnostics.extend(inner.diagnostics)
        chain_to = (*via, (how, span))
        self.via.setdefault(shown, chain_to)
        self.stack.append(real)
        try:
            found = self.unit(inner, chain_to) if inner.data is not None else None
        finally:
            self.stack.pop()
        self.units[real] = found
        return found

    def _imports(self, unit: FileUnit, loaded: LoadedFile, via: Via) -> None:
        imports = unit.layer.data["imports"]
        for i, entry in enumerate(imports if isinstance(imports, list) else []):
            spec = entry if isinstance(entry, Mapping) else {"path": entry}
            at: DataPath = (*("imports", i), *(("path",) if isinstance(entry, Mapping) else ()))
            imported = self.follow(spec["path"], loaded.path, loaded.source_map.span(at),
                                   "imported by", via)
            if imported is None:
                continue
            if spec.get("alias"):
                unit.aliases[str(spec["alias"])] = imported
                continue
            wanted = spec.get("selective") or list(imported.defs)
            for name in wanted if isinstance(wanted, list) else [wanted]:
                if name in imported.defs:
                    unit.defs[name] = imported.defs[name]
                else:
                    self.error("P210", f"'{name}' is not a sub-workflow of {imported.file}",
                               loaded.source_map.span((*("imports", i), "selective")),
                               hint=f"it defines: {', '.join(imported.defs) or 'none'}")

    def _template(self, own: Layer, loaded: LoadedFile,
                  via: Via) -> tuple[FileUnit, Mapping[str, object]] | None:
        ref = own.data["template"]
        spec = ref if isinstance(ref, Mapping) else {"source": ref}
        source = spec.get("source") or spec.get("name")
        at: DataPath = ("template", "source" if "source" in spec else "name") \
            if isinstance(ref, Mapping) else ("template",)
        target = None
        if not is_path(str(source)):
            target, looked = find_template(str(source))
            if target is None:
                places = ", ".join(str(p) for p in looked[::2])
                self.error("P001", f"no template '{source}' (looked for {places}, "
                           ".yaml too)", loaded.source_map.span(at),
                           hint="`prodigy template list` shows the templates found; a path "
                                "with a `/` names a file")
                return None
        found = self.follow(source, loaded.path, loaded.source_map.span(at),
                            "used as a template by", via, target)
        with_ = spec.get("with")
        return (found, with_ if isinstance(with_, Mapping) else {}) if found else None

    def _override(self, own: Layer) -> Layer:
        override = get(own.data, ("template", "override"))
        return Layer.of(dict(override) if isinstance(override, Mapping) else {},
                        own.origin(())[0], ("template", "override"))

    def _group_template(self, layer: Layer, count: int, own: Layer) -> None:
        """The template's `count` steps, first in the merged step list, form the group
        `template NAME`."""
        key = next((k for k in ("commands", "steps") if k in layer.data), None)
        if not count or key is None:
            return
        ref = get(own.data, ("template", "source")) or get(own.data, ("template", "name")) \
            or own.data.get("template")
        label = self.group_label(f"template {ref}")
        for i in range(count):
            layer.groups[(key, i)] = (label, *layer.groups.get((key, i), ()))

    def _bind_with(self, layer: Layer, template: FileUnit, own: Layer,
                   with_: Mapping[str, object]) -> None:
        bind_template(self, layer, template, own, with_)
