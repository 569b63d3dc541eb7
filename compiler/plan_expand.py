"""A literal foreach's per-item copies, kept as the body plus the item list (see
`lower_core.Expansion`).

`ExpandedNodes` is the Sequence of the copies' PlanNodes the plan holds: node k*width+r is body
node r for item k, built when asked for, so a 100,000-item foreach never has 100,000 PlanNodes
alive at once. Writing plan.json does not build them at all: each body node's constant part
is encoded once (its fingerprint's canonical JSON and its params' plan.json text, both split
around the `bindings` value), and per item only the bindings are encoded (once, shared by the
item's nodes) and spliced in, which gives exactly `PlanNode.line()` and
`runtime.plan.fingerprint` (a test holds them equal) at a fraction of the cost.
`edge_codes` gives the copies' edges as integers over node positions (see `plan_rows`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from json.encoder import encode_basestring
from typing import Any, TypeVar, overload

from prodigy.compiler.lower_core import Expansion, LNode
from prodigy.runtime.nodes import NodeParams, field_names
from prodigy.runtime.plan import (
    PlanNode,
    canonical_json,
    fingerprint,
    fingerprinted,
    node_line,
    written_params,
)

_SENTINEL = "\x00bindings\x00"
_CANONICAL = canonical_json


@dataclass(frozen=True, slots=True)
class _Proto:
    """A body node's constant part."""

    rest: str  # the node id after the item's prefix
    rest_json: str  # `rest` as the inside of a JSON string
    lnode: LNode
    kwargs: dict[str, Any]  # field values, bindings excluded
    own: dict[str, Any]  # bindings the node has of its own (--arg and env values)
    prefix: str  # the fingerprint's body {"kind":K,"params":P} before the bindings
    suffix: str  # ... and after them
    exit_codes: dict[str, str]
    line_head: str  # the node's plan.json line from `"kind"` up to the bindings
    line_tail: str  # ... and after them


def _split(text: str) -> tuple[str, str]:
    before, after = text.split(canonical_json(_SENTINEL))
    return before, after


def _proto(rel: str, lnode: LNode, hole: str) -> _Proto:
    params = lnode.params
    names = [n for n in field_names(type(params)) if n != "bindings"]
    # A marker string stands in for the bindings, so the encoded text can be split there.
    marked = replace(params, bindings=_SENTINEL)  # type: ignore[arg-type]
    prefix, suffix = _split(canonical_json({"kind": params.kind,
                                            "params": fingerprinted(marked)}))
    line = node_line('""', params.kind, canonical_json(written_params(marked)), "", lnode.label,
                     lnode.phase, lnode.span)
    line_head, line_tail = _split(line[line.index('"kind":'):])
    rest = rel[len(hole):]
    return _Proto(rest, encode_basestring(rest)[1:-1], lnode,
                  {n: getattr(params, n) for n in names}, dict(params.bindings), prefix, suffix,
                  dict(getattr(params, "on_exit_code", None) or {}), line_head, line_tail)


def rename(node: str, expansion: Expansion, name: str) -> str:
    return node.replace(expansion.hole, name, 1) if node.startswith(expansion.hole) else node


T = TypeVar("T")


class IndexedRows(Sequence[T]):
    """A read-only sequence whose rows are made when asked for: a subclass gives `__len__` and
    `_at(position)` (a position already in range); negative indices and slices are read here,
    once for every such sequence of a plan (its nodes, an expansion's nodes, its edges)."""

    __slots__ = ()

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if isinstance(index, slice):
            return [self._at(i) for i in range(*index.indices(len(self)))]
        return self._at(range(len(self))[index])

    def _at(self, position: int) -> T:
        raise NotImplementedError


