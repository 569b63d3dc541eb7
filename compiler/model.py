"""The canonical workflow model, steps: what a step means once every surface form is resolved.

`normalize` is the only constructor. Every later stage (lowering, checks, plan building) reads
this model and never the YAML data, so a spelling such as `on_failure: "/fix"`, a legacy
`name:` command object or `setup: {commands: [...]}` exists only in `normalize*.py`.

All classes are frozen and slotted, collections are tuples, and every node carries the span of
the YAML it came from, except the retry and error policies: they are the runtime's `policies`
classes, one definition for the normalizer and the run (nothing reports on a policy after
normalization). Strings that are interpolated at run time are `Text`, which also keeps the
data path of the scalar so expression diagnostics can point inside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Literal

from prodigy.runtime.policies import RetryPolicy
from prodigy.runtime.span import Span

if TYPE_CHECKING:  # `analysis:` runs the analyze command before the step's own
    from prodigy.compiler.commands.analyze import Analyze

DataPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Text:
    """A string the user wrote (or one the normalizer derived from what they wrote).

    `path` addresses the scalar in the loaded data, so an expression error can be placed on the
    exact characters; it is None for derived text (a legacy `name:` command turned into a
    prompt), whose diagnostics fall back to `span`.
    """

    value: str
    span: Span
    path: DataPath | None = None


# ------------------------------------------------------------------------------- commands


class Command:
    """Base of every command's model class; each command keeps its class, reader and lowering
    in its own module of `compiler/commands/`, listed once in `commands/registry.py`."""

    __slots__ = ()
    span: Span

    def nested(self) -> tuple[Step, ...]:
        """The steps this command holds (a loop's body), for walks over every step."""
        return ()


# ---------------------------------------------------------------------- step options


@dataclass(frozen=True, slots=True)
class Capture:
    """A named, typed capture of a command's result (`capture:` or `capture_output: name`)."""

    name: str
    format: Literal["string", "raw", "json", "lines", "number", "boolean"]
    # Which parts are stored besides the value: stdout, stderr, exit_code, success, duration.
    streams: tuple[tuple[str, bool], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Extract:
    """A setup `capture_outputs:` entry: a variable cut out of one setup command's output."""

    name: str
    source: Literal["stdout", "stderr", "both", "combined"]
    pattern: str | None
    json_path: str | None
    max_size: int
    default: str | None
    multiline: Literal["preserve", "join", "first_line", "last_line", "array"]
    span: Span


@dataclass(frozen=True, slots=True)
class Handler:
    """What runs when a step fails, whichever of the nine surface forms declared it.

    `max_attempts` is the total number of runs of the original command (the handler runs after
    each failed one); `fail_workflow` says whether exhausting them fails the workflow.
    """

    steps: tuple[Step, ...]
    max_attempts: int
    fail_workflow: bool
    strategy: Literal["recovery", "fallback", "cleanup", "custom"]
    handler_failure_fatal: bool
    timeout_s: float | None
    span: Span


@dataclass(frozen=True, slots=True)
class ExitHandler:
    code: int
    steps: tuple[Step, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Incomplete:
    steps: tuple[Step, ...]
    max_attempts: int
    fail_workflow: bool
    prompt: Text | None
    span: Span


@dataclass(frozen=True, slots=True)
class Validation:
    """`validate:`: measure completeness after the step, and refine while below threshold."""

    steps: tuple[Step, ...]
    result_file: Text | None
    threshold: float
    timeout_s: float | None
    expected_schema: str | None  # canonical JSON of the schema, when one is given
    on_incomplete: Incomplete | None
    span: Span


@dataclass(frozen=True, slots=True)
class Check:
    """One `step_validate` command and what its result must look like."""

    command: Text
    runner: Literal["shell", "claude"]
    expect_output: str | None
    expect_exit_code: int | None
    span: Span


@dataclass(frozen=True, slots=True)
class Verify:
    """`step_validate:`: commands that must succeed after the step ran."""

    checks: tuple[Check, ...]
    criteria: Literal["all", "any", "at_least"]
    at_least: int | None
    max_attempts: int
    retry_delay_s: float
    timeout_s: float | None
    fail_workflow: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Output:
    """A named output of a step (`outputs: {spec: {file_pattern: ...}}`), read as `${id.name}`."""

    name: str
    file_pattern: str
    span: Span


@dataclass(frozen=True, slots=True)
class CommitConfig:
    message_template: str | None
    message_pattern: str | None
    sign: bool
    author: str | None
    include_files: tuple[str, ...]
    exclude_files: tuple[str, ...]
    squash: bool
    span: Span


PermissionMode = Literal["bypassPermissions", "acceptEdits", "plan", "default"]


@dataclass(frozen=True, slots=True)
class ClaudeOptions:
    """How a claude step runs the CLI, as one level says it: the step, `defaults:` or the
    workflow's top level. None is "not said here": the next level's value, else the
    default `ClaudeParams` gives it."""

    model: str | None = None
    max_turns: int | None = None
    allowed_tools: tuple[str, ...] | None = None
    disallowed_tools: tuple[str, ...] | None = None
    permission_mode: PermissionMode | None = None
    append_system_prompt: Text | None = None  # a template, like the prompt

    def over(self, base: ClaudeOptions) -> ClaudeOptions:
        """These options, with `base`'s where these say nothing."""
        mine = {f.name: getattr(self, f.name) for f in fields(self)}
        return ClaudeOptions(**{name: getattr(base, name) if value is None else value
                                for name, value in mine.items()})


@dataclass(frozen=True, slots=True)
class Budget:
    """`max_cost_usd` and `max_tokens` of the run, of a map, or of one claude step."""

    max_cost_usd: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One step of any phase: standard, setup, map agent, reduce, merge, handler and loop bodies.

    `command` is None only for a step that is nothing but a `validate:` check.
    """

    command: Command | None
    span: Span
    id: Text | None = None
    label: str | None = None
    when: Text | None = None
    env: tuple[tuple[str, Text], ...] = ()
    working_dir: Text | None = None
    clear_env: bool = False
    allow_outside: bool = False  # working_dir / write_file path may leave the run's dir
    timeout_s: float | None = None
    capture: Capture | None = None
    output_file: Text | None = None
    commit_required: bool = False
    auto_commit: bool = False
    commit_config: CommitConfig | None = None
    outputs: tuple[Output, ...] = ()
    analysis: Analyze | None = None  # a fresh codebase analysis to run before the command
    retry: RetryPolicy | None = None
    on_failure: Handler | None = None
    on_success: tuple[Step, ...] = ()
    on_exit_code: tuple[ExitHandler, ...] = ()
    validation: Validation | None = None
    verify: Verify | None = None
    extracts: tuple[Extract, ...] = ()
    # The sub-workflows and templates it was inlined from, outermost first (compose*.py).
    group: tuple[str, ...] = ()


def substeps(step: Step) -> Iterator[Step]:
    """The steps nested directly in `step`: handler, loop and validation bodies."""
    if step.command is not None:
        yield from step.command.nested()
    if step.on_failure is not None:
        yield from step.on_failure.steps
    yield from step.on_success
    for exit_handler in step.on_exit_code:
        yield from exit_handler.steps
    if step.validation is not None:
        yield from step.validation.steps
        if step.validation.on_incomplete is not None:
            yield from step.validation.on_incomplete.steps
