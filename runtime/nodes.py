"""The one registry of plan node kinds and their typed, frozen params.

Each kind is a frozen dataclass registered with `@node_kind`. Params hold only JSON-shaped data
(str, numbers, bools, None, tuples, mappings); expressions are stored already parsed, in the
compact encoding of `prodigy.runtime.expr.codec`, so the runtime never parses YAML or grammar.
The JSON codec is generic over dataclass fields: adding a kind means adding one class here and
one op, `OP` in `runtime/ops/<kind>.py`, nothing else.

The classes are also the source of the per-kind part of `schemas/plan.schema.json`
(`runtime/plan_schema.py`, `make schemas`): each field's type, default and comment (the
comment lines right above it, then the one on its line) become its JSON type, default and
description, and the first paragraph of the class's docstring the kind's description. What the
Python type cannot say is added with `Annotated[type, Schema(...)]`; the aliases below name
the shapes that recur.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, TypeVar


class Schema:
    """JSON Schema keywords a field adds to what its type says (`minimum=1`, `enum=(...)`);
    `ref="name"` puts the plan schema's shared definition `name` in place of the type."""

    __slots__ = ("keywords",)

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords


# An interpolated string, encoded (plain str when it has no variables); or one, or None.
Template = Annotated[Any, Schema(ref="template")]
OptionalTemplate = Annotated[Any, Schema(ref="optionalTemplate")]
Expression = Annotated[Any, Schema(ref="expression")]  # a condition or filter, encoded
SortSpec = Annotated[Any, Schema(ref="sortSpec")]  # a `sort:` spec, encoded
Timeout = Annotated[float | None, Schema(ref="seconds")]  # seconds; None for no limit
Duration = Annotated[float, Schema(minimum=0)]  # seconds
Count = Annotated[int, Schema(minimum=0)]
Positive = Annotated[int, Schema(minimum=1)]
Percent = Annotated[float, Schema(minimum=0, maximum=100)]
Dollars = Annotated[float, Schema(exclusiveMinimum=0)]
# `policies.RetryPolicy.to_json()`, and one check of a `verify` node.
RetryJson = Annotated[Mapping[str, Any], Schema(ref="retry")]
CheckJson = Annotated[Mapping[str, Any], Schema(ref="check")]


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

    # Variables whose values are known at compile time (foreach item/index/total, --arg and
    # literal env values the node reads); laid over the run's variables and part of the
    # fingerprint.
    bindings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # The sub-workflows and templates the step was inlined from, outermost first (`workflow
    # build`, `template ci`): the pictures draw each as a cluster; the run does not read it.
    group: tuple[str, ...] = dataclasses.field(default=(), metadata={"late": True})
    # The foreach loop (its closing barrier's id) whose items this node is one of, when the
    # items run at most that barrier's `limit` at once: the run holds the limit, not edges.
    pool: str = dataclasses.field(default="", metadata={"late": True})


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

    # Step environment: name -> template.
    env: Mapping[str, Template] = dataclasses.field(default_factory=dict)
    # Directory to run in, relative to the worktree (template), or null.
    working_dir: OptionalTemplate = None
    clear_env: bool = False  # Start from an empty environment plus `env`.
    timeout_s: Timeout = None  # Stop the command after this many seconds; null for no limit.
    retry: RetryJson | None = None  # Retry policy, or null.
    # Variable the typed result is captured into (`capture:`/`capture_output`), or null.
    capture: str | None = None
    # How captured stdout is parsed.
    capture_format: Annotated[str, Schema(enum=("string", "raw", "json", "lines", "number",
                                                 "boolean"))] = "string"
    # Which of stdout, stderr, exit_code, success, duration the capture stores.
    capture_streams: Mapping[str, bool] = dataclasses.field(default_factory=dict)
    # File the command's stdout is written to (template), or null.
    output_file: OptionalTemplate = None
    commit_required: bool = False  # The command must create at least one git commit.
    auto_commit: bool = False  # Commit whatever changes the command leaves behind.
    # message_template, message_pattern, sign, author, include_files, exclude_files, squash;
    # or null.
    commit_config: Mapping[str, Any] | None = None
    # The user's step `id:`; outputs are published as `<step_id>.*`.
    step_id: str | None = None
    # Named outputs: name -> file glob, published as `<step_id>.<name>`.
    outputs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Setup `capture_outputs`: variable -> {source, pattern, json_path, max_size, default,
    # multiline}, cut out of this node's output.
    extract: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    # Exit code (as text) -> entry node of the body run for that code.
    on_exit_code: Annotated[Mapping[str, str], Schema(propertyNames={"pattern": "^-?[0-9]+$"})
                            ] = dataclasses.field(default_factory=dict)
    # A later node refers to this step's git changes (`${step.files_changed}`, ...): HEAD is
    # read before it runs, and what it changed is published as `step.*` (runtime/git/changes.py).
    track_changes: bool = late(False)
    # `working_dir` and a `write_file` path may lie outside the run's directory (the step's
    # `allow_outside: true`); late, so plans of workflows that do not set it are unchanged.
    allow_outside: bool = late(False)


@node_kind("shell")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ShellParams(StepParams):
    """A shell command, run as `<shell> -c <command>`."""

    command: Template  # The command (template).
    shell: str = "sh"  # The shell binary.


@node_kind("claude")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClaudeParams(StepParams):
    """One Claude Code CLI call. The options come from the step, else `defaults:`, else the
    workflow's top level; the budgets (`max_cost_usd`, `max_tokens`) are the step's own."""

    repeatable: ClassVar[bool] = False
    prompt: Template  # The prompt, usually a slash command with arguments (template).
    # `--model`: the model the agent runs; null for the CLI's default.
    model: str | None = late(None)
    # `--max-turns`: the most turns the agent may take; null for no limit.
    max_turns: Positive | None = late(None)
    # `--allowedTools`: tools the agent may use without asking; empty for none listed.
    allowed_tools: tuple[str, ...] = late(())
    # `--disallowedTools`: tools the agent may not use; empty for none.
    disallowed_tools: tuple[str, ...] = late(())
    # `--permission-mode`; `bypassPermissions` (the default) runs tools without asking, which
    # the CLI refuses as root unless IS_SANDBOX=1 is set.
    permission_mode: Annotated[str, Schema(enum=("bypassPermissions", "acceptEdits", "plan",
                                                 "default"))] = late("bypassPermissions")
    # `--append-system-prompt` (template), or null.
    append_system_prompt: OptionalTemplate = late(None)
    max_cost_usd: Dollars | None = late(None)  # Budget of this node alone, US dollars, or null.
    max_tokens: Positive | None = late(None)  # Token budget of this node alone, or null.


@node_kind("write_file")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WriteFileParams(StepParams):
    """Write interpolated content to a file under the working directory."""

    path: Template  # Path relative to the working directory (template).
    content: Template  # Content (template).
    # text, or json/yaml (validated, re-emitted: JSON pretty-printed).
    format: Annotated[str, Schema(enum=("text", "json", "yaml"))] = "text"
    mode: Annotated[str, Schema(pattern="^[0-7]{3,4}$")] = "0644"  # Octal permissions.
    create_dirs: bool = False  # Create missing parent directories.


@node_kind("analyze")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AnalyzeParams(StepParams):
    """Refresh the codebase analysis later Claude commands read."""

    max_cache_age_s: Duration = 300  # Reuse a cached analysis younger than this.
    force_refresh: bool = False  # Ignore the cache.
    save: bool = True  # Store the analysis for later runs.
    # How much the analysis records.
    format: Annotated[str, Schema(enum=("summary", "detailed", "json"))] = "summary"


# --- control flow ---------------------------------------------------------------------------


@node_kind("gate")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GateParams(NodeParams):
    """A `when:` condition; false skips every node the gate guards (GATE edges)."""

    when: Expression  # The condition (expression encoding).


@node_kind("handler")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HandlerParams(NodeParams):
    """The policy of an on_failure handler; its body hangs off it by SEQUENCE edges.

    The body runs after each failed attempt of the node it handles; the node runs at most
    `max_attempts` times in total. `strategy` is informative (recovery | fallback | cleanup |
    custom); `handler_failure_fatal` fails the run when the body itself fails; `timeout_s`
    limits each body command.
    """

    max_attempts: Positive = 1  # Total runs of the handled node.
    fail_workflow: bool = False  # Whether exhausting the attempts fails the run.
    # What the handler is for (informative).
    strategy: Annotated[str, Schema(enum=("recovery", "fallback", "cleanup", "custom"))] = (
        "recovery")
    handler_failure_fatal: bool = False  # A failure inside the body fails the run.
    timeout_s: Timeout = None  # Time limit of each body command.


@node_kind("barrier")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BarrierParams(NodeParams):
    """A join: the end of a phase (`setup`, `main`, `map`, `reduce`) or of an expanded foreach."""

    closes: str  # What it closes: setup, main, map, reduce, or foreach.
    # A foreach's `parallel`: at most this many of the nodes whose `pool` is this barrier run
    # at once (0: the barrier holds no pool).
    limit: Count = late(0)


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

    commands: str | None = None  # Sub-plan of validation commands, or null.
    # File holding the result JSON (template), or null for the last command's stdout.
    result_file: OptionalTemplate = None
    threshold: Percent = 100  # Completion percentage that passes.
    timeout_s: Timeout = None  # Time limit of the validation.
    # JSON Schema the result should match, or null.
    expected_schema: Mapping[str, Any] | None = None
    on_incomplete: str | None = None  # Sub-plan run while incomplete, or null.
    max_attempts: Positive = 2  # Validations at most (refinements in between).
    fail_workflow: bool = True  # Still incomplete after the attempts fails the node.
    prompt: OptionalTemplate = None  # Text shown when still incomplete (template), or null.


@node_kind("goal_seek")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GoalSeekParams(NodeParams):
    """Run sub-plan `attempt`, score it with the shell command `validate` (JSON `{score}` or a
    `score: N` line), repeat until the score reaches `threshold` or `max_attempts` runs."""

    goal: str  # What the loop is for (informative).
    attempt: str  # Sub-plan run on each attempt.
    validate: Template  # Shell command printing the score (template).
    threshold: Percent = 100  # Score that ends the loop.
    max_attempts: Positive = 3  # Attempts at most.
    timeout_s: Timeout = None  # Time limit of the whole loop.
    fail_on_incomplete: bool = False  # Not reaching the threshold fails the node.


@node_kind("verify")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VerifyParams(NodeParams):
    """`step_validate`: check commands run after the step; `criteria` all | any | at_least.

    Each check is {command: encoded, runner: shell|claude, expect_output: regex|None,
    expect_exit_code: int|None (default: success)}.
    """

    checks: tuple[CheckJson, ...]  # The checks, in order.
    # How many checks must pass.
    criteria: Annotated[str, Schema(enum=("all", "any", "at_least"))] = "all"
    at_least: Count | None = None  # For criteria at_least: how many.
    max_attempts: Positive = 1  # Runs of the checks at most.
    retry_delay_s: Duration = 0  # Pause between runs of the checks.
    timeout_s: Timeout = None  # Time limit of each check.
    fail_workflow: bool = True  # Failing checks fail the node.


@node_kind("foreach")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ForeachParams(NodeParams):
    """Run sub-plan `body` once per item, binding `item`, `index` (0-based) and `total`.

    Items are the literal `items`, or the non-empty stdout lines of shell `command`. At most
    `parallel` items run at once. With `continue_on_error` failed items do not fail the node.
    """

    body: str  # Sub-plan run per item.
    items: tuple[str, ...] | None = None  # Literal items, or null when `command` produces them.
    # Shell command whose non-empty stdout lines are the items (template), or null.
    command: OptionalTemplate = None
    parallel: Positive = 1  # Items run at once.
    continue_on_error: bool = False  # Failed items do not fail the node.
    max_items: Count | None = None  # Use only the first N items.


@node_kind("map")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MapParams(NodeParams):
    """The map phase: load work items, select them, run sub-plan `agent` once per item.

    `input` is a JSON file path or a shell command; selection order is json_path, filter,
    sort, distinct, offset, max_items. Agents see `item`, `item_index`, `item_total`,
    `item_id`, `item_json`. Later nodes read `map.results`, `map.successful`, `map.failed`,
    `map.total`.
    """

    input: Template  # JSON file path or shell command producing the items (template).
    agent: str  # Sub-plan run per item.
    json_path: str = ""  # JSONPath selecting the items; empty for the whole input.
    filter: Expression | None = None  # Item filter (expression encoding), or null.
    sort: SortSpec | None = None  # Sort spec (expression encoding), or null.
    distinct: str | None = None  # Field whose first occurrence is kept, or null.
    offset: Count = 0  # Items skipped after sorting.
    max_items: Count | None = None  # Items used at most.
    max_parallel: Positive = 10  # Agents run at once.
    agent_timeout_s: Timeout = None  # Time limit of one agent.
    # What the agent timeout applies to.
    timeout_policy: Annotated[str, Schema(enum=("per_agent", "per_command", "hybrid"))] = (
        "per_agent")
    # Per-command time limits by command name.
    command_timeouts: Mapping[str, Duration] = dataclasses.field(default_factory=dict)
    cleanup_grace_s: Count | None = None  # Grace period before a timed-out agent is killed.
    # What happens to a timed-out item.
    timeout_action: Annotated[str, Schema(enum=("dlq", "skip", "fail", "graceful_terminate"))
                              ] = "dlq"
    monitoring: bool = False  # Report agent progress while running.
    # on_item_failure, custom_handler, continue_on_failure, max_failures, failure_threshold,
    # error_collection, batch_size, circuit_breaker, retry; or null.
    error_policy: Mapping[str, Any] | None = None
    # Budget of the map's claude nodes together, US dollars, or null: once reached, no new
    # claude node starts and the items not started stay pending.
    max_cost_usd: Dollars | None = late(None)
    # Token budget of the map's claude nodes together, or null (as max_cost_usd).
    max_tokens: Positive | None = late(None)
