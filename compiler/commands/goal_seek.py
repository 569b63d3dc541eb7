"""`goal_seek: {goal, claude|shell|command, validate, threshold, max_attempts, ...}`: repeat a
command (a sub-plan) until the score its `validate` command prints reaches the threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from prodigy.compiler.commands.base import LOOP_OPTIONS, CommandSpec, Site, label_text
from prodigy.compiler.commands.claude import Claude
from prodigy.compiler.commands.shell import Shell
from prodigy.compiler.model import Command, Handler, Step, Text
from prodigy.compiler.normalize_base import seconds
from prodigy.compiler.normalize_policies import command_step
from prodigy.compiler.scope import REFINEMENT
from prodigy.runtime.nodes import GoalSeekParams
from prodigy.runtime.span import Span

if TYPE_CHECKING:
    from prodigy.compiler.normalize_base import Fields
    from prodigy.compiler.normalize_policies import ReadSteps


@dataclass(frozen=True, slots=True)
class GoalSeek(Command):
    goal: str
    attempt: Step  # the command refined on each attempt (a claude or shell step)
    validate: Text  # shell command printing the score
    threshold: float
    max_attempts: int
    timeout_s: float | None
    fail_on_incomplete: bool
    span: Span

    def nested(self) -> tuple[Step, ...]:
        return (self.attempt,)


READS = ("goal", "claude", "shell", "command", "validate", "threshold", "max_attempts",
         "timeout_seconds", "fail_on_incomplete")


def read(step: Fields, _: ReadSteps) -> tuple[GoalSeek | None, Handler | None]:
    fields = step.child("goal_seek", "goalSeek", READS)
    if fields is None:
        return None, None
    attempt: Step | None = None
    for key in ("claude", "shell", "command"):
        text = fields.text(key)
        if text is not None and attempt is None:
            if key == "claude":
                attempt = Step(Claude(text, text.span), text.span)
            elif key == "shell":
                attempt = Step(Shell(text, text.span), text.span)
            else:  # the legacy spelling: a leading `/` means Claude, else shell
                attempt = command_step(text)
    check = fields.text("validate")
    if attempt is None or check is None:
        fields.ctx.error("P112", "`goal_seek` needs a command to refine (`claude:` or `shell:`)",
                         fields.span, hint="add `claude: \"/improve ...\"`")
        return None, None
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
    ), None


def lower(seek: GoalSeek, site: Site) -> GoalSeekParams:
    attempt = site.subplan("attempt", (seek.attempt,), REFINEMENT, "a goal_seek attempt")
    return GoalSeekParams(goal=seek.goal, attempt=attempt,
                          validate=site.exprs.template(seek.validate),
                          threshold=seek.threshold, max_attempts=seek.max_attempts,
                          timeout_s=seek.timeout_s, fail_on_incomplete=seek.fail_on_incomplete)


SPEC = CommandSpec(
    key="goal_seek",
    read=read,
    model=GoalSeek,
    schema_def="goalSeek",
    reads=READS,
    node=GoalSeekParams,
    options=LOOP_OPTIONS,
    lower=lower,
    label=lambda seek: label_text("goal_seek", seek.goal),
)
