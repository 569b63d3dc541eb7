"""Load a workflow file: safe YAML with a source span for every key and value.

Decisions (documented in the README, "YAML notes"):
- Scalars resolve with the YAML 1.2 core schema, not PyYAML's YAML 1.1 one: only
  true/false are booleans, `on:`/`yes`/`NO` stay strings, `12:30` stays the string "12:30".
  Every scalar also keeps its source text, so a stage that wants a string where YAML typed a
  number (`mode: 0644`, `env: {N: 5}`) takes the text the user wrote, never a re-rendering.
- Mapping keys are always strings (their source text). A duplicate key is an error naming both
  positions; PyYAML would silently keep the last one.
- Any YAML error becomes a positioned P1xx diagnostic; nothing here raises for bad input.
- Two roads, one result: a plain document is composed straight from libyaml's events
  (source_events.py); anything else, errors included, goes through PyYAML's node graph here,
  which words every diagnostic. A test holds the two equal on every file of the corpus.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from prodigy.compiler.source_events import (
    MAX_DEPTH,
    MAX_NODES,
    SURROGATE,
    CoreResolver,
    TooLarge,
    compose_fast,
    scalar_value,
)
from prodigy.compiler.source_map import CONTAINER, STYLE_CODE, DataPath, ScalarSource, SourceMap
from prodigy.runtime.bounded_read import MAX_WORKFLOW_BYTES, read_bounded
from prodigy.runtime.diagnostics import Diagnostic
from prodigy.runtime.errors import ProdigyError
from prodigy.runtime.span import Span

__all__ = ["DataPath", "LoadedFile", "ScalarSource", "SourceMap", "load_file", "load_text"]


class _DepthGuard:
    """Bounds nesting while composing: PyYAML's composer recurses once per level."""

    depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise yaml.composer.ComposerError(
                    None, None, f"nesting too deep (more than {MAX_DEPTH} levels)", mark)
            node: Node | None = super().compose_node(parent, index)  # type: ignore[misc]
            return node
        finally:
            self.depth -= 1


