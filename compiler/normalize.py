"""Normalization: schema-checked workflow data -> the canonical `Workflow` model.

The entry point of the front end's last stage. Workflow-level forms are handled here (bare list,
`commands:` or `steps:`, MapReduce phases with their list or `{commands: ...}` spellings,
error policy with its top-level convenience keys, numeric settings given as `"${VAR}"`);
steps live in `normalize_steps`, handlers and validation in `normalize_policies`, environment
and arguments in `normalize_env`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal, cast

from prodigy.compiler.commands.claude import claude_options
from prodigy.compiler.model import ClaudeOptions, Extract
from prodigy.compiler.model_workflow import (
    CheckpointPolicy,
    Json,
    MapPhase,
    MapTimeouts,
    Phase,
    Workflow,
    WorktreeConfig,
)
from prodigy.compiler.normalize_base import (
    CLAUDE_KEYS,
    Ctx,
    Fields,
    budget,
    count,
    number_at,
    parse_duration,
    scalar_text,
    seconds,
)
from prodigy.compiler.normalize_env import (
    bind_args,
    environment,
    literal_values,
    parameters,
)
from prodigy.compiler.normalize_policies import retry
from prodigy.compiler.normalize_steps import read_steps
from prodigy.compiler.source import DataPath, SourceMap
from prodigy.runtime.diagnostics import Diagnostic, Severity
from prodigy.runtime.policies import CircuitBreakerPolicy, ErrorPolicy

# Composition (extends, imports, workflows, template) is compiled away before the schema check
# (compiler/compose.py). File-local `templates:` and `tasks:` have semantics upstream never
# settled; they are reported rather than silently ignored.
_UNSUPPORTED = ("templates", "tasks")
_POLICY_KEYS = ("on_item_failure", "continue_on_failure", "max_failures", "failure_threshold",
                "error_collection")


def normalize(
    data: object,
    source_map: SourceMap,
    args: Mapping[str, str] | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    skip: frozenset[DataPath] = frozenset(),
    unbound: Severity = Severity.ERROR,
) -> tuple[Workflow | None, list[Diagnostic]]:
    """The model of a workflow that passed the schema check, with every diagnostic found.

    `skip`: the paths of steps the schema rejected, left out; `unbound`: the severity of a
    value the command line was to give (a warning when validating without it)."""
    ctx = Ctx(source_map, environ=dict(os.environ) if environ is None else environ, skip=skip,
              unbound=unbound)
    span = source_map.span(())
    if isinstance(data, list):
        bound = bind_args(args, (), {}, ctx)
        ctx.variables.update(bound)
        main = Phase("main", read_steps(data, (), ctx), None, span)
        return Workflow("standard", span, args=bound, main=main), ctx.diagnostics
    if not isinstance(data, Mapping):
        return None, ctx.diagnostics
    mode: Literal["standard", "mapreduce"] = (
        "mapreduce" if data.get("mode") == "mapreduce" else "standard")
    fields = Fields(data, (), "mapReduceWorkflow" if mode == "mapreduce" else "standardWorkflow",
                    ctx)
    for key in _UNSUPPORTED:
        if fields.allows(key) and fields.has(key):
            ctx.error("P119", f"`{key}:` is not supported", fields.key_span(key),
                      hint="define the steps under `workflows:` and use them with "
                           "`- workflow: NAME` (see Composition in the README)")
    env = environment(fields, profile)
    for chosen in env.profiles:
        for var in chosen.env:
            ctx.profile_vars.setdefault(var.name, []).append(chosen.name)
    params = parameters(fields) if fields.has("parameters") else ()
    defaults = _string_map(fields, "defaults")
    bound = bind_args(args, params, defaults, ctx)
    ctx.variables.update(literal_values(env.env))
    ctx.variables.update(bound)
    if fields.has("retry_defaults"):
        ctx.retry_defaults = retry(cast(Fields, fields.child("retry_defaults", "retry")))[0]
    env_files = fields.get("env_files")
    workflow = Workflow(
        mode=mode,
        span=span,
        name=fields.string("name"),
        description=fields.string("description"),
        version=fields.string("version"),
        env=env.env,
        secrets=env.secrets,
        env_files=tuple(scalar_text(v, (*fields.at("env_files"), i), ctx)
                        for i, v in enumerate(env_files if isinstance(env_files, list) else [])),
        profiles=env.profiles,
        profile=env.profile,
        parameters=params,
        args=bound,
        merge=_merge(fields),
        in_place=fields.flag("in_place", False),
        timeout_s=seconds(fields, "timeout"),
        worktree=_worktree(fields.child("worktree_config", "worktreeConfig")),
        checkpoint=_checkpoint(fields.child("checkpoint", f"{fields.schema}/checkpoint")),
        claude=_claude_defaults(fields),
        budget=budget(fields),
    )
    if mode == "standard":
        key = "steps" if fields.has("steps") else "commands"
        main = Phase("main", read_steps(fields.get(key), fields.at(key), ctx), None, span)
        workflow = replace(workflow, main=main, max_iterations=fields.integer("max_iterations"))
    else:
        workflow = replace(workflow, setup=_setup(fields), map=_map(fields),
                           reduce=_phase(fields, "reduce", "phaseSteps"),
                           error_policy=_error_policy(fields))
    return workflow, ctx.diagnostics


def _string_map(fields: Fields, key: str) -> dict[str, str]:
    """The variables of `defaults:`: every key but the Claude options' (`_claude_defaults`)."""
    raw = fields.get(key)
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): scalar_text(v, (*fields.at(key), k), fields.ctx).value
            for k, v in raw.items() if k not in CLAUDE_KEYS}


