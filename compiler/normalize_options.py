"""Normalization of a step's options: everything around its command.

The spellings folded here: `capture_output` as a bool or a name, `capture` with
`capture_format` (`text` is `string`) and `capture_streams` (a word or a mapping),
`output`/`output_file`, `retry`/`retry_config`/`max_attempts`/legacy `metadata.retries` (and
`retry_defaults`), `metadata` timeout/env/commit_required, and the ways a failure is tolerated
(`allow_failure`, `continue_on_error`, `fail_workflow: false`, `retry: {on_failure:
continue}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Literal, cast

from prodigy.compiler.commands.analyze import Analyze
from prodigy.compiler.commands.base import CLAUDE_OPTIONS, LOOP_OPTIONS, SHARED_OPTIONS
from prodigy.compiler.commands.registry import COMMAND_KEYS, spec_of
from prodigy.compiler.model import (
    Capture,
    Command,
    ExitHandler,
    Handler,
    Output,
    Step,
    Text,
)
from prodigy.compiler.normalize_base import (
    BUDGET_KEYS,
    DEFAULT_STREAMS,
    Fields,
    scalar_text,
    seconds,
)
from prodigy.compiler.normalize_commit import commit_config
from prodigy.compiler.normalize_policies import (
    ReadSteps,
    handler,
    retry,
    tolerate,
    validation,
    verify,
)
from prodigy.runtime.policies import RetryPolicy

_STREAMS = dict(DEFAULT_STREAMS)
_STREAM_WORDS = {"stdout": ("stdout",), "stderr": ("stderr",), "both": ("stdout", "stderr")}
_FORMATS = {"string": "string", "text": "string", "raw": "raw", "json": "json", "lines": "lines",
            "number": "number", "boolean": "boolean"}


def options(fields: Fields, command: Command | None, test_handler: Handler | None,
            reader: ReadSteps) -> Step:
    """The step: `command` plus every option of the step mapping `fields`."""
    ctx = fields.ctx
    _inapplicable(fields, command)
    meta = fields.child("metadata", "commandMetadata")
    on_failure = test_handler
    if fields.has("on_failure"):
        if test_handler is not None:
            ctx.error("P118", "`test.on_failure` and `on_failure` both handle the failure",
                      fields.key_span("on_failure"), hint="keep one handler")
        on_failure = handler(fields.get("on_failure"), fields.at("on_failure"), ctx, reader)
    step_retry, exhausted = _retry(fields, meta, command)
    if isinstance(exhausted, Step):
        if on_failure is not None:
            ctx.error("P118", "`retry.on_failure` and `on_failure` both handle the failure",
                      fields.key_span("retry"), hint="keep one handler")
        else:
            on_failure = Handler((exhausted,), 1, False, "fallback", False, None,
                                 exhausted.span)
    label = fields.string("description")
    if label is None and command is not None and not _is_legacy_name(fields):
        label = fields.string("name")
    env = dict(_env(meta, "env")) if meta is not None else {}
    env.update(_env(fields, "env"))
    step = Step(
        command=command,
        span=fields.span,
        id=fields.text("id"),
        label=label,
        when=fields.text("when"),
        env=tuple(env.items()),
        working_dir=fields.text("working_dir"),
        clear_env=fields.flag("clear_env", False),
        allow_outside=fields.flag("allow_outside", False),
        # `temporary: true` asks that env changes not leak into later steps; step `env` never
        # does here, so the flag has nothing left to do.
        timeout_s=seconds(fields, "timeout") if fields.has("timeout") else (
            seconds(meta, "timeout") if meta is not None else None),
        capture=_capture(fields),
        output_file=_output_file(fields),
        commit_required=fields.flag("commit_required", meta is not None
                                    and meta.flag("commit_required", False)),
        auto_commit=fields.flag("auto_commit", False),
        commit_config=commit_config(fields.child("commit_config", "commitConfig"),
                                    fields.flag("auto_commit", False)),
        outputs=_outputs(fields),
        analysis=_analysis(fields.child("analysis", "analysisConfig")),
        retry=step_retry,
        on_failure=on_failure,
        on_success=(reader(fields.get("on_success"), fields.at("on_success"), "legacy")
                    if fields.has("on_success") else ()),
        on_exit_code=_exit_codes(fields, reader),
        validation=(validation(fields.get("validate"), fields.at("validate"), ctx, reader,
                               seconds(fields, "validation_timeout"))
                    if fields.has("validate") else None),
        verify=verify(fields),
    )
    return _tolerance(fields, meta, step, exhausted == "continue")


_CLAUDE_HINT = "only claude steps take it; `defaults:` sets it for every claude step"
_BUDGET_HINT = ("only claude steps take a budget of their own; the run's goes at the workflow's "
                "top level, a map's on `map:`")


def _inapplicable(fields: Fields, command: Command | None) -> None:
    """A shared option the step's command does not honour is an error, not a dropped key."""
    honoured: tuple[str, ...] = ()
    if command is None:
        kind = "validate-only"
        hint = "put the validation on the step whose work it checks"
    else:
        spec = spec_of(command)
        kind, honoured = spec.key, spec.options
        hint = ("put it on the commands inside the loop" if spec.options == LOOP_OPTIONS
                else f"`{kind}` steps take: {', '.join(spec.options)}")
    for key in SHARED_OPTIONS:
        if key not in honoured and fields.get(key) not in (None, False):
            fields.ctx.error("P119", f"`{key}` has no effect on a {kind} step",
                             fields.key_span(key),
                             hint=(_BUDGET_HINT if key in BUDGET_KEYS else _CLAUDE_HINT
                                   if key in CLAUDE_OPTIONS else hint))


