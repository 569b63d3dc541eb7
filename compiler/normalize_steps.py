"""Normalization of steps: every spelling of a step, in every phase, becomes one `Step`.

The command of a step mapping is read by the command module that owns its key
(`compiler/commands/registry.py`); the surface forms handled here are the ones without a
key: legacy command strings (`- prodigy-lint` and `- "/prodigy-implement-spec $ARG"`, Claude
commands) and legacy `name:` command objects with `args`/`options`. The step's options are
`normalize_options`'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from prodigy.compiler.commands.base import CLAUDE_OPTIONS
from prodigy.compiler.commands.claude import Claude, configure
from prodigy.compiler.commands.registry import COMMAND_KEYS, COMMANDS
from prodigy.compiler.compose_map import group_of
from prodigy.compiler.model import Command, DataPath, Handler, Step, Text
from prodigy.compiler.normalize_base import STEP_OPTIONS, Ctx, Fields, scalar_text
from prodigy.compiler.normalize_options import options
from prodigy.compiler.normalize_policies import ReadSteps, command_step
from prodigy.runtime.errors import InternalError

STEP_FIELDS = frozenset(COMMAND_KEYS) | frozenset(STEP_OPTIONS) | frozenset(CLAUDE_OPTIONS)


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
    step = _read_step(value, path, ctx, strings)
    group = group_of(ctx.source_map, path) if step is not None else ()
    return replace(step, group=group) if group and step is not None else step


def _read_step(value: object, path: DataPath, ctx: Ctx, strings: str) -> Step | None:
    if path in ctx.skip:
        return None
    if isinstance(value, str):
        text = scalar_text(value, path, ctx)
        if strings == "handler":
            return command_step(text)
        return Step(_legacy_claude(text), text.span)
    if not isinstance(value, Mapping):
        return None
    fields = Fields(value, path, "stepObject", ctx, STEP_FIELDS)
    errors = len(ctx.diagnostics)
    command, test_handler = _command(fields)
    if command is None and not fields.has("validate"):
        if len(ctx.diagnostics) == errors:
            # The schema accepted the step and no reader said why it has no command: a key
            # the schema allows that no command module claims. Never drop the step silently.
            raise InternalError(f"step at {'/'.join(map(str, path)) or 'root'} has no command "
                                f"a reader claims (keys: {', '.join(map(str, value))})")
        return None
    if isinstance(command, Claude):  # `claude:`, a legacy `name:` or `command: "/..."`
        command = configure(command, fields)
    return options(fields, command, test_handler, _reader(ctx))


def _legacy_claude(text: Text) -> Claude:
    """`prodigy-lint --fix` and `/prodigy-lint --fix` both run the Claude command `/prodigy-lint`
    with its arguments (upstream dropped the arguments; they are kept here)."""
    value = text.value.strip()
    if value.startswith("/"):
        return Claude(text, text.span)
    return Claude(Text("/" + value, text.span), text.span)


def _command(fields: Fields) -> tuple[Command | None, Handler | None]:
    for spec in COMMANDS:
        if fields.has(spec.key):
            return spec.read(fields, _reader(fields.ctx))
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
