"""Normalization of steps: every spelling of a step, in every phase, becomes one `Step`.

Surface forms of the command handled here: legacy command strings (`- prodigy-lint` and
`- "/prodigy-implement-spec $ARG"`, Claude commands), legacy `name:` command objects with
`args`/`options`, `command:`, `test:`, and the command keys with their own spellings (three
for foreach's items). The step's options are `normalize_options`'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, cast

from prodigy.compiler.model import (
    Analyze,
    Claude,
    Command,
    DataPath,
    Foreach,
    GoalSeek,
    Handler,
    Shell,
    Step,
    Text,
    WriteFile,
)
from prodigy.compiler.normalize_base import Ctx, Fields, scalar_text, seconds
from prodigy.compiler.normalize_options import options
from prodigy.compiler.normalize_policies import (
    ReadSteps,
    command_step,
    handler,
)


def read_steps(value: object, path: DataPath, ctx: Ctx, strings: str = "legacy"
               ) -> tuple[Step, ...]:
    """A step list (a single step where a step or a list is allowed). `strings` says what a
    bare string is: "legacy" (a Claude command, as in a standard workflow) or "handler"
    (`/` means Claude, else shell, as in on_failure lists)."""
    if not isinstance(value, list):
        one = read_step(value, path, ctx, strings) if value is not None else None
        return (one,) if one is not None else ()
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
    return options(fields, command, test_handler, _reader(ctx))


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
    max_age = fields.integer("max_cache_age")
    return Analyze(
        max_cache_age_s=300 if max_age is None else max_age,
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
    """Every spelling: `foreach: {foreach: X, do: [...]}`, `{items: X, ...}`, `{input: X, ...}`;
    X is a literal list or a shell command whose output lines are the items."""
    if fields is None:
        return None
    key = next((k for k in ("items", "foreach", "input") if fields.has(k)), "items")
    value = fields.get(key)
    items: tuple[str, ...] | None = None
    command: Text | None = None
    if isinstance(value, list):
        # A string item is its own text; only numbers and the like need their source text
        # (looking up a span per item was a third of normalizing a 100,000-item list).
        at = fields.at(key)
        items = tuple(v if isinstance(v, str) else scalar_text(v, (*at, i), fields.ctx).value
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


