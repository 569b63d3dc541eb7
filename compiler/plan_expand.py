"""Writing a foreach's per-item copies into the plan (see `lower_core.Expansion`).

This is the hot loop of compiling a large literal foreach, so each body node's constant part
is prepared once: its params' field values, and its fingerprint's canonical JSON split around
the `bindings` value. Per item, only the bindings are encoded (once, shared by the item's
nodes) and hashed between the two halves, which gives exactly `runtime.plan.fingerprint`
(a test holds the two equal) at a fraction of the cost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from json.encoder import encode_basestring
from typing import Any

from prodigy.compiler.lower_core import Expansion, LNode
from prodigy.runtime.nodes import NodeParams, field_names, params_to_json
from prodigy.runtime.plan import PlanNode, canonical_json, fingerprint

_SENTINEL = "\x00bindings\x00"
_CANONICAL = canonical_json


@dataclass(frozen=True, slots=True)
class _Proto:
    """A body node's constant part."""

    rest: str  # the node id after the item's prefix
    lnode: LNode
    kwargs: dict[str, Any]  # field values, bindings excluded
    own: dict[str, Any]  # bindings the node has of its own (--arg and env values)
    prefix: str
    suffix: str
    exit_codes: dict[str, str]
    params_head: str  # P's text before the bindings (P: the params in {"kind":K,"params":P})
    params_tail: str  # P's text after them


def _proto(rel: str, lnode: LNode, hole: str) -> _Proto:
    params = lnode.params
    names = [n for n in field_names(type(params)) if n != "bindings"]
    # A marker string stands in for the bindings, so the encoded text can be split there.
    marked = replace(params, bindings=_SENTINEL)  # type: ignore[arg-type]
    text = canonical_json({"kind": params.kind, "params": params_to_json(marked)})
    prefix, suffix = text.split(canonical_json(_SENTINEL))
    return _Proto(rel[len(hole):], lnode, {n: getattr(params, n) for n in names},
                  dict(params.bindings), prefix, suffix,
                  dict(getattr(params, "on_exit_code", None) or {}),
                  prefix[len(canonical_json({"kind": params.kind, "params": 0})) - 2:],
                  suffix[:-1])


def item_names(expansion: Expansion) -> Iterator[tuple[int, str]]:
    for index in range(len(expansion.items)):
        yield index, f"{expansion.prefix}{index}"


def rename(node: str, expansion: Expansion, name: str) -> str:
    return node.replace(expansion.hole, name, 1) if node.startswith(expansion.hole) else node


def expand_nodes(expansion: Expansion) -> Iterator[PlanNode]:
    """Every copy's nodes, item by item, each item's in the body's topological order."""
    protos = [_proto(rel, lnode, expansion.hole) for rel, lnode in expansion.nodes]
    total = len(expansion.items)
    for index, name in item_names(expansion):
        item = expansion.items[index]
        bound: dict[str, Any] = {"item": item, "index": index, "total": total}
        # The canonical JSON of `bound`, written directly (sorted keys, compact): encoding a
        # three-key dict per item was a fifth of compiling a 100,000-item foreach.
        inner = f'"index":{index},"item":{encode_basestring(item)},"total":{total}'
        if expansion.alias:
            bound["foreach"] = {"item": item, "index": index, "total": total}
            bound_json = f'{{"foreach":{{{inner}}},{inner}}}'
        else:
            bound_json = f"{{{inner}}}"
        for proto in protos:
            yield _copy(proto, expansion, name, bound, bound_json)


def _copy(proto: _Proto, expansion: Expansion, name: str, bound: dict[str, Any],
          bound_json: str) -> PlanNode:
    lnode = proto.lnode
    bindings, encoded = bound, bound_json
    if proto.own:
        bindings = {**proto.own, **bound}
        encoded = _CANONICAL(bindings)
    kwargs = proto.kwargs
    if proto.exit_codes:
        kwargs = {**kwargs, "on_exit_code": {code: rename(node, expansion, name)
                                             for code, node in proto.exit_codes.items()}}
    params: NodeParams = type(lnode.params)(bindings=bindings, **kwargs)
    if proto.exit_codes:
        return PlanNode(id=name + proto.rest, params=params, phase=lnode.phase,
                        label=lnode.label, span=lnode.span, fingerprint=fingerprint(params))
    # The fingerprint's body is {"kind":K,"params":P}: P, spliced once, is also what the
    # plan file holds for this node.
    body = proto.prefix + encoded + proto.suffix
    digest = hashlib.sha256(body.encode()).hexdigest()
    return PlanNode(id=name + proto.rest, params=params, phase=lnode.phase,
                    label=lnode.label, span=lnode.span, fingerprint=digest,
                    params_json=(proto.params_head, encoded, proto.params_tail))


def expand_edges(expansion: Expansion, into: tuple[tuple[str, tuple[str, ...]], ...],
                 join: tuple[str, tuple[str, ...]] | None
                 ) -> Iterator[tuple[str, str, str]]:
    """(src, dst, kind) of every copy: the body's own edges, DATA edges from producers before
    the loop, the lanes (item k after item k-lanes), `into` (the loop's predecessors, wired to
    the first `lanes` items) and `join` (the last `lanes` items into the loop's barrier)."""
    lanes = expansion.lanes
    names = [name for _, name in item_names(expansion)]
    for index, name in enumerate(names):
        entry = rename(expansion.entry, expansion, name)
        if index < lanes:
            for src, kinds in into:
                for kind in kinds:
                    yield src, entry, kind
        else:
            for tail in expansion.exits:
                yield rename(tail, expansion, names[index - lanes]), entry, "sequence"
        for src, dst, kinds in expansion.edges:
            for kind in kinds:
                yield rename(src, expansion, name), rename(dst, expansion, name), kind
        for src, dst, kinds in expansion.inbound:
            for kind in kinds:
                yield src, rename(dst, expansion, name), kind
    if join is not None:
        target, kinds = join
        for name in names[-lanes:]:
            for tail in expansion.exits:
                for kind in kinds:
                    yield rename(tail, expansion, name), target, kind
