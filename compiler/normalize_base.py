"""Shared machinery of the normalizer: schema-checked field access and value conversions.

`READS` is the one list of the workflow fields the normalizer reads, keyed by the schema
definition (`$defs` name, `/`-separated for an object nested in one) that declares them.
`Fields.get` refuses any other key, and `tests/compiler/test_model_schema.py` checks that `READS`
and `schemas/workflow.schema.json` name the same properties, so the schema stays the single
source of truth for field names.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from prodigy.compiler.model import Budget, DataPath, Text
from prodigy.compiler.source import SourceMap
from prodigy.runtime.diagnostics import Diagnostic, Severity
from prodigy.runtime.policies import RetryPolicy
from prodigy.runtime.span import Span

# The options of a step mapping. Its command keys, and the fields of each command's own
# mapping, are declared by the command modules (`compiler/commands/`): their readers pass them
# to `Fields` themselves (`STEP_FIELDS` in normalize_steps.py).
STEP_OPTIONS = ("name", "args", "options", "metadata", "id", "description", "timeout", "when",
                "capture_output", "capture", "capture_format", "capture_streams", "output_file",
                "output", "env", "working_dir", "clear_env", "allow_outside", "temporary",
                "commit_required", "commit_config", "auto_commit", "outputs", "analysis",
                "on_success", "on_failure", "on_exit_code", "retry", "validate", "step_validate",
                "skip_validation", "validation_timeout", "ignore_validation_failure",
                "allow_failure", "continue_on_error", "fail_workflow", "max_attempts",
                "retry_config")
# How a claude step runs the CLI: set on the step, in `defaults:` or at the workflow's top
# level (`compiler/commands/claude.py` reads them). Budgets are set at the top level (the
# run's), on `map:` (the map's) and on a claude step (its own), never in `defaults:`.
CLAUDE_KEYS = ("model", "max_turns", "allowed_tools", "disallowed_tools", "permission_mode",
               "append_system_prompt")
BUDGET_KEYS = ("max_cost_usd", "max_tokens")
_WORKFLOW = ("name", "description", "version", "mode", "env", "secrets", "env_files",
             "profiles", "active_profile", "merge", "retry_defaults", "worktree_config",
             "timeout", "imports", "template", "templates", "extends", "parameters",
             "defaults", "workflows", "sub_workflows", "checkpoint", "in_place", *CLAUDE_KEYS,
             *BUDGET_KEYS)

_CHECKPOINT = ("interval_items", "interval_duration", "max_checkpoints", "max_age")
# What a capture stores besides the value unless `capture_streams` says otherwise (upstream's
# default: exit code, success and duration, not stderr).
DEFAULT_STREAMS = (("stdout", True), ("stderr", False), ("exit_code", True), ("success", True),
                   ("duration", True))

READS: dict[str, frozenset[str]] = {
    name: frozenset(fields)
    for name, fields in {
        "standardWorkflow": (*_WORKFLOW, "commands", "steps", "tasks", "max_iterations"),
        "mapReduceWorkflow": (*_WORKFLOW, "setup", "map", "reduce", "error_policy",
                              "on_item_failure", "continue_on_failure", "max_failures",
                              "failure_threshold", "error_collection"),
        "standardWorkflow/checkpoint": _CHECKPOINT,
        "mapReduceWorkflow/checkpoint": _CHECKPOINT,
        "commandMetadata": ("retries", "timeout", "continue_on_error", "env", "commit_required"),
        "outputDecl": ("file_pattern",),
        "analysisConfig": ("force_refresh", "max_cache_age"),
        "captureStreams": ("stdout", "stderr", "exit_code", "success", "duration"),
        "commitConfig": ("message_template", "message_pattern", "sign", "author",
                         "include_files", "exclude_files", "squash"),
        "onFailureObject": ("claude", "shell", "commands", "strategy", "timeout", "capture",
                            "fail_workflow", "handler_failure_fatal", "max_attempts",
                            "max_retries", "retry_original", "commit_required",
                            "continue_on_error", "capture_output", "description", "on_failure",
                            "on_success"),
        "retry": ("attempts", "max_attempts", "backoff", "initial_delay", "max_delay", "jitter",
                  "jitter_factor", "retry_on", "retry_budget", "on_failure"),
        "retryMatcher": ("pattern",),
        "retryOnFailure": ("fallback",),
        "retryOnFailure/fallback": ("command",),
        "backoff": ("type", "delay", "initial", "increment", "base", "multiplier", "max_delay",
                    "fixed", "linear", "exponential", "fibonacci", "custom"),
        "backoff/fixed": ("delay",),
        "backoff/linear": ("initial", "increment", "max_delay"),
        "backoff/exponential": ("initial", "base", "multiplier", "max_delay"),
        "backoff/fibonacci": ("initial", "max_delay"),
        "backoff/custom": ("delays",),
        "validateObject": ("shell", "command", "claude", "commands", "result_file", "threshold",
                           "timeout", "expected_schema", "on_incomplete"),
        "onIncomplete": ("claude", "shell", "commands", "prompt", "max_attempts",
                         "fail_workflow", "commit_required"),
        "stepValidate": ("commands", "success_criteria", "max_attempts", "retry_delay"),
        "stepValidate/commands": ("command", "expect_output", "expect_exit_code",
                                  "command_type"),
        "stepValidate/success_criteria": ("at_least",),
        "envValueObject": ("default", "secret", "value", "command", "cache", "condition",
                           "when_true", "when_false", "provider", "key", "version",
                           "description"),
        "secretValue": ("provider", "key", "version", "secret", "value"),
        "profile": ("description",),
        "defaults": CLAUDE_KEYS,  # its other keys are variable defaults, read as a whole
        "setup": ("commands", "timeout", "capture_outputs"),
        "captureOutput": ("command_index", "source", "pattern", "json_path", "max_size",
                          "default", "multiline"),
        "phaseSteps": ("commands",),
        "map": ("input", "json_path", "agent_template", "max_parallel", "filter", "sort_by",
                "max_items", "offset", "distinct", "agent_timeout_secs", "timeout_config",
                *BUDGET_KEYS),
        "timeoutConfig": ("agent_timeout_secs", "command_timeouts", "timeout_policy",
                          "cleanup_grace_period_secs", "timeout_action", "enable_monitoring"),
        "mergeWorkflow": ("commands", "timeout"),
        "itemFailure": ("custom",),
        "errorCollection": ("batched",),
        "errorCollection/batched": ("size",),
        "errorPolicy": ("on_item_failure", "continue_on_failure", "max_failures",
                        "failure_threshold", "error_collection", "circuit_breaker",
                        "retry_config"),
        "errorPolicy/circuit_breaker": ("failure_threshold", "success_threshold", "timeout",
                                        "half_open_requests"),
        "parameter": ("type", "required", "default", "validation", "name", "description"),
        "parameters": ("required", "optional"),
        "worktreeConfig": ("parallel_worktrees", "allocation_strategy", "cleanup_policy",
                           "resource_limits", "branch_prefix"),
        "worktreeConfig/cleanup_policy": ("idle_timeout_secs", "max_age_secs",
                                          "cleanup_on_complete", "keep_failed"),
        "worktreeConfig/resource_limits": ("max_disk_mb", "max_memory_mb", "max_cpu_percent"),
    }.items()
}


@dataclass(slots=True)
class Ctx:
    """State shared by one normalization: the source map, findings, and variable lookup."""

    source_map: SourceMap
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Names usable in numeric settings such as `max_parallel: ${N}`: workflow env and --arg.
    variables: dict[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # `retry_defaults:` applies to every command step that has no `retry:` of its own.
    retry_defaults: RetryPolicy | None = None
    # Steps the schema rejected (compiler/schema_prune.py): not read, their errors are known.
    skip: frozenset[DataPath] = frozenset()
    # A value left to the command line (a required parameter, a variable a setting needs):
    # an error when compiling, a warning when validating without --arg/--profile.
    unbound: Severity = Severity.ERROR
    # Variable -> the profiles that set it, for a hint naming `--profile` when none is active.
    profile_vars: dict[str, list[str]] = field(default_factory=dict)

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, hint=hint))

    def missing(self, code: str, message: str, span: Span, hint: str) -> None:
        """A value the command line should give and did not (see `unbound`)."""
        self.diagnostics.append(Diagnostic(code, message, span, hint=hint,
                                           severity=self.unbound))

    def span(self, path: DataPath) -> Span:
        return self.source_map.span(path)


@dataclass(frozen=True, slots=True)
class Fields:
    """A mapping of the loaded data, read only through the fields its schema definition names."""

    data: Mapping[str, object]
    path: DataPath
    schema: str
    ctx: Ctx
    # The fields it may read; None means READS[schema] (command modules pass their own).
    reads: frozenset[str] | None = None

    def allows(self, key: str) -> bool:
        return key in (READS[self.schema] if self.reads is None else self.reads)

    def _check(self, key: str) -> None:
        if not self.allows(key):
            raise KeyError(f"normalizer reads {key!r}, which the fields of {self.schema!r} "
                           "lack")

    def has(self, key: str) -> bool:
        self._check(key)
        return key in self.data

    def get(self, key: str) -> object:
        self._check(key)
        return self.data.get(key)

    def at(self, key: str) -> DataPath:
        return (*self.path, key)

    @property
    def span(self) -> Span:
        return self.ctx.span(self.path)

    def key_span(self, key: str) -> Span:
        return self.ctx.source_map.key_span(self.at(key))

    def value_span(self, key: str) -> Span:
        return self.ctx.span(self.at(key))

    def child(self, key: str, schema: str, reads: tuple[str, ...] | None = None
              ) -> Fields | None:
        value = self.get(key)
        if isinstance(value, Mapping):
            return Fields(value, self.at(key), schema, self.ctx,
                          None if reads is None else frozenset(reads))
        return None

    def text(self, key: str) -> Text | None:
        """A scalar as text: strings as written, numbers and booleans as their source text."""
        if self.get(key) is None:
            return None
        return scalar_text(self.get(key), self.at(key), self.ctx)

    def string(self, key: str) -> str | None:
        found = self.text(key)
        return found.value if found is not None else None

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key)
        return value if isinstance(value, bool) else default

    def integer(self, key: str) -> int | None:
        value = self.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def number(self, key: str) -> float | None:
        value = self.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return whole(value)
        return None


def budget(fields: Fields) -> Budget:
    """`max_cost_usd` and `max_tokens` of a workflow, a `map:` or a claude step."""
    return Budget(fields.number("max_cost_usd"), fields.integer("max_tokens"))


def scalar_text(value: object, path: DataPath, ctx: Ctx) -> Text:
    """The text of a scalar as the user wrote it: `mode: 0644` is "0644", not "644"."""
    span = ctx.span(path)
    if isinstance(value, str):
        return Text(value, span, path)
    written = ctx.source_map.text_of(path)
    if written is None:
        written = _render(value)
    return Text(written, span, path)


def _render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def whole(value: float) -> float:
    """Integral floats as ints, so plans say `600`, not `600.0`."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ---------------------------------------------------------------- variable-backed numbers

