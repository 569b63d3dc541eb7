"""The Plan: the one contract between the compiler and the runtime.

A plan is a list of typed nodes in deterministic topological order plus typed edges. The runtime
owns this model (it is the instruction set the compiler targets), so `prodigy exec plan.json`
needs neither the YAML nor the compiler. Loading validates against `plan.schema.json` and refuses
an unknown `format_version` instead of guessing.

Execution semantics of the graph (the compiler lowers to this; the runtime implements it):
- A node becomes ready when every SEQUENCE, DATA and PHASE predecessor has *resolved*:
  succeeded, skipped by its gate, or failed-but-handled (an on_failure handler with
  `fail_workflow: false` ran). A predecessor that failed unhandled fails the run; its
  descendants are reported skipped with the reason.
- GATE: a `gate` node evaluates its `when:` condition; false skips the guarded node (edge
  gate -> node), which then resolves as skipped for its own successors.
- ON_FAILURE: node -> `handler` node. The handler and the nodes hanging off it by SEQUENCE edges
  (its body) run only when the node failed. The handler's params say how often the original
  node may be attempted in total (`max_attempts`) and whether exhausting them fails the run
  (`fail_workflow`). Bodies of handlers that are not needed are reported not-run, not failed.
- ON_SUCCESS: node -> first node of its on_success body, run only when the node succeeded.
- ON_EXIT_CODE: node -> first node of a body run only when the node's exit code equals the code
  the node's `on_exit_code` param maps to that body (the edge gives order and drawing; the
  param gives the code). These bodies do not change whether the node failed.
- Bodies (handler, on_success, on_exit_code) are the entry plus the nodes hanging off it by
  SEQUENCE edges; the compiler never links a body's tail back to the main line, so the node
  after a step depends on the step only. A body not needed resolves as not-run, which counts
  as resolved for DATA successors (a value it would have produced is simply absent).
- A `when:` gate guards every node of its step's main path (analysis, command, validate,
  verify) with a GATE edge; those nodes are also chained to the gate and to each other by
  SEQUENCE edges.
- A foreach over a literal list is expanded by the compiler: nodes `<step>.item.<k>.*` with
  `item`/`index`/`total` in their `bindings`, and the loop ends at a `barrier` that has the
  step's id. A body of one node is a *pool*: every copy follows the loop's predecessors and
  names the barrier as its `pool`; at most the barrier's `limit` (`parallel`) of them run at
  once. A longer body runs in lanes: item k's entry follows item k-parallel's exits
  (SEQUENCE).
- DATA: `src` publishes a variable `dst` reads (see StepParams for what a node publishes).
  A reference from inside a sub-plan to a value produced outside it is drawn to the node that
  owns the sub-plan. A node never gets a DATA edge from the node whose body it is in.
- Expansion and loop nodes (`foreach` with run-time items, `map`, `validate`, `goal_seek`)
  carry their bodies as named sub-plans in the `subplans` of the plan holding the node (so a
  map agent's validation sub-plans sit inside the agent sub-plan); the runtime instantiates a
  body with the owner's variables (its `bindings` included) plus the per-item or per-attempt
  ones.
- Phases: a node's `phase` is main, setup, map (agent sub-plan), reduce or merge. Consecutive
  phases are joined by a `barrier` node (PHASE edges in and out). The merge phase runs only
  when the run's worktree is merged back.

The file (format_version 2): one node or edge per line, each in canonical compact JSON, and a
node's params leave out every field equal to its default in runtime/nodes.py (loading fills it
back in). A fingerprint hashes all params, defaults included, so checkpoint keys do not depend
on how the file spells them. In memory, `nodes` and `edges` are Sequences: tuples once loaded;
in a freshly compiled plan, lazy views that keep a literal foreach as its body plus the item
list and write their own lines (`JsonLines`), so `Plan.write` streams a 100,000-node plan
without building its nodes.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, lru_cache
from importlib.resources import files
from json.encoder import encode_basestring
from typing import IO, Any, Protocol, runtime_checkable

from prodigy.runtime.errors import PlanError
from prodigy.runtime.nodes import (
    NODE_KINDS,
    NodeParams,
    field_names,
    params_from_json,
    params_to_json,
)
from prodigy.runtime.span import Span

# 2: a param equal to its default (runtime/nodes.py) is left out of plan.json.
FORMAT_VERSION = 2


class EdgeKind(StrEnum):
    SEQUENCE = "sequence"  # run `dst` after `src` succeeded (or was skipped by its gate)
    ON_SUCCESS = "on_success"  # `dst` is src's on_success handler
    ON_FAILURE = "on_failure"  # `dst` is src's on_failure handler
    DATA = "data"  # `dst` reads a value `src` produces
    GATE = "gate"  # `src` is the `when:` gate guarding `dst`
    PHASE = "phase"  # barrier between MapReduce phases
    ON_EXIT_CODE = "on_exit_code"  # `dst` runs when src exits with the code its params map to it


_EDGE_KINDS = {kind.value: kind for kind in EdgeKind}


def _edge_kind(value: str) -> EdgeKind:
    # A dict lookup, not EdgeKind(value): this runs once per edge of a loaded plan.
    return _EDGE_KINDS.get(value) or EdgeKind(value)


@dataclass(frozen=True, slots=True)
class PlanEdge:
    src: str
    dst: str
    kind: EdgeKind

    def to_json(self) -> dict[str, str]:
        return {"from": self.src, "to": self.dst, "kind": str(self.kind)}

    def line(self) -> str:
        """The edge's canonical JSON (sorted keys), as plan.json holds it on one line."""
        return edge_line(encode_basestring(self.src), self.kind.value,
                         encode_basestring(self.dst))


