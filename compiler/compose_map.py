"""Where each part of a composed workflow came from: a source map over several files.

Composition (compiler/compose.py) builds one document out of values from several files: a base
a workflow `extends:`, the steps of a sub-workflow defined in an imported file, a template. The
later stages address that document by data path, as they do a single file's; `Layer` records,
for the paths where the document's content comes from elsewhere, the file and the path there
(a mount), and `ComposedMap` answers each source-map query through the longest mounted prefix
of the path asked about, so a diagnostic lands in the file and on the line that holds the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from prodigy.compiler.source_map import DataPath, ScalarSource, SourceMap
from prodigy.runtime.span import Span

Origin = tuple[SourceMap, DataPath]
Group = tuple[str, ...]


def get(data: object, path: DataPath) -> object:
    for part in path:
        if isinstance(data, Mapping) and isinstance(part, str):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def is_ref(step: object) -> bool:
    """A `- workflow: NAME` step."""
    return isinstance(step, Mapping) and "workflow" in step


def group_of(smap: SourceMap, path: DataPath) -> Group:
    """The groups the step at `path` of a (possibly composed) document was inlined in."""
    return smap.group(path) if isinstance(smap, ComposedMap) else ()


def _origin(mounts: dict[DataPath, Origin], path: DataPath) -> Origin:
    for cut in range(len(path), -1, -1):
        found = mounts.get(path[:cut])
        if found is not None:
            smap, at = found
            return smap, (*at, *path[cut:])
    raise KeyError(path)  # every layer mounts its root


@dataclass(slots=True)
class Layer:
    """A (partly) composed document: its data and, per mounted path, where that value is."""

    data: dict[str, object]
    mounts: dict[DataPath, Origin]
    # Per step inlined from a sub-workflow or a template: the groups it is in, outermost first
    # (`workflow build`, `template ci`); the plan's pictures draw each group as a cluster.
    groups: dict[DataPath, Group] = field(default_factory=dict)

    @classmethod
    def of(cls, data: dict[str, object], smap: SourceMap, at: DataPath = ()) -> Layer:
        return cls(data, {(): (smap, at)})

    def copy(self) -> Layer:
        return Layer(dict(self.data), dict(self.mounts), dict(self.groups))

    def origin(self, path: DataPath) -> Origin:
        return _origin(self.mounts, path)

    def graft(self, path: DataPath, source: Layer, source_path: DataPath) -> None:
        """Record that the value at `path` is the one at `source_path` of `source` (the data
        itself is set by the caller), dropping what was mounted under `path` before."""
        for mounted in [p for p in self.mounts if p[:len(path)] == path]:
            del self.mounts[mounted]
        self.mounts[path] = source.origin(source_path)
        cut = len(source_path)
        for mounted, found in source.mounts.items():
            if len(mounted) > cut and mounted[:cut] == source_path:
                self.mounts[(*path, *mounted[cut:])] = found
        for grouped in [p for p in self.groups if p[:len(path)] == path]:
            del self.groups[grouped]
        for grouped, group in source.groups.items():
            if grouped[:cut] == source_path:
                self.groups[(*path, *grouped[cut:])] = group


@dataclass(slots=True)
class ComposedMap(SourceMap):
    """The source map of a composed document: the root file's, with mounted paths answered by
    the maps of the files their values came from."""

    mounts: dict[DataPath, Origin] = field(default_factory=dict)
    groups: dict[DataPath, Group] = field(default_factory=dict)

    @classmethod
    def over(cls, root: SourceMap, mounts: dict[DataPath, Origin],
             groups: dict[DataPath, Group] | None = None) -> ComposedMap:
        return cls(root.file, root.text, root.marks, root.styles, root.children, root.key_ids,
                   mounts=mounts, groups=groups or {})

    def group(self, path: DataPath) -> Group:
        """The groups the step at `path` (or the step holding it) was inlined in."""
        for cut in range(len(path), 0, -1):
            found = self.groups.get(path[:cut])
            if found is not None:
                return found
        return ()

    def span(self, path: DataPath) -> Span:
        smap, at = _origin(self.mounts, path)
        return SourceMap.span(smap, at)

    def key_span(self, path: DataPath) -> Span:
        smap, at = _origin(self.mounts, path)
        if at and path and at[-1] == path[-1]:
            return SourceMap.key_span(smap, at)
        return SourceMap.span(smap, at)  # a value moved under another key: its own place

    def scalar(self, path: DataPath) -> ScalarSource | None:
        smap, at = _origin(self.mounts, path)
        return SourceMap.scalar(smap, at)

    def text_of(self, path: DataPath) -> str | None:
        smap, at = _origin(self.mounts, path)
        return SourceMap.text_of(smap, at)

    def char_span(self, path: DataPath, value: str, start: int, end: int) -> Span:
        smap, at = _origin(self.mounts, path)
        return SourceMap.char_span(smap, at, value, start, end)