_VAR = re.compile(r"\$(?:\{([^}:]+)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "secs": 1, "second": 1,
          "seconds": 1, "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
          "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "d": 86400,
          "day": 86400, "days": 86400}
_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]+)\s*")


def parse_duration(text: str) -> float | None:
    """`"90"`, `"30s"`, `"1h 30m"`, `"250ms"` as seconds; None when it is not a duration."""
    stripped = text.strip()
    try:
        return whole(float(stripped))
    except ValueError:
        pass
    total = 0.0
    pos = 0
    while pos < len(stripped):
        match = _DURATION.match(stripped, pos)
        if match is None or match.group(2) not in _UNITS:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return whole(round(total, 9)) if stripped else None


def _substitute(text: str, label: str, span: Span, ctx: Ctx) -> str | None:
    """`text` with every `${VAR}`/`$VAR` replaced: workflow env and --arg first, then the
    process environment. Reports P209 (and returns None) for a variable set nowhere."""
    missing: list[str] = []

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        for source in (ctx.variables, ctx.environ):
            if name in source:
                return source[name]
        if match.group(2) is not None:
            return match.group(2)
        missing.append(name)
        return ""

    result = _VAR.sub(lookup, text)
    if missing:
        name = missing[0]
        profiles = ctx.profile_vars.get(name)
        if profiles:
            which = (f"profile {profiles[0]} sets" if len(profiles) == 1
                     else f"profiles {', '.join(profiles)} set")
            ctx.missing("P209", f"`{label}: {text}` uses '{name}', which only {which}", span,
                        hint=f"select it with `--profile {profiles[0]}`, or define {name} "
                        "under `env:`")
        else:
            ctx.missing("P209", f"`{label}: {text}` uses '{name}', which is not set", span,
                        hint=f"define {name} under `env:`, pass `--arg {name}=VALUE` or a "
                        "`--profile` that sets it, or export it before compiling")
        return None
    return result