class _Loader(
    _DepthGuard,
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    CoreResolver,
):
    """The pure-Python loader: slower, but its error messages are the ones our hints know."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        CoreResolver.__init__(self)

    def fetch_flow_collection_start(self, TokenClass: type) -> None:
        # The scanner runs ahead of the composer (up to 1024 characters of `[[[[`), and each
        # open bracket makes every later token cost more: stop it at the same depth.
        if self.flow_level >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(
                None, None, f"nesting too deep (more than {MAX_DEPTH} levels)", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)


_FastLoader: type | None = None
if yaml.__with_libyaml__:
    # libyaml scans and parses (a state machine, no recursion) about 10x faster than PyYAML;
    # composing stays in Python so the depth guard and the core-schema resolver still apply.
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _LibyamlLoader(_DepthGuard, yaml.composer.Composer, CParser, CoreResolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            CoreResolver.__init__(self)

    _FastLoader = _LibyamlLoader


def _compose(text: str) -> Node | None:
    """Compose with libyaml when available; on any error, again with PyYAML for its message."""
    if _FastLoader is not None:
        try:
            return yaml.compose(text, Loader=_FastLoader)
        except (yaml.YAMLError, RecursionError):
            pass
    return yaml.compose(text, Loader=_Loader)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class LoadedFile:
    """A parsed document: plain Python data plus the source map, or the errors that stopped it."""

    path: str
    text: str
    data: object
    source_map: SourceMap
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return not self.diagnostics


def _span(file: str, node: Node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _mark_span(file: str, mark: yaml.Mark | None) -> Span:
    if mark is None:
        return Span(file, 1, 1, 1, 2)
    return Span(file, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2)


_YAML_HINTS: tuple[tuple[str, str], ...] = (
    ("'\\t'", "YAML forbids tabs for indentation: use spaces"),
    ("mapping values are not allowed", "quote the value: it contains ': ' (e.g. \"a: b\")"),
    ("found unexpected end of stream", "a quote or bracket is not closed"),
    ("while scanning a quoted scalar", "a quoted string is not closed"),
    ("expected <block end>", "check the indentation of this line and the ones above"),
    ("did not find expected key", "check the indentation: a line is off by a few spaces"),
    ("that cannot start any token", "quote values that start with @ or `"),
    ("expected a single document", "a workflow file holds one YAML document (remove `---`)"),
)


def _yaml_hint(message: str) -> str | None:
    for needle, hint in _YAML_HINTS:
        if needle in message:
            return hint
    return None


class _Builder:
    """Turns composed YAML nodes into plain data while recording their places (the careful
    path: `source_events.compose_fast` builds the same data and map for plain documents)."""

    def __init__(self, file: str, text: str) -> None:
        self.map = SourceMap(file, text)
        self.file = file
        self.diagnostics: list[Diagnostic] = []
        self.count = 0
        self.active: set[int] = set()

    def _record(self, node: Node) -> int:
        start, end = node.start_mark, node.end_mark
        style = STYLE_CODE[node.style or None] if isinstance(node, ScalarNode) else CONTAINER
        return self.map.add(start.line, start.column, end.line, end.column, start.index,
                            end.index, style)

    def build(self, node: Node) -> tuple[object, int]:
        """The node's data and its id in the source map."""
        self.count += 1
        if self.count > MAX_NODES or id(node) in self.active:
            raise _AliasError(node)
        ident = self._record(node)
        if isinstance(node, ScalarNode):
            return self._scalar(node), ident
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                items: list[object] = []
                ids = self.map.children[ident] = array("q")
                for child in node.value:
                    value, child_id = self.build(child)
                    items.append(value)
                    ids.append(child_id)
                return items, ident
            if isinstance(node, MappingNode):
                return self._mapping(node, ident), ident
        finally:
            self.active.discard(id(node))
        return None, ident

    def _scalar(self, node: ScalarNode) -> object:
        """The scalar's value; a value its tag cannot hold is reported and kept as text."""
        text = self._text(node)
        try:
            return scalar_value(node.tag, text)
        except ValueError:
            pass
        tag = str(node.tag).rsplit(":", 1)[-1]
        digits = len(text.lstrip("+-"))
        message = (f"a number of {digits} digits is too long (at most 4300)"
                   if tag == "int" and text.lstrip("+-").isdigit() else
                   f"`!!{tag}` value {clip(text)!r} is not a{'n' if tag == 'int' else ''} {tag}")
        hint = ("quote it to keep it as text" if message.startswith("a number") else
                "write the value the tag names, or drop the tag")
        self.diagnostics.append(Diagnostic("P111", message, _span(self.file, node), hint=hint))
        return text

    def _text(self, node: ScalarNode) -> str:
        value = str(node.value)
        match = SURROGATE.search(value) if node.style == '"' else None
        if match is None:
            return value
        self.diagnostics.append(Diagnostic(
            "P101", f"invalid YAML: escape \\u{ord(match.group(0)):04x} is half of a UTF-16 "
            "pair, not a character", _span(self.file, node),
            hint="write the character itself, or its \\U00XXXXXX escape"))
        return SURROGATE.sub("\ufffd", value)

    def _mapping(self, node: MappingNode, ident: int) -> dict[str, object]:
        result: dict[str, object] = {}
        ids: dict[str, int] = {}
        keys = self.map.key_ids[ident] = {}
        self.map.children[ident] = ids
        seen: dict[str, Span] = {}
        for key_node, value_node in self._pairs(node):
            key_span = _span(self.file, key_node)
            if not isinstance(key_node, ScalarNode):
                self.diagnostics.append(
                    Diagnostic("P111", "a mapping key must be a plain string", key_span)
                )
                continue
            key = self._text(key_node)
            if key in seen:
                first = seen[key]
                self.diagnostics.append(
                    Diagnostic(
                        "P102",
                        f"duplicate key '{key}' (first defined at line {first.line}, "
                        f"column {first.col})",
                        key_span,
                        related=(first,),
                    )
                )
                continue
            seen[key] = key_span
            keys[key] = self._record(key_node)
            result[key], ids[key] = self.build(value_node)
        return result

    def _pairs(self, node: MappingNode) -> Iterator[tuple[Node, Node]]:
        """Mapping pairs with YAML merge keys (`<<: *anchor`) expanded; explicit keys win."""
        merged: list[tuple[Node, Node]] = []
        own: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    if isinstance(source, MappingNode):
                        merged.extend(self._pairs(source))
            else:
                own.append((key_node, value_node))
        own_keys = {k.value for k, _ in own if isinstance(k, ScalarNode)}
        by_key: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in merged:
            if isinstance(key_node, ScalarNode) and key_node.value not in own_keys:
                by_key.setdefault(key_node.value, (key_node, value_node))
        yield from by_key.values()
        yield from own


