"""`shell: CMD`: run `sh -c CMD` in the step's directory and environment."""

from __future__ import annotations

from dataclasses import dataclass

from prodigy.compiler.commands.base import CommandSpec, Site, label_text, text_command
from prodigy.compiler.model import Command, Text
from prodigy.runtime.nodes import ShellParams
from prodigy.runtime.span import Span


@dataclass(frozen=True, slots=True)
class Shell(Command):
    command: Text
    span: Span


def lower(command: Shell, site: Site) -> ShellParams:
    return ShellParams(command=site.exprs.template(command.command), **site.step_fields())


SPEC = CommandSpec(
    key="shell",
    read=lambda fields, _: text_command(fields, "shell", Shell),
    model=Shell,
    node=ShellParams,
    publishes=("shell",),
    runs_process=True,
    lower=lower,
    label=lambda command: label_text("shell", command.command.value),
)