def _claude_defaults(fields: Fields) -> ClaudeOptions:
    """The Claude options every claude step starts from: `defaults:` over the top level."""
    top = claude_options(fields)
    inner = fields.child("defaults", "defaults")
    return top if inner is None else claude_options(inner).over(top)


def _phase(fields: Fields, key: str, schema: str) -> Phase | None:
    """A phase written as a list of steps or (deprecated upstream) as `{commands: [...]}`."""
    if not fields.has(key):
        return None
    value = fields.get(key)
    path = fields.at(key)
    name = cast(Literal["main", "setup", "reduce", "merge"], key)
    if isinstance(value, Mapping):
        inner = Fields(value, path, schema, fields.ctx)
        timeout = seconds(inner, "timeout") if schema != "phaseSteps" else None
        return Phase(name, read_steps(inner.get("commands"), inner.at("commands"), fields.ctx),
                     timeout, inner.span)
    return Phase(name, read_steps(value, path, fields.ctx), None, fields.ctx.span(path))


def _merge(fields: Fields) -> Phase | None:
    return _phase(fields, "merge", "mergeWorkflow")


def _setup(fields: Fields) -> Phase | None:
    phase = _phase(fields, "setup", "setup")
    inner = fields.child("setup", "setup")
    if phase is None or inner is None or not inner.has("capture_outputs"):
        return phase
    steps = list(phase.steps)
    commands = inner.get("commands")
    if not isinstance(commands, list) or len(commands) != len(steps):
        return phase  # a step was left out for its errors: the indexes name other steps now
    raw = inner.get("capture_outputs")
    for name, spec in (raw.items() if isinstance(raw, Mapping) else ()):
        path = (*inner.at("capture_outputs"), name)
        extract, index = _extract(str(name), spec, path, fields.ctx)
        if index is None or extract is None:
            continue
        if not 0 <= index < len(steps):
            fields.ctx.error("P113", f"`capture_outputs.{name}` refers to setup command "
                             f"{index}, but setup has {len(steps)} command(s)",
                             fields.ctx.span(path), hint="command indexes start at 0")
            continue
        steps[index] = replace(steps[index], extracts=(*steps[index].extracts, extract))
    return replace(phase, steps=tuple(steps))


def _extract(name: str, spec: object, path: tuple[str | int, ...], ctx: Ctx
             ) -> tuple[Extract | None, int | None]:
    span = ctx.span(path)
    if isinstance(spec, int) and not isinstance(spec, bool):
        return Extract(name, "stdout", None, None, 1 << 20, None, "preserve", span), spec
    if not isinstance(spec, Mapping):
        return None, None
    fields = Fields(spec, path, "captureOutput", ctx)
    default = fields.text("default")
    return Extract(
        name=name,
        source=cast(Literal["stdout", "stderr", "both", "combined"],
                    fields.string("source") or "stdout"),
        pattern=fields.string("pattern"),
        json_path=fields.string("json_path"),
        max_size=fields.integer("max_size") or 1 << 20,
        default=default.value if default is not None else None,
        multiline=cast(Literal["preserve", "join", "first_line", "last_line", "array"],
                       fields.string("multiline") or "preserve"),
        span=span,
    ), fields.integer("command_index")


def _map(fields: Fields) -> MapPhase | None:
    inner = fields.child("map", "map")
    if inner is None:
        return None
    source = inner.text("input")
    if source is None:
        return None
    agent = inner.get("agent_template")
    agent_path = inner.at("agent_template")
    if isinstance(agent, Mapping):
        nested = Fields(agent, agent_path, "phaseSteps", fields.ctx)
        agent, agent_path = nested.get("commands"), nested.at("commands")
    timeouts = inner.child("timeout_config", "timeoutConfig")
    agent_timeout = seconds(inner, "agent_timeout_secs")
    if agent_timeout is None and timeouts is not None:
        agent_timeout = seconds(timeouts, "agent_timeout_secs")
    parallel = count(inner, "max_parallel")
    return MapPhase(
        input=source,
        json_path=inner.text("json_path"),
        filter=inner.text("filter"),
        sort_by=inner.text("sort_by"),
        distinct=inner.string("distinct"),
        offset=inner.integer("offset") or 0,
        max_items=inner.integer("max_items"),
        max_parallel=10 if parallel is None else max(parallel, 1),
        agent=read_steps(agent, agent_path, fields.ctx),
        agent_timeout_s=agent_timeout,
        timeouts=_map_timeouts(timeouts),
        span=inner.span,
        budget=budget(inner),
    )


