"""Normalization of what surrounds a command: failure handlers, validation, checks and retry.

Each function turns every accepted spelling of one option into one model value. Step lists
inside these options are read through the `ReadSteps` callback that `normalize_steps` passes
in, which keeps the two modules free of an import cycle.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Literal, cast

from prodigy.compiler.commands.claude import Claude
from prodigy.compiler.commands.shell import Shell
from prodigy.compiler.model import (
    Capture,
    Check,
    DataPath,
    Handler,
    Incomplete,
    Step,
    Text,
    Validation,
    Verify,
)
from prodigy.compiler.normalize_base import (
    DEFAULT_STREAMS,
    Ctx,
    Fields,
    number_at,
    parse_duration,
    scalar_text,
    seconds,
)
from prodigy.runtime.policies import BACKOFFS, MATCHERS, Backoff, RetryPolicy

# (value, path, strings-as) -> steps; strings-as is "legacy" (a Claude command name) or
# "handler" (a leading `/` means Claude, anything else shell).
ReadSteps = Callable[[object, DataPath, str], tuple[Step, ...]]

_STRATEGIES = ("recovery", "fallback", "cleanup", "custom")


def command_step(text: Text) -> Step:
    """The handler rule for a bare command string: a leading `/` is Claude, else shell."""
    if text.value.lstrip().startswith("/"):
        return Step(Claude(text, text.span), text.span)
    return Step(Shell(text, text.span), text.span)


def _single(fields: Fields, commit_required: bool) -> tuple[Step, ...]:
    """The `claude:`/`shell:` command of a handler mapping, as a one-step body."""
    found: list[Step] = []
    for key in ("shell", "claude"):
        text = fields.text(key)
        if text is not None:
            command = Claude(text, text.span) if key == "claude" else Shell(text, text.span)
            found.append(Step(command, text.span, commit_required=commit_required))
    return tuple(found)


def _one_body(fields: Fields, read: ReadSteps, commit_required: bool) -> tuple[Step, ...]:
    present = [k for k in ("claude", "shell", "commands") if fields.has(k)]
    if len(present) > 1:
        fields.ctx.error("P118", f"`{present[0]}` and `{present[1]}` both give the commands",
                         fields.key_span(present[1]), hint="use `commands:` for several")
    if fields.has("commands"):
        return read(fields.get("commands"), fields.at("commands"), "legacy")
    return _single(fields, commit_required)


def handler(value: object, path: DataPath, ctx: Ctx, read: ReadSteps) -> Handler | None:
    """Every `on_failure:` form as one Handler; None for `on_failure: false`."""
    span = ctx.span(path)
    if isinstance(value, bool):
        # `true` ignores the failure; `false` is the default behaviour: the failure counts.
        return Handler((), 1, False, "recovery", False, None, span) if value else None
    if isinstance(value, str):
        return Handler((command_step(scalar_text(value, path, ctx)),), 1, False, "recovery",
                       False, None, span)
    if isinstance(value, list):
        return Handler(read(value, path, "handler"), 1, False, "recovery", False, None, span)
    if not isinstance(value, Mapping):
        return None
    fields = Fields(value, path, "onFailureObject", ctx)
    steps = _nested(fields, _one_body(fields, read, fields.flag("commit_required", False)),
                    read)
    if fields.flag("continue_on_error", False):
        steps = tuple(tolerate(s) for s in steps)
    if fields.has("capture"):
        ctx.error("P119", "`capture` inside `on_failure` is not supported",
                  fields.key_span("capture"),
                  hint="capture in the handler's own steps: `capture: NAME`")
    strategy = fields.string("strategy") or "recovery"
    return Handler(
        steps=steps,
        max_attempts=_attempts(fields),
        fail_workflow=fields.flag("fail_workflow", False),
        strategy=cast(Literal["recovery", "fallback", "cleanup", "custom"],
                      strategy if strategy in _STRATEGIES else "recovery"),
        handler_failure_fatal=fields.flag("handler_failure_fatal", False),
        timeout_s=seconds(fields, "timeout"),
        span=span,
    )


def _nested(fields: Fields, steps: tuple[Step, ...], read: ReadSteps) -> tuple[Step, ...]:
    """The handler command's own options: a label, a capture, and (nested recovery) what
    follows its success or failure. They belong to the one `claude:`/`shell:` command."""
    keys = [k for k in ("description", "capture_output", "on_success", "on_failure")
            if fields.has(k)]
    if not keys:
        return steps
    if fields.has("commands") or len(steps) != 1:
        fields.ctx.error("P118", f"`{keys[0]}` applies to a single handler command",
                         fields.key_span(keys[0]),
                         hint="put it on the step inside `commands:` instead")
        return steps
    output = fields.get("capture_output")
    name = output if isinstance(output, str) else ("CAPTURED_OUTPUT" if output else None)
    step = replace(
        steps[0],
        label=fields.string("description"),
        capture=Capture(name, "string", DEFAULT_STREAMS, fields.value_span("capture_output"))
        if name else None,
        on_success=(read(fields.get("on_success"), fields.at("on_success"), "legacy")
                    if fields.has("on_success") else ()),
        on_failure=(handler(fields.get("on_failure"), fields.at("on_failure"), fields.ctx, read)
                    if fields.has("on_failure") else None),
    )
    return (step,)


def _attempts(fields: Fields) -> int:
    """Total runs of the original command: `max_attempts: N` is N, `max_retries: N` is N+1."""
    attempts, retries = fields.integer("max_attempts"), fields.integer("max_retries")
    if attempts is not None and retries is not None:
        fields.ctx.error("P118", "`max_attempts` and `max_retries` both set the attempts",
                         fields.key_span("max_retries"),
                         hint="keep `max_attempts` (the total number of runs)")
    if attempts is not None:
        return max(attempts, 1)
    if retries is not None:
        return retries + 1
    # The deprecated `retry_original: true` re-ran the command once after the handler.
    return 2 if fields.flag("retry_original", False) else 1


def tolerate(step: Step) -> Step:
    """The step with its failure tolerated: its handler (or an empty one) does not fail the run."""
    if step.on_failure is not None:
        return replace(step, on_failure=replace(step.on_failure, fail_workflow=False))
    return replace(step, on_failure=Handler((), 1, False, "recovery", False, None, step.span))


def incomplete(value: object, path: DataPath, ctx: Ctx, read: ReadSteps) -> Incomplete | None:
    span = ctx.span(path)
    if isinstance(value, list):
        return Incomplete(read(value, path, "legacy"), 2, True, None, span)
    if not isinstance(value, Mapping):
        return None
    fields = Fields(value, path, "onIncomplete", ctx)
    return Incomplete(
        steps=_one_body(fields, read, fields.flag("commit_required", False)),
        max_attempts=max(fields.integer("max_attempts") or 2, 1),
        fail_workflow=fields.flag("fail_workflow", True),
        prompt=fields.text("prompt"),
        span=span,
    )


def validation(value: object, path: DataPath, ctx: Ctx, read: ReadSteps,
               timeout_s: float | None) -> Validation | None:
    """`validate:` as a list of commands or a mapping; `command:` is shell's old name."""
    span = ctx.span(path)
    if isinstance(value, list):
        return Validation(read(value, path, "legacy"), None, 100, timeout_s, None, None, span)
    if not isinstance(value, Mapping):
        return None
    fields = Fields(value, path, "validateObject", ctx)
    steps = _one_body(fields, read, False)
    legacy = fields.text("command")
    if legacy is not None:
        if steps:
            ctx.error("P118", "`command` and another command key both give the validation",
                      fields.key_span("command"))
        steps = (Step(Shell(legacy, legacy.span), legacy.span),)
    schema = fields.get("expected_schema")
    threshold = fields.number("threshold")
    return Validation(
        steps=steps,
        result_file=fields.text("result_file"),
        threshold=100 if threshold is None else threshold,
        timeout_s=seconds(fields, "timeout") or timeout_s,
        expected_schema=None if schema is None else json.dumps(schema, sort_keys=True),
        on_incomplete=(incomplete(fields.get("on_incomplete"), fields.at("on_incomplete"), ctx,
                                  read) if fields.has("on_incomplete") else None),
        span=span,
    )


