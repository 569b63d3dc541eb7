"""The node and edge Sequences of a compiled plan, small whatever the size of its foreach.

`PlanNodes` chains runs of ordinary PlanNodes with the lazy copies of literal foreach loops
(`plan_expand.ExpandedNodes`). `PlanEdges` holds each edge as one integer,
`(src position * node count + dst position) * kinds + kind rank`, in an array: sorting those
integers is exactly the plan's edge order (by the positions of the ends, then kind), and 200,000
edges take 1.6 MB instead of 200,000 PlanEdge objects. Both write their plan.json lines
directly (`runtime.plan.JsonLines`); iterating them builds the PlanNodes and PlanEdges.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from json.encoder import encode_basestring

from prodigy.compiler.plan_expand import ExpandedNodes, IndexedRows
from prodigy.runtime.plan import EdgeKind, PlanEdge, PlanNode, edge_line

KINDS = tuple(sorted(kind.value for kind in EdgeKind))
KIND_RANK = {kind: rank for rank, kind in enumerate(KINDS)}


class _Rows:
    """Equality with any sequence of the same rows: a loaded plan holds tuples."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or len(self) != len(other):  # type: ignore[arg-type]
            return False
        return all(a == b for a, b in zip(self, other, strict=True))  # type: ignore[call-overload]

    __hash__ = None  # type: ignore[assignment]


class PlanNodes(_Rows, IndexedRows[PlanNode]):
    __slots__ = ("parts", "starts")

    def __init__(self, parts: Iterable[tuple[PlanNode, ...] | ExpandedNodes]) -> None:
        self.parts = tuple(part for part in parts if len(part))
        self.starts: list[int] = []
        total = 0
        for part in self.parts:
            self.starts.append(total)
            total += len(part)
        self.starts.append(total)

    def __len__(self) -> int:
        return self.starts[-1]

    def __iter__(self) -> Iterator[PlanNode]:
        return chain.from_iterable(self.parts)

    def _at(self, position: int) -> PlanNode:
        part = bisect_right(self.starts, position) - 1
        return self.parts[part][position - self.starts[part]]

    def id_json(self, position: int) -> str:
        """The JSON text of node `position`'s id, without building the node."""
        part = bisect_right(self.starts, position) - 1
        rows, at = self.parts[part], position - self.starts[part]
        if isinstance(rows, ExpandedNodes):
            return rows.id_json(at)
        return encode_basestring(rows[at].id)

    def id(self, position: int) -> str:
        part = bisect_right(self.starts, position) - 1
        rows, at = self.parts[part], position - self.starts[part]
        return rows.id(at) if isinstance(rows, ExpandedNodes) else rows[at].id

    def json_lines(self) -> Iterator[str]:
        for part in self.parts:
            if isinstance(part, ExpandedNodes):
                yield from part.json_lines()
            else:
                yield from (node.line() for node in part)


class PlanEdges(_Rows, IndexedRows[PlanEdge]):
    __slots__ = ("codes", "nodes")

    def __init__(self, nodes: PlanNodes, codes: Iterable[int]) -> None:
        self.nodes = nodes
        ordered = sorted(codes)
        fits = not ordered or ordered[-1] < 2**63
        self.codes: Sequence[int] = array("q", ordered) if fits else ordered

    @staticmethod
    def code(count: int, src: int, dst: int, kind: str) -> int:
        return (src * count + dst) * len(KINDS) + KIND_RANK[kind]

    def _ends(self, code: int) -> tuple[int, int, str]:
        pair, rank = divmod(code, len(KINDS))
        src, dst = divmod(pair, len(self.nodes))
        return src, dst, KINDS[rank]

    def __len__(self) -> int:
        return len(self.codes)

    def _at(self, position: int) -> PlanEdge:
        src, dst, kind = self._ends(self.codes[position])
        return PlanEdge(self.nodes.id(src), self.nodes.id(dst), EdgeKind(kind))

    def json_lines(self) -> Iterator[str]:
        id_json, count, kinds = self.nodes.id_json, len(self.nodes), len(KINDS)
        last, src_json = -1, ""
        for code in self.codes:
            pair, rank = divmod(code, kinds)
            src, dst = divmod(pair, count)
            if src != last:  # edges come sorted by their source: encode it once
                last, src_json = src, id_json(src)
            yield edge_line(src_json, KINDS[rank], id_json(dst))