def edge_line(src_json: str, kind: str, dst_json: str) -> str:
    return f'{{"from":{src_json},"kind":"{kind}","to":{dst_json}}}'


@dataclass(frozen=True, slots=True)
class PlanNode:
    id: str
    params: NodeParams
    phase: str
    label: str
    span: Span | None
    fingerprint: str

    @property
    def kind(self) -> str:
        return self.params.kind

    def line(self) -> str:
        """The node's canonical JSON (sorted keys), as plan.json holds it on one line."""
        return node_line(encode_basestring(self.id), self.kind,
                         canonical_json(written_params(self.params)), self.fingerprint,
                         self.label, self.phase, self.span)

    def to_json(self) -> dict[str, Any]:
        """The node as plan.json holds it: params equal to their defaults left out."""
        written = written_params(self.params)
        return {
            "id": self.id,
            "kind": self.kind,
            "phase": self.phase,
            "label": self.label,
            "span": self.span.to_json() if self.span else None,
            "fingerprint": self.fingerprint,
            "params": {name: value for name, value in params_to_json(self.params).items()
                       if name in written},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any],
                  shared: dict[Hashable, NodeParams] | None = None) -> PlanNode:
        """`shared`: params already built while loading this plan, by their JSON. Params are
        frozen, so nodes with identical params (a plan of 10,000 `true`s) share one object."""
        # Loading a plan is on the path of every `exec` and `resume`: this runs per node, so it
        # avoids generic helpers (a 10,000-node plan once took 0.5 s to load).
        kind = data["kind"]
        params_cls = NODE_KINDS.get(kind)
        if params_cls is None:
            raise PlanError(f"node {data.get('id')!r} has unknown kind {kind!r}")
        raw = data["params"]
        key: Hashable = None
        params = None
        if shared is not None:
            # Only flat params are keyed (a list value makes hash() fail); the value types are
            # part of the key because 1 == 1.0 == True.
            key = (kind, tuple(raw.items()), tuple(map(type, raw.values())))
            try:
                params = shared.get(key)
            except TypeError:
                key = None
        if params is None:
            params = _params(kind, params_cls, raw)
            if key is not None:
                shared[key] = params  # type: ignore[index]
        span = data.get("span")
        if span:
            span = Span(*span) if len(span) == 5 and _exact_span(span) else Span.from_json(span)
        return cls(data["id"], params, data["phase"], data["label"], span or None,
                   data["fingerprint"])


def _params(kind: str, params_cls: type[NodeParams], raw: Mapping[str, Any]) -> NodeParams:
    if not raw.keys() <= _field_set(params_cls):
        return params_from_json(kind, raw)  # words the unknown params
    return params_cls(**{name: value if type(value) in _SCALARS else _frozen(value)
                         for name, value in raw.items()})


_SCALARS = frozenset((str, int, float, bool, type(None)))


_FIELD_SETS: dict[type, frozenset[str]] = {}


def _field_set(cls: type) -> frozenset[str]:
    found = _FIELD_SETS.get(cls)
    if found is None:
        found = _FIELD_SETS[cls] = frozenset(field_names(cls))
    return found


def _exact_span(span: list[Any]) -> bool:
    file, line, col, end_line, end_col = span
    return (type(file) is str and type(line) is int and type(col) is int
            and type(end_line) is int and type(end_col) is int)


def _frozen(value: Any) -> Any:
    """JSON data as params hold it: lists as tuples (as runtime.nodes.params_from_json).
    Scalars are not recursed into: encoded templates are lists of mostly strings."""
    kind = type(value)
    if kind is list:
        return tuple([v if type(v) in _SCALARS else _frozen(v) for v in value])
    if kind is dict:
        return {k: v if type(v) in _SCALARS else _frozen(v) for k, v in value.items()}
    return value