def verify(step: Fields) -> Verify | None:
    """`step_validate:` plus its step-level companions `skip_validation`, `validation_timeout`
    and `ignore_validation_failure`."""
    if not step.has("step_validate") or step.flag("skip_validation", False):
        return None
    value = step.get("step_validate")
    path = step.at("step_validate")
    ctx = step.ctx
    timeout_s = seconds(step, "validation_timeout")
    fail = not step.flag("ignore_validation_failure", False)
    span = ctx.span(path)
    if isinstance(value, str | list):
        items = [value] if isinstance(value, str) else value
        paths = [path] if isinstance(value, str) else [(*path, i) for i in range(len(items))]
        checks = tuple(_check(scalar_text(v, p, ctx), None, None, None) for v, p in
                       zip(items, paths, strict=True))
        return Verify(checks, "all", None, 1, 0, timeout_s, fail, span)
    if not isinstance(value, Mapping):
        return None
    fields = Fields(value, path, "stepValidate", ctx)
    found: list[Check] = []
    commands = fields.get("commands")
    for i, item in enumerate(commands if isinstance(commands, list) else []):
        entry = Fields(item, (*fields.at("commands"), i), "stepValidate/commands", ctx)
        text = entry.text("command")
        if text is not None:
            found.append(_check(text, entry.string("command_type"), entry.string("expect_output"),
                                entry.integer("expect_exit_code")))
    criteria: Literal["all", "any", "at_least"] = "all"
    at_least = None
    raw = fields.get("success_criteria")
    if raw == "any":
        criteria = "any"
    elif isinstance(raw, Mapping):
        nested = Fields(raw, fields.at("success_criteria"), "stepValidate/success_criteria", ctx)
        criteria, at_least = "at_least", nested.integer("at_least")
    return Verify(tuple(found), criteria, at_least, max(fields.integer("max_attempts") or 1, 1),
                  fields.integer("retry_delay") or 0, timeout_s, fail, span)


