"""`claude: PROMPT`: one non-interactive Claude Code call with the prompt as one argument."""

from __future__ import annotations

from dataclasses import dataclass

from prodigy.compiler.commands.base import CommandSpec, Site, label_text, text_command
from prodigy.compiler.model import Command, Text
from prodigy.runtime.nodes import ClaudeParams
from prodigy.runtime.span import Span


@dataclass(frozen=True, slots=True)
class Claude(Command):
    prompt: Text
    span: Span


def lower(command: Claude, site: Site) -> ClaudeParams:
    return ClaudeParams(prompt=site.exprs.template(command.prompt), **site.step_fields())


SPEC = CommandSpec(
    key="claude",
    read=lambda fields, _: text_command(fields, "claude", Claude),
    model=Claude,
    node=ClaudeParams,
    publishes=("claude",),
    runs_process=True,
    lower=lower,
    label=lambda command: label_text("claude", command.prompt.value),
)