def number_at(value: object, path: DataPath, ctx: Ctx, kind: str,
              convert: Callable[[str], float | None]) -> float | None:
    """A numeric setting that may be written as a variable reference (`max_parallel: ${N}`).

    Upstream resolves these when the workflow loads, from the workflow env and then the process
    environment; --arg values count too, since they are known at compile time.
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return whole(value)
    text = str(value)
    label = str(path[-1]) if path else "value"
    span = ctx.span(path)
    substituted = text
    if _VAR.search(text) is not None:
        found = _substitute(text, label, span, ctx)
        if found is None:
            return None
        substituted = found
    number = convert(substituted)
    if number is None or (isinstance(number, float) and not math.isfinite(number)):
        shown = f"'{substituted}'" if substituted != text else "it"
        ctx.error("P209" if substituted != text else "P113",
                  f"`{label}: {text}`: {shown} is not {kind}", span, hint=f"write {kind}")
        return None
    return number


def _as_count(text: str) -> float | None:
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() else None


def count(fields: Fields, key: str) -> int | None:
    found = number_at(fields.get(key), fields.at(key), fields.ctx, "a whole number", _as_count)
    return None if found is None else int(found)


def seconds(fields: Fields, key: str) -> float | None:
    """Seconds as a number, a duration such as "5m", or a variable holding either."""
    return number_at(fields.get(key), fields.at(key), fields.ctx, "a number of seconds",
                     parse_duration)