class ExpandedNodes(IndexedRows[PlanNode]):
    """Every copy's nodes, item by item, each item's in the body's topological order."""

    __slots__ = ("_prefix_json", "expansion", "protos", "width")

    def __init__(self, expansion: Expansion) -> None:
        self.expansion = expansion
        self.protos = [_proto(rel, lnode, expansion.hole) for rel, lnode in expansion.nodes]
        self.width = len(self.protos)
        self._prefix_json = encode_basestring(expansion.prefix)[1:-1]

    def __len__(self) -> int:
        return len(self.expansion.items) * self.width

    def _at(self, position: int) -> PlanNode:
        item, row = divmod(position, self.width)
        bound, bound_json = self._bound(item)
        return self._node(self.protos[row], item, bound, bound_json)

    def __iter__(self) -> Iterator[PlanNode]:
        for index in range(len(self.expansion.items)):
            bound, bound_json = self._bound(index)
            for proto in self.protos:
                yield self._node(proto, index, bound, bound_json)

    def id(self, position: int) -> str:
        item, row = divmod(position, self.width)
        return f"{self.expansion.prefix}{item}{self.protos[row].rest}"

    def id_json(self, position: int) -> str:
        item, row = divmod(position, self.width)
        return f'"{self._prefix_json}{item}{self.protos[row].rest_json}"'

    def _bound(self, index: int) -> tuple[dict[str, Any], str]:
        item, total = self.expansion.items[index], len(self.expansion.items)
        bound: dict[str, Any] = {"item": item, "index": index, "total": total}
        # The canonical JSON of `bound`, written directly (sorted keys, compact): encoding a
        # three-key dict per item was a fifth of compiling a 100,000-item foreach.
        inner = f'"index":{index},"item":{encode_basestring(item)},"total":{total}'
        if self.expansion.alias:
            bound["foreach"] = {"item": item, "index": index, "total": total}
            return bound, f'{{"foreach":{{{inner}}},{inner}}}'
        return bound, f"{{{inner}}}"

    def _node(self, proto: _Proto, index: int, bound: dict[str, Any], bound_json: str
              ) -> PlanNode:
        lnode, name = proto.lnode, f"{self.expansion.prefix}{index}"
        bindings = {**proto.own, **bound} if proto.own else bound
        kwargs = proto.kwargs
        if proto.exit_codes:
            kwargs = {**kwargs, "on_exit_code": {code: rename(node, self.expansion, name)
                                                 for code, node in proto.exit_codes.items()}}
        params: NodeParams = type(lnode.params)(bindings=bindings, **kwargs)
        if proto.exit_codes:
            digest = fingerprint(params)
        else:
            encoded = _CANONICAL(bindings) if proto.own else bound_json
            digest = hashlib.sha256((proto.prefix + encoded + proto.suffix).encode()).hexdigest()
        return PlanNode(name + proto.rest, params, lnode.phase, lnode.label, lnode.span, digest)

    def json_lines(self) -> Iterator[str]:
        """The copies' plan.json lines, without building their PlanNodes (see the module doc)."""
        sha256, prefix_json = hashlib.sha256, self._prefix_json
        for index in range(len(self.expansion.items)):
            bound, bound_json = self._bound(index)
            for proto in self.protos:
                if proto.exit_codes:
                    yield self._node(proto, index, bound, bound_json).line()
                    continue
                encoded = _CANONICAL({**proto.own, **bound}) if proto.own else bound_json
                digest = sha256((proto.prefix + encoded + proto.suffix).encode()).hexdigest()
                yield (f'{{"fingerprint":"{digest}","id":"{prefix_json}{index}{proto.rest_json}",'
                       f"{proto.line_head}{encoded}{proto.line_tail}")


def edge_codes(expansion: Expansion, base: int, position: Callable[[str], int],
               into: Sequence[tuple[str, Sequence[str]]],
               join: tuple[str, Sequence[str]] | None, code: Callable[[int, int, str], int]
               ) -> Iterator[int]:
    """The copies' edges, as `code(src position, dst position, kind)`: the body's own edges,
    DATA edges from producers before the loop, the lanes (item k after item k-lanes), `into`
    (the loop's predecessors, wired to the first `lanes` items) and `join` (the last `lanes`
    items into the loop's barrier). Copy (item k, body node r) sits at base + k*width + r."""
    row = {rel: r for r, (rel, _) in enumerate(expansion.nodes)}
    width, lanes, count = len(row), expansion.lanes, len(expansion.items)
    entry = row[expansion.entry]
    exits = [row[tail] for tail in expansion.exits]
    # Within one item: (src, dst) as rows of the body (dst None: outside the body).
    body = [(row[src], row.get(dst), dst, kind) for src, dst, kinds in expansion.edges
            for kind in kinds]
    inbound = [(position(src), row[dst], kind) for src, dst, kinds in expansion.inbound
               for kind in kinds]
    for index in range(count):
        start = base + index * width
        if index < lanes:
            for src, kinds in into:
                for kind in kinds:
                    yield code(position(src), start + entry, kind)
        else:
            before = start - lanes * width
            for tail in exits:
                yield code(before + tail, start + entry, "sequence")
        for src_row, dst_row, dst, kind in body:
            target = start + dst_row if dst_row is not None else position(dst)
            yield code(start + src_row, target, kind)
        for src_pos, dst_row, kind in inbound:
            yield code(src_pos, start + dst_row, kind)
    if join is not None:
        barrier, kinds = join
        for index in range(max(count - lanes, 0), count):
            for tail in exits:
                for kind in kinds:
                    yield code(base + index * width + tail, position(barrier), kind)