def node_line(id_json: str, kind: str, params_json: str, fingerprint: str, label: str,
              phase: str, span: Span | None) -> str:
    """One node of plan.json; `id_json` and `params_json` already encoded."""
    return (f'{{"fingerprint":"{fingerprint}","id":{id_json},"kind":{_text(kind)},'
            f'"label":{_text(label)},"params":{params_json},"phase":{_text(phase)},'
            f'"span":{span_json(span)}}}')


@lru_cache(maxsize=4096)
def _text(value: str) -> str:
    # Kinds and phases, and the labels of a large expansion's copies, repeat: encode them once.
    return encode_basestring(value)


@lru_cache(maxsize=4096)
def span_json(span: Span | None) -> str:
    return "null" if span is None else canonical_json(span.to_json())


_DEFAULTS: dict[type, dict[str, Any]] = {}


def _defaults(cls: type) -> dict[str, Any]:
    """A params class's default values by field name, computed once per class."""
    found = _DEFAULTS.get(cls)
    if found is None:
        found = {}
        for spec in dataclasses.fields(cls):
            if spec.default is not dataclasses.MISSING:
                found[spec.name] = spec.default
            elif spec.default_factory is not dataclasses.MISSING:
                found[spec.name] = spec.default_factory()
        _DEFAULTS[cls] = found
    return found


def written_params(params: NodeParams) -> dict[str, Any]:
    """The params plan.json holds: every field except those equal to their default.

    Equal means the same JSON text: `threshold: 100.0` is written although the default is
    100, so loading gives back exactly the params (and fingerprint) that were compiled.
    """
    defaults = _defaults(type(params))
    out: dict[str, Any] = {}
    for name in field_names(type(params)):
        value = getattr(params, name)
        default = defaults.get(name, _REQUIRED)
        if isinstance(default, dict):
            if isinstance(value, Mapping) and not value and not default:
                continue
        elif type(value) is type(default) and value == default:
            continue
        out[name] = value
    return out


_REQUIRED = object()


def _plain(value: object) -> object:
    # The encoder writes tuples as lists itself; only params dataclasses need converting.
    if isinstance(value, NodeParams):
        return params_to_json(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


# Built once: json.dumps builds a new encoder per call, which dominates for 100,000 nodes.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              default=_plain).encode


def canonical_json(value: object) -> str:
    """Sorted keys, no whitespace: the byte form that fingerprints and golden files rely on."""
    return _CANONICAL(value)


def fingerprint(params: NodeParams) -> str:
    """Hash of a node's canonical params (all of them, defaults included, but `group` and
    `pool`): the basis of its content-addressed checkpoint key. `group` only says which
    sub-workflow or template a step was inlined from (for pictures), `pool` which loop holds
    how many run at once: neither is a reason to run a step again."""
    body = canonical_json({"kind": params.kind, "params": fingerprinted(params)})
    return hashlib.sha256(body.encode()).hexdigest()


def fingerprinted(params: NodeParams) -> dict[str, Any]:
    """The params a fingerprint hashes, as JSON data (see `fingerprint`)."""
    fields = params_to_json(params)
    fields.pop("group", None)
    fields.pop("pool", None)
    return fields


@runtime_checkable
class JsonLines(Protocol):
    """Nodes or edges that write their plan.json lines themselves, without materialising the
    PlanNode/PlanEdge objects (the compiler's view of a large literal foreach)."""

    def json_lines(self) -> Iterator[str]: ...


@dataclass(frozen=True, slots=True)
class Plan:
    workflow: Mapping[str, Any]
    # Sequences, not necessarily tuples: a compiled plan keeps an expanded foreach as its body
    # plus the item list and materialises a copy's node or edge when it is asked for.
    nodes: Sequence[PlanNode]
    edges: Sequence[PlanEdge]
    subplans: Mapping[str, Plan] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def materialized(self) -> Plan:
        """The plan with its nodes and edges (its sub-plans' too) held as tuples. A compiled
        plan's lazy views build a node each time it is read: cheap to write once, not to run
        (a run reads every node several times)."""
        if (type(self.nodes) is tuple and type(self.edges) is tuple
                and all(sub.materialized() is sub for sub in self.subplans.values())):
            return self
        return dataclasses.replace(
            self, nodes=tuple(self.nodes), edges=tuple(self.edges),
            subplans={name: sub.materialized() for name, sub in self.subplans.items()})

    def node(self, node_id: str) -> PlanNode:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "workflow": dict(self.workflow),
            "nodes": [n.to_json() for n in self.nodes],
            "edges": [e.to_json() for e in self.edges],
            "subplans": {k: v.to_json() for k, v in sorted(self.subplans.items())},
        }

    def chunks(self) -> Iterator[str]:
        """plan.json in pieces, to stream into a file: deterministic, compiling the same input
        twice gives byte-identical text.

        One node or edge per line, each in canonical compact JSON: diffs of a plan in review
        show exactly the nodes that changed, and no line depends on any other, so a 100,000-node
        plan is written without ever holding it whole.
        """
        yield from _layout(self, "")
        yield "\n"

    def write(self, out: IO[str]) -> None:
        for chunk in self.chunks():
            out.write(chunk)

    def dumps(self) -> str:
        return "".join(self.chunks())

    @classmethod
    def from_json(cls, data: Mapping[str, Any],
                  shared: dict[Hashable, NodeParams] | None = None) -> Plan:
        if shared is None:
            with _gc_paused():
                return cls.from_json(data, {})
        return cls(
            workflow=data["workflow"],
            nodes=tuple(PlanNode.from_json(n, shared) for n in data["nodes"]),
            edges=tuple(PlanEdge(e["from"], e["to"], _edge_kind(e["kind"])) for e in data["edges"]),
            subplans={k: cls.from_json(v, shared) for k, v in data.get("subplans", {}).items()},
            format_version=data["format_version"],
        )


