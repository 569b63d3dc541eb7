"""Where every key and value of a loaded document came from, kept small.

A workflow with a 100,000-item list has 100,000 scalars: a Span object, a ScalarSource and a
data-path tuple per scalar (plus their dict entries) once cost more than the rest of the compile
together. So the map keeps, per YAML node, a few integers in flat arrays (its marks, its style),
and the document's shape as a tree of node ids (mapping key -> child, sequence index -> child);
a path is looked up by walking that tree, and Span objects are made only when asked for.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from prodigy.runtime.span import Span

DataPath = tuple[str | int, ...]

# Per-node style codes: a scalar's YAML style, or a container.
STYLES: tuple[str | None, ...] = (None, "'", '"', "|", ">")
STYLE_CODE = {style: code for code, style in enumerate(STYLES)} | {"": 0}
CONTAINER = len(STYLES)


@dataclass(frozen=True, slots=True)
class ScalarSource:
    """Where a scalar came from: enough to map a character of its value back to the file."""

    style: str | None  # None plain, "'" single, '"' double, "|" literal, ">" folded
    start: int  # offsets of the scalar's source text in the file's text
    end: int


@dataclass(slots=True)
class SourceMap:
    """Spans for every value and key of a loaded document, addressed by data path."""

    file: str
    text: str
    # Per node id: start line, start column, end line, end column (0-based, as YAML marks
    # count), then start and end offsets in `text`.
    marks: array[int] = field(default_factory=lambda: array("q"))
    styles: bytearray = field(default_factory=bytearray)
    # Children of a container node: key -> id for a mapping, ids by index for a sequence.
    children: dict[int, dict[str, int] | array[int]] = field(default_factory=dict)
    key_ids: dict[int, dict[str, int]] = field(default_factory=dict)  # a mapping's key nodes
    # The last scalar `char_span` aligned: a command with 4,000 references asks 4,000 times,
    # and aligning anew each time made it quadratic.
    _aligned: tuple[int, str, list[tuple[int, int]]] | None = field(default=None, repr=False,
                                                                    compare=False)

    def add(self, line: int, col: int, end_line: int, end_col: int, start: int, end: int,
            style: int) -> int:
        """Record one node (0-based marks); returns its id. The root is node 0."""
        self.marks.extend((line, col, end_line, end_col, start, end))
        self.styles.append(style)
        return len(self.styles) - 1

    def _walk(self, path: DataPath) -> tuple[int | None, int]:
        """(id of the node at `path` or None, id of its deepest ancestor with a node)."""
        if not self.styles:
            return None, -1
        node = 0
        for part in path:
            kids = self.children.get(node)
            child: int | None = None
            if isinstance(kids, dict):
                child = kids.get(part) if isinstance(part, str) else None
            elif kids is not None and type(part) is int and 0 <= part < len(kids):
                child = kids[part]
            if child is None:
                return None, node
            node = child
        return node, node

    def _span(self, node: int) -> Span:
        at = node * 6
        line, col, end_line, end_col = self.marks[at : at + 4]
        return Span(self.file, line + 1, col + 1, end_line + 1, end_col + 1)

    def span(self, path: DataPath) -> Span:
        """The span of the value at `path`, or of its nearest ancestor that has one."""
        _, nearest = self._walk(path)
        return Span(self.file, 1, 1, 1, 1) if nearest < 0 else self._span(nearest)

    def key_span(self, path: DataPath) -> Span:
        if path:
            parent, _ = self._walk(path[:-1])
            keys = self.key_ids.get(parent) if parent is not None else None
            key = path[-1]
            if keys is not None and isinstance(key, str) and key in keys:
                return self._span(keys[key])
        return self.span(path)

    def scalar(self, path: DataPath) -> ScalarSource | None:
        node, _ = self._walk(path)
        if node is None or self.styles[node] == CONTAINER:
            return None
        return ScalarSource(STYLES[self.styles[node]], self.marks[node * 6 + 4],
                            self.marks[node * 6 + 5])

    def text_of(self, path: DataPath) -> str | None:
        """The source text of a scalar, as the user wrote it (without quotes)."""
        scalar = self.scalar(path)
        if scalar is None or scalar.style is not None:
            return None
        return self.text[scalar.start : scalar.end].strip()

    def char_span(self, path: DataPath, value: str, start: int, end: int) -> Span:
        """The file span of characters `value[start:end]` of the string scalar at `path`."""
        scalar = self.scalar(path)
        span = self.span(path)
        if scalar is None:
            return span
        cached = self._aligned
        if cached is not None and cached[0] == scalar.start and cached[1] is value:
            offsets = cached[2]
        else:
            offsets = _align(value, scalar, self.text[scalar.start : scalar.end], span)
            self._aligned = (scalar.start, value, offsets)
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