def _check_expansion(root: Node, budget: int = MAX_NODES) -> None:
    """Raise _AliasError for a cyclic alias or one that expands past `budget`.

    Sizes are counted over the node graph with memoisation, so an alias bomb ("billion laughs")
    is rejected in time proportional to its text, before anything is expanded. A scalar weighs
    its length too: 100,000 aliases of one 1 MB string are few nodes but 100 GB of text for
    every later stage to read.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _AliasError(node)
        active.add(key)
        total = 1
        children: list[Node] = []
        if isinstance(node, ScalarNode):
            total += len(node.value)
        elif isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        for child in children:
            total += size(child)
            if total > budget:
                raise _AliasError(node)
        active.discard(key)
        sizes[key] = total
        if len(sizes) > MAX_NODES:  # written out, not expanded: no alias is to blame
            raise TooLarge(node.start_mark.line, node.start_mark.column)
        return total

    size(root)


def _too_large(file: str, line: int, column: int) -> Diagnostic:
    return Diagnostic("P106", f"the document holds more than {MAX_NODES:,} values",
                      Span(file, line + 1, column + 1, line + 1, column + 2))


class _AliasError(ProdigyError):
    def __init__(self, node: Node) -> None:
        self.node = node


def load_text(text: str, file: str) -> LoadedFile:
    """Parse YAML text; every problem becomes a diagnostic on the returned LoadedFile."""
    try:
        fast = compose_fast(text, file)
    except TooLarge as exc:
        return LoadedFile(file, text, None, SourceMap(file, text),
                          (_too_large(file, exc.line, exc.column),))
    if fast is not None:
        return LoadedFile(file, text, fast[0], fast[1], ())
    return load_text_carefully(text, file)


def load_text_carefully(text: str, file: str) -> LoadedFile:
    """As load_text, through PyYAML's node graph: the path for documents with errors, anchors,
    aliases, tags or merge keys, and the reference the fast path is tested against."""
    empty = SourceMap(file, text)
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        diag = Diagnostic("P101", f"invalid YAML: {message}", _mark_span(file, mark),
                          hint=_yaml_hint(str(exc)))
        return LoadedFile(file, text, None, empty, (diag,))
    except yaml.reader.ReaderError as exc:
        # A control character: point at it instead of at 1:1 with PyYAML's wordy message.
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        diag = Diagnostic("P101", f"invalid YAML: control character U+{ord(char):04X} is not "
                          "allowed", Span(file, line, col, line, col + 1),
                          hint="remove the character, or write it as an escape in a "
                          "double-quoted string")
        return LoadedFile(file, text, None, empty, (diag,))
    except (yaml.YAMLError, RecursionError) as exc:
        reason = "nesting too deep" if isinstance(exc, RecursionError) else str(exc)
        diag = Diagnostic("P101", f"invalid YAML: {reason}", Span(file, 1, 1, 1, 2))
        return LoadedFile(file, text, None, empty, (diag,))
    if root is None:
        diag = Diagnostic("P103", "the file is empty", Span(file, 1, 1, 1, 2),
                          hint="a workflow is a list of steps or a mapping with `commands:`")
        return LoadedFile(file, text, None, empty, (diag,))
    builder = _Builder(file, text)
    try:
        # Expanded, the document may be a few times its text (anchors are for reuse), no more.
        _check_expansion(root, MAX_NODES + 4 * len(text))
        data, _ = builder.build(root)
    except TooLarge as exc:
        return LoadedFile(file, text, None, builder.map, (_too_large(file, exc.line, exc.column),))
    except _AliasError as exc:
        diag = Diagnostic("P104", "an alias refers to itself or expands too far",
                          _span(file, exc.node))
        return LoadedFile(file, text, None, builder.map, (diag,))
    except RecursionError:
        diag = Diagnostic("P101", "invalid YAML: nesting too deep", Span(file, 1, 1, 1, 2))
        return LoadedFile(file, text, None, builder.map, (diag,))
    if not isinstance(data, dict | list):
        what = "empty" if data is None else f"a single {type(data).__name__} value"
        diag = Diagnostic("P103", f"the document is {what}", builder.map.span(()))
        builder.diagnostics.append(diag)
    return LoadedFile(file, text, data, builder.map, tuple(builder.diagnostics))


def load_file(path: str | Path) -> LoadedFile:
    """Read and parse a workflow file; unreadable or non-text files become diagnostics."""
    name = str(path)
    try:
        raw = read_bounded(path, MAX_WORKFLOW_BYTES)
    except FileNotFoundError:
        return _failed(name, Diagnostic("P001", f"no such file: {name}", _file_span(name)))
    except OSError as exc:
        return _failed(name, Diagnostic("P001", f"cannot read {name}: {exc.strerror}",
                                        _file_span(name)))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return _failed(name, Diagnostic("P002", f"byte 0x{raw[exc.start]:02x} is not UTF-8",
                                        Span(name, line, col, line, col + 1)))
    if text.startswith("\ufeff"):
        text = text[1:]
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        col = nul - (text.rfind("\n", 0, nul) + 1) + 1
        return _failed(name, Diagnostic("P002", "the file contains a NUL byte (binary data)",
                                        Span(name, line, col, line, col + 1)))
    return load_text(text, name)


def clip(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters: a diagnostic never echoes a megabyte value."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _file_span(name: str) -> Span:
    # A file that cannot be read still gets FILE:1:1, so every diagnostic has one format.
    return Span(name, 1, 1, 1, 1)


def _failed(name: str, diag: Diagnostic) -> LoadedFile:
    return LoadedFile(name, "", None, SourceMap(name, ""), (diag,))