def _check(text: Text, runner: str | None, expect_output: str | None,
           expect_exit_code: int | None) -> Check:
    """A check command; upstream's `claude: /cmd` prefix in the string form picks Claude."""
    if runner is None:
        match = re.match(r"\s*(claude|shell):\s*", text.value)
        runner = match.group(1) if match else "shell"
        if match:
            text = Text(text.value[match.end():], text.span)
    kind: Literal["shell", "claude"] = "claude" if runner == "claude" else "shell"
    return Check(text, kind, expect_output, expect_exit_code, text.span)


# ------------------------------------------------------------------------------------ retry

def retry(fields: Fields) -> tuple[RetryPolicy, str | Step]:
    """A `retry:` mapping, plus what to do once it is exhausted: "stop", "continue" or a
    fallback step (`on_failure: {fallback: {command}}`). What the mapping leaves out (None
    here) takes `RetryPolicy`'s default, so each default is written once, there."""
    ctx = fields.ctx
    attempts, alias = fields.integer("attempts"), fields.integer("max_attempts")
    if attempts is not None and alias is not None:
        ctx.error("P118", "`attempts` and `max_attempts` both set the attempts",
                  fields.key_span("max_attempts"), hint="keep `attempts`")
    kind, initial, increment, base, delays, cap = _backoff(fields)
    initial_delay = seconds(fields, "initial_delay")  # both read: each may hold an error
    max_delay = seconds(fields, "max_delay")
    matchers: list[str] = []
    patterns: list[str] = []
    raw_on = fields.get("retry_on")
    for i, item in enumerate(raw_on if isinstance(raw_on, list) else []):
        if isinstance(item, str):
            matchers.append(item)
        elif isinstance(item, Mapping):
            entry = Fields(item, (*fields.at("retry_on"), i), "retryMatcher", ctx)
            pattern = entry.string("pattern") or ""
            try:
                re.compile(pattern)
            except re.error as exc:
                ctx.error("P205", f"invalid regular expression {pattern!r}: {exc}",
                          entry.value_span("pattern"))
            patterns.append(pattern)
    count = attempts or alias
    jitter = fields.get("jitter")
    given: dict[str, Any] = {
        "attempts": max(count, 1) if count else None,
        "backoff": kind,
        "initial_delay_s": initial if initial is not None else initial_delay,
        "max_delay_s": cap if cap is not None else max_delay,
        "increment_s": increment,
        "base": base,
        "delays_s": delays,
        "jitter": jitter if isinstance(jitter, bool) else None,
        "jitter_factor": fields.number("jitter_factor"),
        "retry_on": tuple(m for m in matchers if m in MATCHERS),
        "retry_on_patterns": tuple(patterns),
        "budget_s": seconds(fields, "retry_budget"),
    }
    policy = RetryPolicy(**{k: v for k, v in given.items() if v is not None})
    return policy, _exhausted(fields)


def _exhausted(fields: Fields) -> str | Step:
    value = fields.get("on_failure")
    if isinstance(value, Mapping):
        outer = Fields(value, fields.at("on_failure"), "retryOnFailure", fields.ctx)
        inner = outer.child("fallback", "retryOnFailure/fallback")
        text = inner.text("command") if inner is not None else None
        if text is not None:
            return command_step(text)
    return "continue" if value == "continue" else "stop"


_Backoff = tuple[Backoff | None, float | None, float | None, float | None, tuple[float, ...],
                 float | None]


def _opt(params: Fields, key: str) -> float | None:
    """A duration of a backoff mapping, when that spelling of backoff has the field."""
    return seconds(params, key) if params.allows(key) else None


def _backoff(fields: Fields) -> _Backoff:
    """(kind, initial, increment, base, custom delays, max_delay) of every backoff spelling:
    `exponential`, `{type: linear, increment: 2s}`, `{linear: {increment: 2s}}`, ...; None
    for what it does not say (an unknown kind too: the schema reports it)."""
    value = fields.get("backoff")
    kind: str | None = None
    params: Fields | None = None
    if isinstance(value, str):
        kind = value
    elif isinstance(value, Mapping):
        outer = Fields(value, fields.at("backoff"), "backoff", fields.ctx)
        if outer.has("type"):
            kind, params = outer.string("type"), outer
        else:
            for name in BACKOFFS:
                if outer.has(name):
                    kind = name
                    params = outer.child(name, f"backoff/{name}")
    literal = cast(Backoff, kind) if kind in BACKOFFS else None
    if params is None:
        return literal, None, None, None, (), None
    initial = _opt(params, "delay")
    if initial is None:
        initial = _opt(params, "initial")
    base = None
    if params.allows("base"):
        base = params.number("base") or params.number("multiplier") or None
    delays: list[float] = []
    raw = params.get("delays") if params.allows("delays") else None
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        found = number_at(item, (*params.at("delays"), i), params.ctx, "a duration",
                          parse_duration)
        if found is not None:
            delays.append(found)
    return literal, initial, _opt(params, "increment"), base, tuple(delays), _opt(params,
                                                                                 "max_delay")
