"""The state of one lowering and the per-node expression helper.

`Lowering` is the only mutable object of the middle end: lowering functions add typed nodes
and typed edges to its graph, register what each node publishes, and park references nothing
visible produces (`Pending`) for `lower_refs.settle`. Nothing outside `lower.lower()` sees it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from prodigy.compiler.lower_exprs import ExprCache, Parsed, ref_sites
from prodigy.compiler.model import ClaudeOptions, Text
from prodigy.compiler.scope import PROVIDED, Pending, RefIssue, Scope, latest, resolve, root_of
from prodigy.compiler.source import SourceMap
from prodigy.runtime.diagnostics import Diagnostic
from prodigy.runtime.expr import Path
from prodigy.runtime.git.changes import FIELDS, READS, ROOTS
from prodigy.runtime.nodes import NodeParams, StepParams
from prodigy.runtime.plan import EdgeKind
from prodigy.runtime.span import Span

DATA = EdgeKind.DATA


_DIGITS = re.compile(r"(\d+)")


def natural_key(node_id: str) -> tuple[tuple[int, int | str], ...]:
    """`main.2` before `main.10`: digit runs compare as numbers."""
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in _DIGITS.split(node_id) if part)


@dataclass(frozen=True, slots=True)
class Expansion:
    """A foreach body lowered once, copied once per item when the plan is built.

    `nodes` (in topological order) and `edges` use ids starting with `hole`; item k's copy
    replaces that prefix by `<step>.item.<k>`. `inbound` are DATA edges from producers outside
    the loop into the body. Keeping the copies out of the graph keeps a 100,000-item list as
    cheap to check as a 1-item one; `plan_expand` writes them straight into the plan.
    """

    hole: str
    prefix: str  # `<step>.item.`
    items: tuple[str, ...]
    # Lanes of plan edges: item k starts after item k-lanes finished (as many lanes as items:
    # no edge between items, a pool's copies).
    lanes: int
    alias: bool  # the body reads `${foreach.item}`: bind `foreach` too
    nodes: tuple[tuple[str, LNode], ...]
    edges: tuple[tuple[str, str, tuple[str, ...]], ...]
    inbound: tuple[tuple[str, str, tuple[str, ...]], ...]
    entry: str
    exits: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LNode:
    """What a graph node holds: everything the plan needs about it except its id."""

    params: NodeParams
    phase: str
    label: str
    span: Span | None
    plan: str  # "" for the main plan, else the sub-plan's name
    expansion: Expansion | None = None  # set on the one node standing for a foreach's copies


@dataclass(frozen=True, slots=True)
class Subplan:
    owner: str  # the node (in the enclosing plan) that runs this sub-plan
    role: str  # agent | do | attempt | commands | on_incomplete


@dataclass(frozen=True, slots=True)
class Lowered:
    graph: nx.DiGraph
    subplans: Mapping[str, Subplan]
    step_ids: Mapping[str, str]  # user step id -> node that publishes it
    issues: tuple[RefIssue, ...]
    diagnostics: tuple[Diagnostic, ...]  # expression errors
    # DATA edges drawn to a step id declared later: the reference that closes a cycle.
    back_refs: Mapping[tuple[str, str], Span] = field(default_factory=dict)


@dataclass(slots=True)
class Lowering:
    """The mutable state of one lowering; nothing outside `lower()` ever sees it."""

    source_map: SourceMap
    bindable: dict[str, str]  # --arg and literal env values: bound into nodes that read them
    cache: ExprCache  # the expressions stage's parses
    claude: ClaudeOptions = field(default_factory=ClaudeOptions)  # under each step's own
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)

    subplans: dict[str, Subplan] = field(default_factory=dict)
    step_ids: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (node, plan)
    captures: dict[str, tuple[str, str]] = field(default_factory=dict)  # root -> (node, plan)
    pending: list[Pending] = field(default_factory=list)
    roots_read: set[str] = field(default_factory=set)
    back_refs: dict[tuple[str, str], Span] = field(default_factory=dict)
    tracked: set[str] = field(default_factory=set)  # steps whose git changes a node reads
    group: tuple[str, ...] = ()  # of the step being lowered: every node it adds is in it

    def add(self, node_id: str, params: NodeParams, scope: Scope, label: str,
            span: Span | None, expansion: Expansion | None = None) -> None:
        if self.group:
            params = replace(params, group=self.group)
        self.graph.add_node(node_id, node=LNode(params, scope.phase, label, span, scope.plan,
                                                expansion))

    def edge(self, src: str, dst: str, kind: EdgeKind) -> None:
        # One networkx edge per node pair; its attributes are the set of kinds it carries
        # (a step can both follow and read its predecessor).
        self.graph.add_edge(src, dst, **{kind.value: True})

    def connect(self, preds: Iterable[str], dst: str, kind: EdgeKind) -> None:
        for pred in preds:
            self.edge(pred, dst, kind)

    def exprs(self, scope: Scope, node: str) -> Exprs:
        return Exprs(self, scope, node)

    def mark_tracked(self) -> None:
        """Once everything is lowered: set `track_changes` on the steps whose changes a later
        node reads (`${step.*}`), foreach body copies included. A loop standing as the step
        is not tracked: the steps inside it are, when they are read."""
        if not self.tracked:
            return
        for node_id, attrs in self.graph.nodes(data=True):
            lnode = attrs.get("node")
            if lnode is None:
                continue
            if node_id in self.tracked:
                lnode = _tracked(lnode)
            expansion = lnode.expansion
            if expansion is not None and any(n in self.tracked for n, _ in expansion.nodes):
                body = tuple((n, _tracked(b) if n in self.tracked else b)
                             for n, b in expansion.nodes)
                lnode = replace(lnode, expansion=replace(expansion, nodes=body))
            attrs["node"] = lnode

    def publish(self, scope: Scope, node: str, names: Iterable[str], step_id: Text | None,
                captures: Iterable[str] = ()) -> Scope:
        """Register what `node` publishes; later references resolve to it."""
        found = {root_of(n): node for n in names}
        for name in captures:
            found[root_of(name)] = node
            self.captures.setdefault(root_of(name), (node, scope.plan))
        if step_id is not None:
            found[step_id.value] = node
            self.step_ids.setdefault(step_id.value, (node, scope.plan))
        return scope.bind(found)


class Exprs:
    """The expressions of one node: parsed, their references resolved, bindings collected."""

    __slots__ = ("bindings", "low", "node", "scope")

    def __init__(self, low: Lowering, scope: Scope, node: str) -> None:
        self.low, self.scope, self.node = low, scope, node
        self.bindings: dict[str, Any] = {}

    def template(self, text: Text | None) -> Any:
        return self._encoded("template", text)

    def condition(self, text: Text | None) -> Any:
        return self._encoded("condition", text)

    def filter(self, text: Text | None) -> Any:
        return self._encoded("filter", text)  # names item fields, not variables: no edges

    def sort(self, text: Text | None) -> Any:
        return self._encoded("sort", text)

    def json_path(self, text: Text | None) -> str:
        found = self._encoded("json_path", text)
        return found if isinstance(found, str) else ""

    def _encoded(self, kind: str, text: Text | None) -> Any:
        if text is None:
            return None
        parsed = self.low.cache.parse(kind, text)
        if parsed is None:
            return None
        if parsed.refs:
            self._resolve(parsed, text)
        return parsed.encoded

    def _resolve(self, parsed: Parsed, text: Text) -> None:
        low, scope = self.low, self.scope
        sites: list[tuple[Span, bool]] | None = None
        for index, path in enumerate(parsed.refs):
            root = path.root
            low.roots_read.add(root)
            if root in ROOTS and path.segments and path.segments[0] in FIELDS:
                self._reads_changes(path)
            found = resolve(scope, root, self.node)
            if isinstance(found, tuple):
                low.edge(found[0], found[1], DATA)
                continue
            if found == PROVIDED:
                if root in low.bindable and not scope.provides_context(root):
                    self.bindings[root] = low.bindable[root]
                continue
            if sites is None:
                sites = ref_sites(text, len(parsed.refs), low.source_map)
            span, braced = sites[index]
            low.pending.append(Pending(root, str(path), braced, bool(path.segments), span,
                                       scope.chain(self.node), scope.where,
                                       scope.all_context()))

    def _reads_changes(self, path: Path) -> None:
        """A reference to git change values: the node gets them bound when it is prepared
        (the `@changes` binding names the roots), and for `step.*` the step before it records
        its changes."""
        reads = self.bindings.get(READS, ())
        if path.root not in reads:
            self.bindings[READS] = tuple(sorted({*reads, path.root}))
        if path.root == "step":
            producer = latest(self.scope, "step")
            if producer is not None:
                self.low.tracked.add(producer)


def _tracked(lnode: LNode) -> LNode:
    if not isinstance(lnode.params, StepParams):
        return lnode
    return replace(lnode, params=replace(lnode.params, track_changes=True))
