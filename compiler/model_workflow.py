"""The canonical workflow model, workflow level: environment, phases, policies, the Workflow.

See `model` for the conventions (frozen, slotted, tuples, a span everywhere); `normalize` is
the only constructor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from prodigy.compiler.model import Budget, ClaudeOptions, Step, Text, substeps
from prodigy.runtime.policies import ErrorPolicy
from prodigy.runtime.span import Span

Json = str | int | float | bool | None | tuple["Json", ...] | tuple[tuple[str, "Json"], ...]


@dataclass(frozen=True, slots=True)
class EnvText:
    text: Text


@dataclass(frozen=True, slots=True)
class EnvCommand:
    """A value computed at run time from a command's stdout."""

    command: Text
    cache: bool


@dataclass(frozen=True, slots=True)
class EnvCondition:
    condition: Text
    when_true: Text
    when_false: Text


@dataclass(frozen=True, slots=True)
class EnvSecretRef:
    """A secret read at run time from a provider (`env`: an environment variable)."""

    provider: str
    key: str
    version: str | None


EnvValue = EnvText | EnvCommand | EnvCondition | EnvSecretRef


@dataclass(frozen=True, slots=True)
class EnvVar:
    name: str
    value: EnvValue
    span: Span


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str | None
    env: tuple[EnvVar, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Phase:
    name: Literal["main", "setup", "reduce", "merge"]
    steps: tuple[Step, ...]
    timeout_s: float | None
    span: Span


@dataclass(frozen=True, slots=True)
class MapTimeouts:
    command_timeouts: tuple[tuple[str, float], ...]
    policy: Literal["per_agent", "per_command", "hybrid"]
    cleanup_grace_s: int | None
    action: Literal["dlq", "skip", "fail", "graceful_terminate"]
    monitoring: bool


@dataclass(frozen=True, slots=True)
class MapPhase:
    input: Text
    json_path: Text | None
    filter: Text | None
    sort_by: Text | None
    distinct: str | None
    offset: int
    max_items: int | None
    max_parallel: int
    agent: tuple[Step, ...]
    agent_timeout_s: float | None
    timeouts: MapTimeouts | None
    span: Span
    budget: Budget = field(default_factory=Budget)  # of the map's claude nodes together


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: str  # string | number | integer | boolean | array | object | any
    required: bool
    default: str | None
    validation: str | None  # a regex the value must match
    description: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class WorktreeConfig:
    parallel_worktrees: int | None
    allocation_strategy: str | None
    cleanup: tuple[tuple[str, Json], ...]
    limits: tuple[tuple[str, Json], ...]
    branch_prefix: str | None


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """How often a run saves progress for `prodigy resume` (`checkpoint:`)."""

    interval_items: int | None
    interval_s: float | None
    max_checkpoints: int | None
    max_age_s: float | None


@dataclass(frozen=True, slots=True)
class Workflow:
    mode: Literal["standard", "mapreduce"]
    span: Span
    name: str | None = None
    description: str | None = None
    version: str | None = None
    env: tuple[EnvVar, ...] = ()
    secrets: tuple[EnvVar, ...] = ()  # values are always EnvSecretRef: names, never values
    env_files: tuple[Text, ...] = ()
    profiles: tuple[Profile, ...] = ()
    profile: str | None = None  # the active profile, already applied to `env`
    parameters: tuple[Parameter, ...] = ()
    args: tuple[tuple[str, str], ...] = ()  # bound --arg/--args values and parameter defaults
    main: Phase | None = None
    setup: Phase | None = None
    map: MapPhase | None = None
    reduce: Phase | None = None
    merge: Phase | None = None
    error_policy: ErrorPolicy | None = None
    max_iterations: int | None = None
    in_place: bool = False  # in the checkout, not a worktree of the run's own
    timeout_s: float | None = None
    worktree: WorktreeConfig | None = None
    checkpoint: CheckpointPolicy | None = None
    claude: ClaudeOptions = field(default_factory=ClaudeOptions)  # `defaults:` over top level
    budget: Budget = field(default_factory=Budget)  # of the whole run

    @property
    def phases(self) -> tuple[Phase, ...]:
        """The step phases in run order (the map agent template is not one of them)."""
        found = (self.main, self.setup, self.reduce, self.merge)
        return tuple(p for p in found if p is not None)


def walk_steps(workflow: Workflow) -> Iterator[Step]:
    """Every step of the workflow, nested ones included, in source order."""
    roots: list[Step] = []
    if workflow.setup is not None:
        roots.extend(workflow.setup.steps)
    if workflow.main is not None:
        roots.extend(workflow.main.steps)
    if workflow.map is not None:
        roots.extend(workflow.map.agent)
    for phase in (workflow.reduce, workflow.merge):
        if phase is not None:
            roots.extend(phase.steps)
    stack = list(reversed(roots))
    while stack:
        step = stack.pop()
        yield step
        stack.extend(reversed(list(substeps(step))))
