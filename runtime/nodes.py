"""The one registry of plan node kinds and their typed, frozen params.

Each kind is a frozen dataclass registered with `@node_kind`. Params hold only JSON-shaped data
(str, numbers, bools, None, tuples, mappings); expressions are stored already parsed, in the
compact encoding of `prodigy.runtime.expr.codec`, so the runtime never parses YAML or grammar.
The JSON codec is generic over dataclass fields: adding a kind means adding one class here and
one op in `runtime/ops/`, nothing else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

Encoded = Any  # an expression in its compact JSON encoding (plain str when it has no variables)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NodeParams:
    """Base of every node kind's params. `kind` is the JSON tag, set by @node_kind."""

    kind: ClassVar[str] = ""


NODE_KINDS: dict[str, type[NodeParams]] = {}
P = TypeVar("P", bound=type[NodeParams])


def node_kind(name: str) -> Callable[[P], P]:
    def register(cls: P) -> P:
        if name in NODE_KINDS:
            raise KeyError(f"node kind {name!r} registered twice")
        cls.kind = name
        NODE_KINDS[name] = cls
        return cls

    return register


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def params_to_json(params: NodeParams) -> dict[str, Any]:
    encoded: dict[str, Any] = _to_json(params)
    return encoded


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    return value


def params_from_json(kind: str, data: Mapping[str, Any]) -> NodeParams:
    cls = NODE_KINDS[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{kind} node has unknown params {sorted(unknown)}")
    return cls(**{k: _freeze(v) for k, v in data.items()})


# --- common policy shared by every executable step --------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StepParams(NodeParams):
    """What every command-running node carries, whatever runs the command."""

    env: Mapping[str, Encoded] = dataclasses.field(default_factory=dict)
    working_dir: Encoded = None
    timeout_s: float | None = None
    retry: Mapping[str, Any] | None = None  # attempts, backoff, delays, jitter, retry_on...
    capture: str | None = None  # variable name for the typed capture (`capture:`/`capture_output`)
    capture_format: str = "string"  # string | json | lines | number | boolean
    capture_streams: Mapping[str, bool] = dataclasses.field(default_factory=dict)
    output_file: Encoded = None
    commit_required: bool = False


@node_kind("shell")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ShellParams(StepParams):
    command: Encoded
    shell: str = "sh"
    on_exit_code: Mapping[str, str] = dataclasses.field(default_factory=dict)  # code -> node id


@node_kind("claude")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClaudeParams(StepParams):
    prompt: Encoded