def _is_legacy_name(fields: Fields) -> bool:
    return not any(fields.has(k) for k in COMMAND_KEYS)


def _tolerance(fields: Fields, meta: Fields | None, step: Step, continue_after: bool) -> Step:
    """Fold the four ways of saying "a failure here does not fail the workflow" into the
    handler, and `fail_workflow: true` (which insists it does) too."""
    tolerated = (fields.flag("allow_failure", False) or fields.flag("continue_on_error", False)
                 or (meta is not None and meta.flag("continue_on_error", False))
                 or fields.get("fail_workflow") is False or continue_after)
    if tolerated:
        return tolerate(step)
    if fields.get("fail_workflow") is True and step.on_failure is not None:
        return replace(step, on_failure=replace(step.on_failure, fail_workflow=True))
    return step


def _retry(fields: Fields, meta: Fields | None, command: Command | None
           ) -> tuple[RetryPolicy | None, str | Step]:
    """`retry:` (or its alias `retry_config:`), `max_attempts: N` (a retry with N attempts),
    legacy `metadata.retries: N` (N+1 attempts), else `retry_defaults` for commands."""
    ctx = fields.ctx
    if fields.has("retry") and fields.has("retry_config"):
        ctx.error("P118", "`retry` and `retry_config` both configure retries",
                  fields.key_span("retry_config"), hint="keep `retry`")
    child = fields.child("retry", "retry") or fields.child("retry_config", "retry")
    attempts = fields.integer("max_attempts")
    if child is not None:
        if attempts is not None:
            ctx.error("P118", "`max_attempts` and `retry` both set the attempts",
                      fields.key_span("max_attempts"), hint="set `retry.attempts`")
        return retry(child)
    retries = meta.integer("retries") if meta is not None else None
    if attempts is None and retries is not None and retries > 0:
        attempts = retries + 1
    defaults = ctx.retry_defaults
    if attempts is not None:
        base = defaults or RetryPolicy()
        return replace(base, attempts=max(attempts, 1)), "stop"
    if defaults is not None and command is not None and "retry" in spec_of(command).options:
        return defaults, "stop"
    return None, "stop"


def _env(fields: Fields, key: str) -> dict[str, Text]:
    raw = fields.get(key)
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): scalar_text(v, (*fields.at(key), k), fields.ctx) for k, v in raw.items()}


def _capture(fields: Fields) -> Capture | None:
    name = fields.string("capture")
    output = fields.get("capture_output")
    if isinstance(output, str):
        if name is not None and name != output:
            fields.ctx.error("P118", f"`capture: {name}` and `capture_output: {output}` name "
                             "different variables", fields.key_span("capture_output"),
                             hint="keep `capture: NAME`")
        name = name or output
    elif output is True and name is None:
        # `capture_output: true` publishes CAPTURED_OUTPUT (shell.output and claude.output are
        # published after every command anyway).
        name = "CAPTURED_OUTPUT"
    if name is None:
        for key in ("capture_format", "capture_streams"):
            if fields.has(key):
                fields.ctx.error("P112", f"`{key}` needs a variable to store into",
                                 fields.key_span(key), hint="add `capture: NAME`")
        return None
    fmt = _FORMATS.get(fields.string("capture_format") or "string", "string")
    return Capture(name, cast(Literal["string", "raw", "json", "lines", "number", "boolean"], fmt),
                   _streams(fields), fields.span)


def _streams(fields: Fields) -> tuple[tuple[str, bool], ...]:
    streams = dict(_STREAMS)
    raw = fields.get("capture_streams")
    if isinstance(raw, str):
        picked = _STREAM_WORDS.get(raw, ("stdout",))
        streams["stdout"], streams["stderr"] = "stdout" in picked, "stderr" in picked
    elif isinstance(raw, Mapping):
        flags = Fields(raw, fields.at("capture_streams"), "captureStreams", fields.ctx)
        for key in _STREAMS:
            streams[key] = flags.flag(key, streams[key])
    return tuple(streams.items())


def _output_file(fields: Fields) -> Text | None:
    if fields.has("output") and fields.has("output_file"):
        fields.ctx.error("P118", "`output` and `output_file` both name the output file",
                         fields.key_span("output"), hint="keep `output_file`")
    return fields.text("output_file") or fields.text("output")


def _outputs(fields: Fields) -> tuple[Output, ...]:
    raw = fields.get("outputs")
    found: list[Output] = []
    for name, decl in (raw.items() if isinstance(raw, Mapping) else ()):
        if isinstance(decl, Mapping):
            entry = Fields(decl, (*fields.at("outputs"), name), "outputDecl", fields.ctx)
            found.append(Output(str(name), entry.string("file_pattern") or "", entry.span))
    return tuple(found)


def _analysis(fields: Fields | None) -> Analyze | None:
    """Legacy per-command `analysis:` becomes an analysis run just before the command."""
    if fields is None:
        return None
    age = fields.integer("max_cache_age")
    return Analyze(300 if age is None else age, fields.flag("force_refresh", False), True,
                   "summary", fields.span)


def _exit_codes(fields: Fields, reader: ReadSteps) -> tuple[ExitHandler, ...]:
    raw = fields.get("on_exit_code")
    found: list[ExitHandler] = []
    for code, value in (raw.items() if isinstance(raw, Mapping) else ()):
        path = (*fields.at("on_exit_code"), code)
        steps = reader(value, path, "legacy")
        if steps:
            found.append(ExitHandler(int(code), steps, fields.ctx.source_map.key_span(path)))
    return tuple(sorted(found, key=lambda h: h.code))

