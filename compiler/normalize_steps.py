"""Normalization of steps: every spelling of a step, in every phase, becomes one `Step`.

Surface forms handled here: legacy command strings (`- prodigy-lint` and
`- "/prodigy-implement-spec $ARG"`, Claude commands), legacy `name:` command objects with
`args`/`options`/`metadata`, `command:`, `test:`, the command keys, `capture_output` as a bool
or a name, `capture` with `capture_format`/`capture_streams` (a string or a mapping),
`output`/`output_file`, and the ways a failure is tolerated (`allow_failure`,
`continue_on_error`, `fail_workflow: false`, `retry: {on_failure: continue}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Literal, cast

from prodigy.compiler.model import (
    Analyze,
    Capture,
    Claude,
    Command,
    CommitConfig,
    DataPath,
    ExitHandler,
    Foreach,
    GoalSeek,
    Handler,
    Output,
    Retry,
    Shell,
    Step,
    Text,
    WriteFile,
)
from prodigy.compiler.normalize_base import Ctx, Fields, scalar_text, seconds
from prodigy.compiler.normalize_policies import (
    ReadSteps,
    command_step,
    handler,
    retry,
    tolerate,
    validation,
    verify,
)

COMMAND_KEYS = ("claude", "shell", "analyze", "foreach", "write_file", "goal_seek", "test",
                "command", "handler")
# Upstream's default capture: the value plus exit code, success and duration, not stderr.
_STREAMS = {"stdout": True, "stderr": False, "exit_code": True, "success": True,
            "duration": True}
_STREAM_WORDS = {"stdout": ("stdout",), "stderr": ("stderr",), "both": ("stdout", "stderr")}
_FORMATS = {"string": "string", "text": "string", "json": "json", "lines": "lines",
            "number": "number", "boolean": "boolean"}


def read_steps(value: object, path: DataPath, ctx: Ctx, strings: str = "legacy"
               ) -> tuple[Step, ...]:
    """A step list. `strings` says what a bare string is: "legacy" (a Claude command, as in
    a standard workflow) or "handler" (`/` means Claude, else shell, as in on_failure lists)."""
    if not isinstance(value, list):
        return ()
    found = (read_step(item, (*path, i), ctx, strings) for i, item in enumerate(value))
    return tuple(s for s in found if s is not None)


def _reader(ctx: Ctx) -> ReadSteps:
    def read(value: object, path: DataPath, strings: str) -> tuple[Step, ...]:
        return read_steps(value, path, ctx, strings)

    return read


def read_step(value: object, path: DataPath, ctx: Ctx, strings: str = "legacy") -> Step | None:
    if isinstance(value, str):
        text = scalar_text(value, path, ctx)
        if strings == "handler":
            return command_step(text)
        return Step(_legacy_claude(text), text.span)
    if not isinstance(value, Mapping):
        return None
    fields = Fields(value, path, "stepObject", ctx)
    command, test_handler = _command(fields)
    if command is None and not fields.has("validate"):
        return None
    return _options(fields, command, test_handler)


def _legacy_claude(text: Text) -> Claude:
    """`prodigy-lint --fix` and `/prodigy-lint --fix` both run the Claude command `/prodigy-lint`
    with its arguments (upstream dropped the arguments; they are kept here)."""
    value = text.value.strip()
    if value.startswith("/"):
        return Claude(text, text.span)
    return Claude(Text("/" + value, text.span), text.span)


def _command(fields: Fields) -> tuple[Command | None, Handler | None]:
    ctx = fields.ctx
    if fields.has("claude"):
        text = fields.text("claude")
        return (Claude(text, text.span) if text else None), None
    if fields.has("shell"):
        text = fields.text("shell")
        return (Shell(text, text.span) if text else None), None
    if fields.has("command"):
        text = fields.text("command")
        return (command_step(text).command if text else None), None
    if fields.has("test"):
        test = fields.child("test", "testCommand")
        text = test.text("command") if test else None
        if test is None or text is None:
            return None, None
        found = (handler(test.get("on_failure"), test.at("on_failure"), ctx, _reader(ctx))
                 if test.has("on_failure") else None)
        return Shell(text, text.span), found
    if fields.has("analyze"):
        return _analyze(fields.child("analyze", "analyze")), None
    if fields.has("write_file"):
        return _write_file(fields.child("write_file", "writeFile")), None
    if fields.has("foreach"):
        return _foreach(fields.child("foreach", "foreach")), None
    if fields.has("goal_seek"):
        return _goal_seek(fields.child("goal_seek", "goalSeek")), None
    if fields.has("handler"):
        ctx.error("P119", "modular `handler:` steps are not supported", fields.key_span("handler"),
                  hint="run the handler's work with `shell:` or `claude:`")
        return None, None
    if fields.has("name") and not fields.has("validate"):
        return _legacy_object(fields), None
    return None, None


def _legacy_object(fields: Fields) -> Claude:
    """`{name: prodigy-code-review, args: [...], options: {focus: security}}` runs
    `/prodigy-code-review ARGS --focus security`."""
    name = fields.text("name")
    assert name is not None
    words = [name.value if name.value.startswith("/") else "/" + name.value]
    raw_args = fields.get("args")
    for i, arg in enumerate(raw_args if isinstance(raw_args, list) else []):
        words.append(scalar_text(arg, (*fields.at("args"), i), fields.ctx).value)
    options = fields.get("options")
    for key, option in (options.items() if isinstance(options, Mapping) else ()):
        if option is True:
            words.append(f"--{key}")
        elif option is not False:
            words.append(f"--{key}")
            words.append(scalar_text(option, (*fields.at("options"), key), fields.ctx).value)
    prompt = " ".join(words)
    text = name if prompt == name.value else Text(prompt, name.span)
    return Claude(text, name.span)


def _analyze(fields: Fields | None) -> Analyze | None:
    if fields is None:
        return None
    fmt = fields.string("format") or "summary"
    return Analyze(
        max_cache_age_s=fields.integer("max_cache_age") if fields.has("max_cache_age") else 300,
        force_refresh=fields.flag("force_refresh", False),
        save=fields.flag("save", True),
        format=cast(Literal["summary", "detailed", "json"], fmt),
        span=fields.span,
    )


def _write_file(fields: Fields | None) -> WriteFile | None:
    if fields is None:
        return None
    path, content = fields.text("path"), fields.text("content")
    if path is None or content is None:
        return None
    mode = fields.string("mode") or "0644"
    return WriteFile(
        path=path,
        content=content,
        format=cast(Literal["text", "json", "yaml"], fields.string("format") or "text"),
        mode=mode if len(mode) == 4 else "0" + mode,
        create_dirs=fields.flag("create_dirs", False),
        span=fields.span,
    )


def _foreach(fields: Fields | None) -> Foreach | None:
    """Both spellings: `foreach: {foreach: X, do: [...]}` and `foreach: {items: X, do: [...]}`;
    X is a literal list or a shell command whose output lines are the items."""
    if fields is None:
        return None
    key = "items" if fields.has("items") else "foreach"
    value = fields.get(key)
    items: tuple[str, ...] | None = None
    command: Text | None = None
    if isinstance(value, list):
        items = tuple(scalar_text(v, (*fields.at(key), i), fields.ctx).value
                      for i, v in enumerate(value))
    else:
        command = fields.text(key)
    parallel = fields.get("parallel")
    # Upstream: false runs items one at a time, true runs 10 at once, N runs N at once.
    workers = 10 if parallel is True else (parallel if isinstance(parallel, int)
                                           and parallel is not False else 1)
    return Foreach(
        items=items,
        command=command,
        body=read_steps(fields.get("do"), fields.at("do"), fields.ctx),
        parallel=max(int(workers), 1),
        continue_on_error=fields.flag("continue_on_error", False),
        max_items=fields.integer("max_items"),
        span=fields.span,
    )


def _goal_seek(fields: Fields | None) -> GoalSeek | None:
    if fields is None:
        return None
    attempt: Step | None = None
    for key in ("claude", "shell", "command"):
        text = fields.text(key)
        if text is not None and attempt is None:
            command: Command = (Claude(text, text.span) if key == "claude" else
                                command_step(text).command or Shell(text, text.span))
            attempt = Step(command, text.span)
    check = fields.text("validate")
    if attempt is None or check is None:
        fields.ctx.error("P112", "`goal_seek` needs a command to refine (`claude:` or `shell:`)",
                         fields.span, hint="add `claude: \"/improve ...\"`")
        return None
    threshold = fields.number("threshold")
    return GoalSeek(
        goal=fields.string("goal") or "",
        attempt=attempt,
        validate=check,
        threshold=100 if threshold is None else threshold,
        max_attempts=max(fields.integer("max_attempts") or 3, 1),
        timeout_s=seconds(fields, "timeout_seconds"),
        fail_on_incomplete=fields.flag("fail_on_incomplete", False),
        span=fields.span,
    )


# ----------------------------------------------------------------------------- options


def _options(fields: Fields, command: Command | None, test_handler: Handler | None) -> Step:
    ctx = fields.ctx
    meta = fields.child("metadata", "commandMetadata")
    reader = _reader(ctx)
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
        # `temporary: true` asks that env changes not leak into later steps; step `env` never
        # does here, so the flag has nothing left to do.
        timeout_s=seconds(fields, "timeout") if fields.has("timeout") else (
            seconds(meta, "timeout") if meta is not None else None),
        capture=_capture(fields),
        output_file=_output_file(fields),
        commit_required=fields.flag("commit_required", meta is not None
                                    and meta.flag("commit_required", False)),
        auto_commit=fields.flag("auto_commit", False),
        commit_config=_commit_config(fields.child("commit_config", "commitConfig")),
        outputs=_outputs(fields),
        analysis=_analysis(fields.child("analysis", "analysisConfig")),
        retry=step_retry,
        on_failure=on_failure,
        on_success=_one(fields, "on_success"),
        on_exit_code=_exit_codes(fields),
        validation=(validation(fields.get("validate"), fields.at("validate"), ctx, reader,
                               seconds(fields, "validation_timeout"))
                    if fields.has("validate") else None),
        verify=verify(fields),
    )
    return _tolerance(fields, meta, step, exhausted == "continue")


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
           ) -> tuple[Retry | None, str | Step]:
    child = fields.child("retry", "retry")
    if child is not None:
        return retry(child)
    retries = meta.integer("retries") if meta is not None else None
    defaults = fields.ctx.retry_defaults
    if retries is not None and retries > 0:
        base = defaults or retry(Fields({}, fields.at("metadata"), "retry", fields.ctx))[0]
        return replace(base, attempts=retries + 1), "stop"
    if defaults is not None and isinstance(command, Shell | Claude | WriteFile):
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
    return Capture(name, cast(Literal["string", "json", "lines", "number", "boolean"], fmt),
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


def _commit_config(fields: Fields | None) -> CommitConfig | None:
    if fields is None:
        return None

    def names(key: str) -> tuple[str, ...]:
        raw = fields.get(key)
        return tuple(str(v) for v in raw) if isinstance(raw, list) else ()

    return CommitConfig(fields.string("message_template"), fields.string("message_pattern"),
                        fields.flag("sign", False), fields.string("author"), names("include_files"),
                        names("exclude_files"), fields.flag("squash", False), fields.span)


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


def _one(fields: Fields, key: str) -> tuple[Step, ...]:
    if not fields.has(key):
        return ()
    found = read_step(fields.get(key), fields.at(key), fields.ctx)
    return (found,) if found is not None else ()


def _exit_codes(fields: Fields) -> tuple[ExitHandler, ...]:
    raw = fields.get("on_exit_code")
    found: list[ExitHandler] = []
    for code, value in (raw.items() if isinstance(raw, Mapping) else ()):
        path = (*fields.at("on_exit_code"), code)
        step = read_step(value, path, fields.ctx)
        if step is not None:
            found.append(ExitHandler(int(code), (step,), fields.ctx.source_map.key_span(path)))
    return tuple(sorted(found, key=lambda h: h.code))

