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
    """Base of every node kind's params. `kind` is the JSON tag, set by @node_kind.

    `bindings` are variables whose values the compiler already knows and the node depends on:
    `item`/`index`/`total` of a foreach item expanded at compile time, and the `--arg` values
    and literal workflow env values the node's expressions read. They sit on top of the run's
    variables when the node's expressions are evaluated, and, being params, they are part of
    the node's fingerprint, so two items never share a checkpoint.
    """

    kind: ClassVar[str] = ""
    # Whether running it again on the same inputs gives the same output (a shell command is
    # taken to; an agent's answer is not): the dry run tells what downstream nodes will rerun.
    repeatable: ClassVar[bool] = True
    bindings: Mapping[str, Any] = dataclasses.field(default_factory=dict)


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


_SCALARS = (str, int, float, bool, type(None))
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, computed once per class (plans hold 100,000s of params)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _to_json(value: Any) -> Any:
    # Exact type tests first: this runs for every value of every node of a plan.
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is tuple or kind is list:
        return [_to_json(v) for v in value]
    if kind is dict:
        return {str(k): _to_json(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _to_json(getattr(value, name)) for name in field_names(kind)}
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def params_to_json(params: NodeParams) -> dict[str, Any]:
    cls = type(params)
    out = {name: _to_json(getattr(params, name)) for name in field_names(cls)}
    for name, default in late_defaults(cls):
        if type(out[name]) is type(default) and out[name] == default:
            del out[name]
    return out


def late(default: Any) -> Any:
    """A field added after plans were first fingerprinted: `params_to_json` leaves it out
    while it holds its default, so adding it changed no fingerprint (no checkpoint key, no
    golden plan). `default` must be a JSON scalar or the empty tuple."""
    return dataclasses.field(default=default, metadata={"late": True})


_LATE: dict[type, tuple[tuple[str, Any], ...]] = {}


def late_defaults(cls: type) -> tuple[tuple[str, Any], ...]:
    found = _LATE.get(cls)
    if found is None:
        # Compared with the field's JSON form: an empty tuple is `[]` there.
        found = _LATE[cls] = tuple((f.name, _to_json(f.default)) for f in dataclasses.fields(cls)
                                   if f.metadata.get("late"))
    return found


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    return value


def thaw(value: Any) -> Any:
    """Frozen params data (tuples) back to plain JSON data (lists), e.g. for the expr codec."""
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    return value


def params_from_json(kind: str, data: Mapping[str, Any]) -> NodeParams:
    cls = NODE_KINDS[kind]
    names = set(field_names(cls))
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{kind} node has unknown params {sorted(unknown)}")
    return cls(**{k: _freeze(v) for k, v in data.items()})


# --- common policy shared by every executable step --------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StepParams(NodeParams):
    """What every command-running node carries, whatever runs the command.

    Values it publishes for later nodes (the compiler draws DATA edges from them): its output
    as `<kind>.output` (`shell.output`, `claude.output`, `write_file.output`; also `.stderr`,
    `.exit_code`, `.success`), its git changes as `step.*` (with `track_changes`), its
    `capture` variable (with `.stderr`, `.exit_code`, `.success`, `.duration` as
    `capture_streams` says), `<step_id>.output` and `<step_id>.<name>` for each of `outputs`,
    and each `extract` variable.
    """

    env: Mapping[str, Encoded] = dataclasses.field(default_factory=dict)
    working_dir: Encoded = None
    clear_env: bool = False  # start from an empty environment plus `env`
    timeout_s: float | None = None
    # attempts (total runs), backoff (fixed|linear|exponential|fibonacci|custom),
    # initial_delay_s, max_delay_s, increment_s, base, delays_s, jitter, jitter_factor,
    # retry_on (network|timeout|server_error|rate_limit), retry_on_patterns (regexes), budget_s
    retry: Mapping[str, Any] | None = None
    capture: str | None = None  # variable name for the typed capture (`capture:`/`capture_output`)
    capture_format: str = "string"  # string | json | lines | number | boolean
    capture_streams: Mapping[str, bool] = dataclasses.field(default_factory=dict)
    output_file: Encoded = None
    commit_required: bool = False
    auto_commit: bool = False
    # message_template, message_pattern, sign, author, include_files, exclude_files, squash
    commit_config: Mapping[str, Any] | None = None
    step_id: str | None = None  # the user's `id:`; outputs are published as `<step_id>.*`
    outputs: Mapping[str, str] = dataclasses.field(default_factory=dict)  # name -> file glob
    # Setup `capture_outputs`: variable -> {source, pattern, json_path, max_size, default,
    # multiline}, cut out of this node's output.
    extract: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    on_exit_code: Mapping[str, str] = dataclasses.field(default_factory=dict)  # code -> node id
    # A later node refers to this step's git changes (`${step.files_changed}`, ...): read HEAD
    # before it runs and publish what it changed as `step.*` (runtime/git/changes.py).
    track_changes: bool = late(False)


@node_kind("shell")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ShellParams(StepParams):
    command: Encoded
    shell: str = "sh"


@node_kind("claude")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClaudeParams(StepParams):
    """One Claude Code CLI call. The options come from the step, else `defaults:`, else the
    workflow's top level; the budgets (`max_cost_usd`, `max_tokens`) are the step's own."""

    repeatable: ClassVar[bool] = False
    prompt: Encoded
    model: str | None = late(None)  # `--model`; None: the CLI's default
    max_turns: int | None = late(None)  # `--max-turns`
    allowed_tools: tuple[str, ...] = late(())  # `--allowedTools`; empty: none listed
    disallowed_tools: tuple[str, ...] = late(())  # `--disallowedTools`
    # bypassPermissions (tools run without asking; as root the CLI needs IS_SANDBOX=1) |
    # acceptEdits | plan | default
    permission_mode: str = late("bypassPermissions")
    # `--append-system-prompt` (template). RUF009 cannot tell that `late` makes a field.
    append_system_prompt: Encoded | None = late(None)  # noqa: RUF009
    max_cost_usd: float | None = late(None)  # this node's spend limit, US dollars
    max_tokens: int | None = late(None)  # this node's token limit


@node_kind("write_file")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WriteFileParams(StepParams):
    path: Encoded
    content: Encoded
    format: str = "text"  # text | json (validated, pretty-printed) | yaml (validated)
    mode: str = "0644"  # octal permissions
    create_dirs: bool = False


@node_kind("analyze")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AnalyzeParams(StepParams):
    """Refresh the codebase analysis later Claude commands read."""

    max_cache_age_s: float = 300
    force_refresh: bool = False
    save: bool = True
    format: str = "summary"  # summary | detailed | json


# --- control flow ---------------------------------------------------------------------------


@node_kind("gate")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GateParams(NodeParams):
    """A `when:` condition; false skips every node the gate guards (GATE edges)."""

    when: Encoded


@node_kind("handler")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HandlerParams(NodeParams):
    """The policy of an on_failure handler; its body hangs off it by SEQUENCE edges.

    The body runs after each failed attempt of the node it handles; the node runs at most
    `max_attempts` times in total. `strategy` is informative (recovery | fallback | cleanup |
    custom); `handler_failure_fatal` fails the run when the body itself fails; `timeout_s`
    limits each body command.
    """

    max_attempts: int = 1
    fail_workflow: bool = False
    strategy: str = "recovery"
    handler_failure_fatal: bool = False
    timeout_s: float | None = None


@node_kind("barrier")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BarrierParams(NodeParams):
    """A join: the end of a phase (`setup`, `main`, `map`, `reduce`) or of an expanded foreach."""

    closes: str


# --- loops and expansions (bodies are sub-plans in Plan.subplans) ----------------------------


@node_kind("validate")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ValidateParams(NodeParams):
    """Measure the completeness of the step before it, and refine while below `threshold`.

    Runs sub-plan `commands` (if any), then reads the result JSON from `result_file`, else from
    the last command's stdout ({completion_percentage, status, implemented, missing, gaps};
    non-JSON output of a successful command counts as complete). While incomplete, runs
    sub-plan `on_incomplete` (with `${validation.*}` set) and validates again, up to
    `max_attempts` times; still incomplete then fails the node if `fail_workflow`.
    """

    commands: str | None = None
    result_file: Encoded = None
    threshold: float = 100
    timeout_s: float | None = None
    expected_schema: Mapping[str, Any] | None = None
    on_incomplete: str | None = None
    max_attempts: int = 2
    fail_workflow: bool = True
    prompt: Encoded = None


@node_kind("goal_seek")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GoalSeekParams(NodeParams):
    """Run sub-plan `attempt`, score it with the shell command `validate` (JSON `{score}` or a
    `score: N` line), repeat until the score reaches `threshold` or `max_attempts` runs."""

    goal: str
    attempt: str
    validate: Encoded
    threshold: float = 100
    max_attempts: int = 3
    timeout_s: float | None = None
    fail_on_incomplete: bool = False


@node_kind("verify")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VerifyParams(NodeParams):
    """`step_validate`: check commands run after the step; `criteria` all | any | at_least.

    Each check is {command: encoded, runner: shell|claude, expect_output: regex|None,
    expect_exit_code: int|None (default: success)}.
    """

    checks: tuple[Mapping[str, Any], ...]
    criteria: str = "all"
    at_least: int | None = None
    max_attempts: int = 1
    retry_delay_s: float = 0
    timeout_s: float | None = None
    fail_workflow: bool = True


@node_kind("foreach")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ForeachParams(NodeParams):
    """Run sub-plan `body` once per item, binding `item`, `index` (0-based) and `total`.

    Items are the literal `items`, or the non-empty stdout lines of shell `command`. At most
    `parallel` items run at once. With `continue_on_error` failed items do not fail the node.
    """

    body: str
    items: tuple[str, ...] | None = None
    command: Encoded = None
    parallel: int = 1
    continue_on_error: bool = False
    max_items: int | None = None


@node_kind("map")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MapParams(NodeParams):
    """The map phase: load work items, select them, run sub-plan `agent` once per item.

    `input` is a JSON file path or a shell command; selection order is json_path, filter,
    sort, distinct, offset, max_items. Agents see `item`, `item_index`, `item_total`,
    `item_id`, `item_json`. Later nodes read `map.results`, `map.successful`, `map.failed`,
    `map.total`.
    """

    input: Encoded
    agent: str
    json_path: str = ""
    filter: Encoded = None
    sort: Encoded = None
    distinct: str | None = None
    offset: int = 0
    max_items: int | None = None
    max_parallel: int = 10
    agent_timeout_s: float | None = None
    timeout_policy: str = "per_agent"  # per_agent | per_command | hybrid
    command_timeouts: Mapping[str, float] = dataclasses.field(default_factory=dict)
    cleanup_grace_s: int | None = None
    timeout_action: str = "dlq"  # dlq | skip | fail | graceful_terminate
    monitoring: bool = False
    # on_item_failure, custom_handler, continue_on_failure, max_failures, failure_threshold,
    # error_collection, batch_size, circuit_breaker, retry
    error_policy: Mapping[str, Any] | None = None
    # Budgets of the whole map (its agents' claude nodes together): once reached, no new
    # claude node starts and the items not started stay pending.
    max_cost_usd: float | None = late(None)
    max_tokens: int | None = late(None)
