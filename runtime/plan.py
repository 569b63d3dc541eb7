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
  `item`/`index`/`total` in their `bindings`; item k's entry follows item k-parallel's exit
  (SEQUENCE), and the loop ends at a `barrier` that has the step's id.
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
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any

from prodigy.runtime.errors import PlanError
from prodigy.runtime.nodes import (
    NODE_KINDS,
    NodeParams,
    field_names,
    params_from_json,
    params_to_json,
)
from prodigy.runtime.span import Span

FORMAT_VERSION = 1


class EdgeKind(StrEnum):
    SEQUENCE = "sequence"  # run `dst` after `src` succeeded (or was skipped by its gate)
    ON_SUCCESS = "on_success"  # `dst` is src's on_success handler
    ON_FAILURE = "on_failure"  # `dst` is src's on_failure handler
    DATA = "data"  # `dst` reads a value `src` produces
    GATE = "gate"  # `src` is the `when:` gate guarding `dst`
    PHASE = "phase"  # barrier between MapReduce phases
    ON_EXIT_CODE = "on_exit_code"  # `dst` runs when src exits with the code its params map to it


@dataclass(frozen=True, slots=True)
class PlanEdge:
    src: str
    dst: str
    kind: EdgeKind

    def to_json(self) -> dict[str, str]:
        return {"from": self.src, "to": self.dst, "kind": str(self.kind)}


@dataclass(frozen=True, slots=True)
class PlanNode:
    id: str
    params: NodeParams
    phase: str
    label: str
    span: Span | None
    fingerprint: str
    # The canonical JSON of `params` in pieces to join, when the compiler already has it (it
    # builds the copies of a large expansion by splicing text): the pieces around the item are
    # shared by every copy, so writing 100,000 nodes costs joins, not encodings or memory.
    params_json: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def kind(self) -> str:
        return self.params.kind

    def line(self) -> str:
        """The node's canonical JSON (sorted keys), as `dumps` writes it on one line."""
        if self.params_json is None:
            params = canonical_json(self.row()["params"])
        else:
            params = "".join(self.params_json)
        span = canonical_json(self.span.to_json()) if self.span else "null"
        return (f'{{"fingerprint":"{self.fingerprint}","id":{_text(self.id)},'
                f'"kind":{_text(self.kind)},"label":{_text(self.label)},"params":{params},'
                f'"phase":{_text(self.phase)},"span":{span}}}')

    def row(self) -> dict[str, Any]:
        """The node as JSON data, its params left for the encoder (tuples and all)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "phase": self.phase,
            "label": self.label,
            "span": self.span.to_json() if self.span else None,
            "fingerprint": self.fingerprint,
            "params": {name: getattr(self.params, name)
                       for name in field_names(type(self.params))},
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.row(), "params": params_to_json(self.params)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanNode:
        kind = data["kind"]
        if kind not in NODE_KINDS:
            raise PlanError(f"node {data.get('id')!r} has unknown kind {kind!r}")
        span = Span.from_json(data["span"]) if data.get("span") else None
        return cls(
            id=data["id"],
            params=params_from_json(kind, data["params"]),
            phase=data["phase"],
            label=data["label"],
            span=span,
            fingerprint=data["fingerprint"],
        )


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
    """Hash of a node's canonical params: the basis of its content-addressed checkpoint key."""
    body = canonical_json({"kind": params.kind, "params": params_to_json(params)})
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Plan:
    workflow: Mapping[str, Any]
    nodes: tuple[PlanNode, ...]
    edges: tuple[PlanEdge, ...]
    subplans: Mapping[str, Plan] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

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

    def rows(self) -> dict[str, Any]:
        """Like to_json, but nodes as `row()`s: what dumps encodes."""
        return {
            "format_version": self.format_version,
            "workflow": dict(self.workflow),
            "nodes": [_Encoded(n.line()) for n in self.nodes],
            "edges": [e.to_json() for e in self.edges],
            "subplans": {k: v.rows() for k, v in sorted(self.subplans.items())},
        }

    def dumps(self) -> str:
        """Deterministic text: compiling the same input twice gives byte-identical files.

        One node or edge per line, each in canonical compact JSON: diffs of a plan in review
        show exactly the nodes that changed, and the C encoder (which `indent` would disable)
        writes a 100,000-node plan in a fraction of a second.
        """
        return _layout(self.rows(), "") + "\n"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            workflow=data["workflow"],
            nodes=tuple(PlanNode.from_json(n) for n in data["nodes"]),
            edges=tuple(
                PlanEdge(e["from"], e["to"], EdgeKind(e["kind"])) for e in data["edges"]
            ),
            subplans={k: cls.from_json(v) for k, v in data.get("subplans", {}).items()},
            format_version=data["format_version"],
        )


class _Encoded(str):
    """Text that is already canonical JSON."""


@lru_cache(maxsize=4096)
def _text(value: str) -> str:
    # Ids are unique but kinds, labels and phases repeat across a large expansion.
    return canonical_json(value)


def _layout(value: dict[str, Any], pad: str) -> str:
    lines = ["{"]
    keys = sorted(value)
    for position, key in enumerate(keys):
        item = value[key]
        head = f"{pad} {json.dumps(key)}: "
        if isinstance(item, list) and item:
            rows = [f"{pad}  {row if isinstance(row, _Encoded) else canonical_json(row)}"
                    for row in item]
            body = "[\n" + ",\n".join(rows) + f"\n{pad} ]"
        elif key == "subplans" and item:
            parts = [f"{pad}  {json.dumps(name)}: {_layout(sub, pad + '  ')}"
                     for name, sub in sorted(item.items())]
            body = "{\n" + ",\n".join(parts) + f"\n{pad} }}"
        else:
            body = canonical_json(item)
        lines.append(head + body + ("," if position < len(keys) - 1 else ""))
    lines.append(pad + "}")
    return "\n".join(lines)


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


def loads(text: str) -> Plan:
    """Parse and validate plan.json text; every problem is a PlanError with a plain message."""
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