def _lines(rows: Sequence[PlanNode] | Sequence[PlanEdge]) -> Iterable[str]:
    if isinstance(rows, JsonLines):
        return rows.json_lines()
    return (row.line() for row in rows)


_BATCH = 2048  # lines joined per chunk: few writes, little text held at once


def _array(head: str, lines: Iterable[str], pad: str) -> Iterator[str]:
    separator = f",\n{pad}  "
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == _BATCH:
            yield (separator if head == "" else f"{head}[\n{pad}  ") + separator.join(batch)
            head, batch = "", []
    if batch:
        yield (separator if head == "" else f"{head}[\n{pad}  ") + separator.join(batch)
        head = ""
    yield f"{head}[]" if head else f"\n{pad} ]"


def _layout(plan: Plan, pad: str) -> Iterator[str]:
    # Top-level keys in sorted order: edges, format_version, nodes, subplans, workflow.
    yield "{\n"
    yield from _array(f'{pad} "edges": ', _lines(plan.edges), pad)
    yield f',\n{pad} "format_version": {plan.format_version},\n'
    yield from _array(f'{pad} "nodes": ', _lines(plan.nodes), pad)
    yield f',\n{pad} "subplans": '
    if plan.subplans:
        yield "{"
        for position, (name, sub) in enumerate(sorted(plan.subplans.items())):
            yield f"{',' if position else ''}\n{pad}  {json.dumps(name)}: "
            yield from _layout(sub, pad + "  ")
        yield f"\n{pad} }}"
    else:
        yield "{}"
    yield f',\n{pad} "workflow": {canonical_json(dict(plan.workflow))}\n{pad}}}'


@cache
def _fast_plan_validator() -> Any:
    # jsonschema-rs answers valid-or-not in milliseconds where the pure-Python validator takes
    # seconds for a 10,000-node plan; the slow one runs only to describe an invalid plan.
    import jsonschema_rs

    return jsonschema_rs.validator_for(_plan_schema())


@cache
def _plan_schema() -> Any:
    text = files("prodigy.schemas").joinpath("plan.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _schema_problem(data: dict[str, Any]) -> str | None:
    if _fast_plan_validator().is_valid(data):
        return None
    import jsonschema

    validator = jsonschema.Draft202012Validator(_plan_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return "plan does not match plan.schema.json"
    first = errors[0]
    where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
    return f"plan does not match plan.schema.json at {where}: {first.message}"


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Loading makes a few objects per node and frees none: the cyclic garbage collector would
    # walk every live object of the process several times meanwhile, for nothing.
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def loads(text: str) -> Plan:
    """Parse and validate plan.json text; every problem is a PlanError with a plain message."""
    with _gc_paused():
        return _loads(text)


def _loads(text: str) -> Plan:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"not JSON: {exc.msg}", line=exc.lineno, col=exc.colno) from None
    if not isinstance(data, dict):
        raise PlanError("a plan is a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise PlanError(
            f"unsupported plan format_version {version!r} (this prodigy reads {FORMAT_VERSION})",
            code="P402",
        )
    problem = _schema_problem(data)
    if problem is not None:
        raise PlanError(problem)
    try:
        return Plan.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"malformed plan: {exc}") from None