def _snake(word: str) -> str:
    """`PerAgent` and `per_agent` are the same value (upstream serialised PascalCase)."""
    return "".join("_" + c.lower() if c.isupper() else c for c in word).lstrip("_")


def _map_timeouts(fields: Fields | None) -> MapTimeouts | None:
    if fields is None:
        return None
    found_raw = fields.get("command_timeouts")
    raw: Mapping[str, object] = found_raw if isinstance(found_raw, Mapping) else {}
    commands: list[tuple[str, float]] = []
    for name in sorted(raw):
        found = number_at(raw[name], (*fields.at("command_timeouts"), name), fields.ctx,
                          "a number of seconds", parse_duration)
        if found is not None:
            commands.append((str(name), found))
    return MapTimeouts(
        command_timeouts=tuple(commands),
        policy=cast(Literal["per_agent", "per_command", "hybrid"],
                    _snake(fields.string("timeout_policy") or "per_agent")),
        cleanup_grace_s=fields.integer("cleanup_grace_period_secs"),
        action=cast(Literal["dlq", "skip", "fail", "graceful_terminate"],
                    _snake(fields.string("timeout_action") or "dlq")),
        monitoring=fields.flag("enable_monitoring", False),
    )


def _error_policy(fields: Fields) -> ErrorPolicy | None:
    inner = fields.child("error_policy", "errorPolicy")
    if inner is None and not any(fields.has(k) for k in _POLICY_KEYS):
        return None
    # The top-level convenience keys override the same keys inside `error_policy:`.
    sources = [f for f in (fields, inner) if f is not None]

    def pick(key: str) -> tuple[object, Fields | None]:
        for source in sources:
            if source.has(key):
                return source.get(key), source
        return None, None

    failure, failure_at = pick("on_item_failure")
    custom = None
    if isinstance(failure, Mapping) and failure_at is not None:
        custom = Fields(failure, failure_at.at("on_item_failure"), "itemFailure",
                        fields.ctx).string("custom")
        failure = "custom"
    collection, collection_at = pick("error_collection")
    kind: str | None = None
    size: int | None = None
    if isinstance(collection, str) and collection.startswith("batched"):
        kind, size = "batched", int(collection.split(":", 1)[1])
    elif isinstance(collection, str):
        kind = collection
    elif isinstance(collection, Mapping) and collection_at is not None:
        outer = Fields(collection, collection_at.at("error_collection"), "errorCollection",
                       fields.ctx)
        batched = outer.child("batched", "errorCollection/batched")
        kind, size = "batched", batched.integer("size") if batched else None
    cont, _ = pick("continue_on_failure")
    max_failures, _ = pick("max_failures")
    threshold, _ = pick("failure_threshold")
    breaker = inner.child("circuit_breaker", "errorPolicy/circuit_breaker") if inner else None
    retry_config = inner.child("retry_config", "retry") if inner else None
    # What the workflow leaves out (None here) takes `ErrorPolicy`'s default.
    given: dict[str, Any] = {
        "on_item_failure": str(failure) if failure else None,
        "custom_handler": custom,
        "continue_on_failure": cont if isinstance(cont, bool) else None,
        "max_failures": max_failures if isinstance(max_failures, int) else None,
        "failure_threshold": float(threshold) if isinstance(threshold, int | float) else None,
        "error_collection": kind,
        "batch_size": size,
        "circuit_breaker": _breaker(breaker),
        "retry": retry(retry_config)[0] if retry_config is not None else None,
    }
    return ErrorPolicy(**{k: v for k, v in given.items() if v is not None})


def _breaker(fields: Fields | None) -> CircuitBreakerPolicy | None:
    if fields is None:
        return None
    # A zero (or absent) setting takes the default, as the map has always read it.
    given: dict[str, Any] = {"failure_threshold": fields.integer("failure_threshold"),
                             "success_threshold": fields.integer("success_threshold"),
                             "timeout_s": seconds(fields, "timeout"),
                             "half_open_requests": fields.integer("half_open_requests")}
    return CircuitBreakerPolicy(**{k: v for k, v in given.items() if v})


def _checkpoint(fields: Fields | None) -> CheckpointPolicy | None:
    if fields is None:
        return None
    return CheckpointPolicy(fields.integer("interval_items"), seconds(fields, "interval_duration"),
                            fields.integer("max_checkpoints"), seconds(fields, "max_age"))


def _worktree(fields: Fields | None) -> WorktreeConfig | None:
    if fields is None:
        return None

    def flat(key: str, schema: str) -> tuple[tuple[str, Json], ...]:
        child = fields.child(key, schema)
        if child is None:
            return ()
        # The schema has checked these values are JSON scalars.
        return tuple((k, cast(Json, child.get(k))) for k in sorted(child.data) if child.has(k))

    strategy = fields.string("allocation_strategy")
    return WorktreeConfig(
        parallel_worktrees=fields.integer("parallel_worktrees"),
        allocation_strategy=_snake(strategy) if strategy else None,
        cleanup=flat("cleanup_policy", "worktreeConfig/cleanup_policy"),
        limits=flat("resource_limits", "worktreeConfig/resource_limits"),
        branch_prefix=fields.string("branch_prefix"),
    )

