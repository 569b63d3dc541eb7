"""`claude: PROMPT`: one non-interactive Claude Code call with the prompt as one argument.

Its options (`model`, `max_turns`, `allowed_tools`, `disallowed_tools`, `permission_mode`,
`append_system_prompt`) sit beside `claude:` on the step, in `defaults:` or at the workflow's
top level, the step's winning; its budget (`max_cost_usd`, `max_tokens`) is the step's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

from prodigy.compiler.commands.base import (
    CLAUDE_OPTIONS,
    COMMON_OPTIONS,
    CommandSpec,
    Site,
    label_text,
    text_command,
)
from prodigy.compiler.model import Budget, ClaudeOptions, Command, PermissionMode, Text
from prodigy.compiler.normalize_base import budget
from prodigy.runtime.nodes import ClaudeParams
from prodigy.runtime.span import Span

if TYPE_CHECKING:
    from prodigy.compiler.normalize_base import Fields


@dataclass(frozen=True, slots=True)
class Claude(Command):
    prompt: Text
    span: Span
    # The step's own; lowering lays them over the workflow's.
    options: ClaudeOptions = field(default_factory=ClaudeOptions)
    budget: Budget = field(default_factory=Budget)


def claude_options(fields: Fields) -> ClaudeOptions:
    """The Claude options one level (a step, `defaults:`, the workflow) sets."""
    return ClaudeOptions(
        model=fields.string("model"),
        max_turns=fields.integer("max_turns"),
        allowed_tools=_tools(fields.get("allowed_tools")),
        disallowed_tools=_tools(fields.get("disallowed_tools")),
        permission_mode=cast("PermissionMode | None", fields.string("permission_mode")),
        append_system_prompt=fields.text("append_system_prompt"),
    )


def configure(command: Claude, step: Fields) -> Claude:
    """`command` with the options and budget its step mapping sets beside it."""
    return replace(command, options=claude_options(step), budget=budget(step))


def _tools(value: object) -> tuple[str, ...] | None:
    """A list of tool names, or one string of them separated by commas or spaces."""
    if isinstance(value, list):
        names = [str(name).strip() for name in value]
    elif isinstance(value, str):
        names = _split(value)
    else:
        return None
    return tuple(name for name in names if name)


def _split(text: str) -> list[str]:
    """A comma or space inside parentheses belongs to the name: `Bash(git log:*)`."""
    names, name, depth = [], "", 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        if depth == 0 and (char == "," or char.isspace()):
            names.append(name)
            name = ""
        else:
            name += char
    return [*names, name]


def lower(command: Claude, site: Site) -> ClaudeParams:
    options = command.options.over(site.low.claude)
    given: dict[str, Any] = {
        "model": options.model,
        "max_turns": options.max_turns,
        "allowed_tools": options.allowed_tools,
        "disallowed_tools": options.disallowed_tools,
        "permission_mode": options.permission_mode,
        "append_system_prompt": site.exprs.template(options.append_system_prompt),
        "max_cost_usd": command.budget.max_cost_usd,
        "max_tokens": command.budget.max_tokens,
    }
    # What no level sets takes ClaudeParams' default (and stays out of the plan).
    return ClaudeParams(prompt=site.exprs.template(command.prompt), **site.step_fields(),
                        **{name: value for name, value in given.items() if value is not None})


SPEC = CommandSpec(
    key="claude",
    read=lambda fields, _: text_command(fields, "claude", Claude),
    model=Claude,
    node=ClaudeParams,
    publishes=("claude",),
    runs_process=True,
    options=COMMON_OPTIONS + CLAUDE_OPTIONS,
    lower=lower,
    label=lambda command: label_text("claude", command.prompt.value),
)
