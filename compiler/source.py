"""Load a workflow file: safe YAML with a source span for every key and value.

Decisions (documented in the README, "YAML notes"):
- Scalars resolve with the YAML 1.2 core schema, not PyYAML's YAML 1.1 one: only
  true/false are booleans, `on:`/`yes`/`NO` stay strings, `12:30` stays the string "12:30".
  Every scalar also keeps its source text, so a stage that wants a string where YAML typed a
  number (`mode: 0644`, `env: {N: 5}`) takes the text the user wrote, never a re-rendering.
- Mapping keys are always strings (their source text). A duplicate key is an error naming both
  positions; PyYAML would silently keep the last one.
- Any YAML error becomes a positioned P1xx diagnostic; nothing here raises for bad input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from prodigy.runtime.diagnostics import Diagnostic
from prodigy.runtime.span import Span

DataPath = tuple[str | int, ...]
# A bound on alias expansion: a "billion laughs" document must not exhaust memory.
MAX_NODES = 2_000_000
# A bound on nesting. PyYAML's composer recurses per level (Python's stack gives out near 490)
# and its scanner is quadratic in the flow depth (5000 `[` take seconds), so a deeper document
# is rejected as soon as it is seen; real workflows nest a few dozen levels at most.
MAX_DEPTH = 200


class _CoreResolver(yaml.resolver.Resolver):
    """YAML 1.2 core schema: no yes/no/on/off booleans, no sexagesimal numbers."""

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}


_CORE_RULES: list[tuple[str, str, str]] = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
     "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
     r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+.0123456789"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
]
for _tag, _pattern, _first in _CORE_RULES:
    _CoreResolver.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
_CoreResolver.yaml_implicit_resolvers.setdefault("", []).append(
    ("tag:yaml.org,2002:null", re.compile(r"^$"))
)


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
    _CoreResolver,
):
    """The pure-Python loader: slower, but its error messages are the ones our hints know."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _CoreResolver.__init__(self)

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

    class _LibyamlLoader(_DepthGuard, yaml.composer.Composer, CParser, _CoreResolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            _CoreResolver.__init__(self)

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
class ScalarSource:
    """Where a scalar came from: enough to map a character of its value back to the file."""

    style: str | None  # None plain, "'" single, '"' double, "|" literal, ">" folded
    start: int  # offsets of the scalar's source text in the file's text: slicing on demand
    end: int  # keeps a 100,000-scalar file from holding every scalar's text twice


@dataclass(slots=True)
class SourceMap:
    """Spans for every value and key of a loaded document, addressed by data path."""

    file: str
    text: str
    values: dict[DataPath, Span] = field(default_factory=dict)
    keys: dict[DataPath, Span] = field(default_factory=dict)
    scalars: dict[DataPath, ScalarSource] = field(default_factory=dict)

    def span(self, path: DataPath) -> Span:
        """The span of the value at `path`, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while probe:
            found = self.values.get(probe)
            if found is not None:
                return found
            probe = probe[:-1]
        return self.values.get((), Span(self.file, 1, 1, 1, 1))

    def key_span(self, path: DataPath) -> Span:
        return self.keys.get(tuple(path)) or self.span(path)

    def text_of(self, path: DataPath) -> str | None:
        """The source text of a scalar, as the user wrote it (without quotes)."""
        scalar = self.scalars.get(tuple(path))
        if scalar is None:
            return None
        if scalar.style is None:
            return self.text[scalar.start : scalar.end].strip()
        return None

    def char_span(self, path: DataPath, value: str, start: int, end: int) -> Span:
        """The file span of characters `value[start:end]` of the string scalar at `path`."""
        scalar = self.scalars.get(tuple(path))
        if scalar is None:
            return self.span(path)
        span = self.span(path)
        offsets = _align(value, scalar, self.text[scalar.start : scalar.end], span)
        if not offsets:
            return span
        start = min(max(start, 0), len(offsets) - 1)
        last = min(max(end - 1, start), len(offsets) - 1)
        line, col = offsets[start]
        end_line, end_col = offsets[last]
        return Span(self.file, line, col, end_line, end_col + 1)


def _align(value: str, scalar: ScalarSource, raw: str, span: Span) -> list[tuple[int, int]]:
    """Map each character of a scalar's value to a (line, col) in the file.

    YAML cooks scalars (quotes, escapes, folding, indentation), so the value is not a slice of
    the source. It is, though, almost a subsequence of it: walk both and match greedily, letting
    a folded line break stand for a space and an escape sequence stand for its character.
    """
    line, col = span.line, span.col
    positions: list[tuple[int, int]] = []
    cursor = 0
    raw_pos: list[tuple[int, int]] = []
    for ch in raw:
        raw_pos.append((line, col))
        if ch == "\n":
            line, col = line + 1, 1
        else:
            col += 1
    for ch in value:
        while cursor < len(raw):
            rch = raw[cursor]
            if rch == ch or (ch == " " and rch == "\n"):
                break
            if rch == "\\" and scalar.style == '"' and cursor + 1 < len(raw):
                break
            cursor += 1
        if cursor >= len(raw):
            positions.append(raw_pos[-1] if raw_pos else (span.line, span.col))
            continue
        positions.append(raw_pos[cursor])
        escaped = raw[cursor] == "\\" and scalar.style == '"'
        doubled_quote = scalar.style == "'" and raw[cursor : cursor + 2] == "''"
        if escaped or doubled_quote:
            cursor += 2
        else:
            cursor += 1
    return positions


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
    """Turns composed YAML nodes into plain data while recording spans."""

    def __init__(self, file: str, text: str) -> None:
        self.map = SourceMap(file, text)
        self.file = file
        self.diagnostics: list[Diagnostic] = []
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: Node, path: DataPath) -> object:
        self.count += 1
        if self.count > MAX_NODES or id(node) in self.active:
            raise _AliasError(node)
        span = _span(self.file, node)
        self.map.values[path] = span
        if isinstance(node, ScalarNode):
            return self._scalar(node, path, span)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
        finally:
            self.active.discard(id(node))
        return None

    def _scalar(self, node: ScalarNode, path: DataPath, span: Span) -> object:
        self.map.scalars[path] = ScalarSource(node.style or None, node.start_mark.index,
                                              node.end_mark.index)
        value: str = node.value
        tag = node.tag
        if tag == "tag:yaml.org,2002:bool":
            return value.lower() == "true"
        if tag == "tag:yaml.org,2002:int":
            if value.startswith(("0o", "0x")):
                return int(value[2:], 8 if value[1] == "o" else 16)
            return int(value)
        if tag == "tag:yaml.org,2002:float":
            # YAML spells infinity/NaN `.inf`/`.nan`; Python's float() wants them without the dot.
            return float(value.lower().replace(".inf", "inf").replace(".nan", "nan"))
        if tag == "tag:yaml.org,2002:null":
            return None
        return value

    def _mapping(self, node: MappingNode, path: DataPath) -> dict[str, object]:
        result: dict[str, object] = {}
        seen: dict[str, Span] = {}
        for key_node, value_node in self._pairs(node):
            key_span = _span(self.file, key_node)
            if not isinstance(key_node, ScalarNode):
                self.diagnostics.append(
                    Diagnostic("P111", "a mapping key must be a plain string", key_span)
                )
                continue
            key = str(key_node.value)
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
            self.map.keys[(*path, key)] = key_span
            result[key] = self.build(value_node, (*path, key))
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


def _check_expansion(root: Node) -> None:
    """Raise _AliasError for a cyclic alias or one that expands past MAX_NODES.

    Sizes are counted over the node graph with memoisation, so an alias bomb ("billion laughs")
    is rejected in time proportional to its text, before anything is expanded.
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
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        for child in children:
            total += size(child)
            if total > MAX_NODES:
                raise _AliasError(node)
        active.discard(key)
        sizes[key] = total
        return total

    size(root)


class _AliasError(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


def load_text(text: str, file: str) -> LoadedFile:
    """Parse YAML text; every problem becomes a diagnostic on the returned LoadedFile."""
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
        _check_expansion(root)
        data = builder.build(root, ())
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
        raw = Path(path).read_bytes()
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


def _file_span(name: str) -> Span:
    # A file that cannot be read still gets FILE:1:1, so every diagnostic has one format.
    return Span(name, 1, 1, 1, 1)


def _failed(name: str, diag: Diagnostic) -> LoadedFile:
    return LoadedFile(name, "", None, SourceMap(name, ""), (diag,))
