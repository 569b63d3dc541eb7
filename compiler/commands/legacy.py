"""Command keys upstream Prodigy accepted that spell one of the other commands.

`command: TEXT` (a leading `/` means Claude, else shell), `test: {command, on_failure}` (a
shell command with its own failure handler), and `handler:` (upstream's modular handlers,
refused with a hint). They have no model class of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prodigy.compiler.commands.base import CommandSpec
from prodigy.compiler.commands.shell import Shell
from prodigy.compiler.model import Command, Handler
from prodigy.compiler.normalize_policies import command_step, handler

if TYPE_CHECKING:
    from prodigy.compiler.normalize_base import Fields
    from prodigy.compiler.normalize_policies import ReadSteps

TEST_READS = ("command", "on_failure")
HANDLER_READS = ("name", "attributes")


def read_command(step: Fields, _: ReadSteps) -> tuple[Command | None, Handler | None]:
    text = step.text("command")
    return (command_step(text).command if text else None), None


def read_test(step: Fields, read_steps: ReadSteps) -> tuple[Command | None, Handler | None]:
    test = step.child("test", "testCommand", TEST_READS)
    text = test.text("command") if test else None
    if test is None or text is None:
        return None, None
    found = (handler(test.get("on_failure"), test.at("on_failure"), step.ctx, read_steps)
             if test.has("on_failure") else None)
    return Shell(text, text.span), found


def read_handler(step: Fields, _: ReadSteps) -> tuple[Command | None, Handler | None]:
    step.ctx.error("P119", "modular `handler:` steps are not supported", step.key_span("handler"),
                   hint="run the handler's work with `shell:` or `claude:`")
    return None, None


COMMAND = CommandSpec(key="command", read=read_command)
TEST = CommandSpec(key="test", read=read_test, schema_def="testCommand", reads=TEST_READS)
HANDLER = CommandSpec(key="handler", read=read_handler, schema_def="handler",
                      reads=HANDLER_READS)
