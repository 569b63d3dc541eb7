"""What a command module declares (`CommandSpec`) and the lowering context it receives.

A spec is data: the YAML key, the model class, the schema definition of its mapping form and
the fields the reader reads there, the plan node kind, the roots it publishes
(`${shell.output}`), the shared step options it honours, and two functions: `read` (step
fields -> model) and `lower` (model -> node params). Everything else is derived by
`registry.py` and by the stages that consult it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prodigy.compiler.lower_core import Subplan
from prodigy.compiler.lower_exprs import freeze
from prodigy.compiler.model import Command, Handler, Step, Text
from prodigy.compiler.model_json import commit_json
from prodigy.compiler.normalize_base import BUDGET_KEYS, CLAUDE_KEYS
from prodigy.runtime.nodes import NodeParams
from prodigy.runtime.plan import EdgeKind

if TYPE_CHECKING:
    from prodigy.compiler.lower_core import Exprs, Lowering
    from prodigy.compiler.lower_loops import LowerBody
    from prodigy.compiler.normalize_base import Fields
    from prodigy.compiler.normalize_policies import ReadSteps
    from prodigy.compiler.scope import Scope

# Options of the step around its command. The runtime applies the process options to every
# step node it runs (frame: cwd, env, timeout; publish: capture, outputs, extract,
# output_file, commit_required), so a command honours them unless it has no node of its own
# to apply them to (a loop). A step whose command does not honour an option it sets is a
# compile error (P119), never a silently ignored key.
PROCESS_OPTIONS = ("env", "working_dir", "clear_env", "allow_outside", "timeout", "capture",
                   "capture_output", "capture_format", "capture_streams", "output_file", "output",
                   "commit_required", "auto_commit", "commit_config", "outputs", "retry",
                   "retry_config", "max_attempts", "metadata")
COMMAND_OPTIONS = ("on_failure", "on_success", "on_exit_code", "step_validate", "analysis")
COMMON_OPTIONS = PROCESS_OPTIONS + COMMAND_OPTIONS  # what a command honours unless it says
# How the Claude CLI runs, and the step's own budget: only a claude step honours them.
CLAUDE_OPTIONS = CLAUDE_KEYS + BUDGET_KEYS
SHARED_OPTIONS = COMMON_OPTIONS + CLAUDE_OPTIONS  # every one is honoured or refused (P119)
# A loop has no process and no exit code of its own (the compiler crashed on `on_exit_code`
# here when loops were a hand-kept exception list).
LOOP_OPTIONS = ("on_failure", "on_success", "step_validate", "analysis")

# (the step's fields, the step-list reader) -> (command or None, a `test.on_failure` handler)
Reader = Callable[["Fields", "ReadSteps"], tuple[Command | None, Handler | None]]
LABEL_WIDTH = 72


@dataclass(frozen=True, slots=True)
class Site:
    """Where a command is being lowered: the step, its node id and the scope it sees."""

    low: Lowering
    step: Step
    base: str  # the command node's id
    scope: Scope
    exprs: Exprs
    lower_body: LowerBody  # lower_steps.lower_body, for commands that hold steps

    def subplan(self, field: str, steps: tuple[Step, ...], context: frozenset[str],
                where: str) -> str:
        """Lower `steps` as the sub-plan `<node>.<field>` the node runs; returns its name."""
        name = f"{self.base}.{field}"
        self.low.subplans[name] = Subplan(self.base, field)
        inner = self.scope.sub(name, self.base, context, where)
        self.lower_body(self.low, steps, name, inner, (), EdgeKind.SEQUENCE)
        return name

    def step_fields(self) -> dict[str, Any]:
        """The node params every step node carries (`runtime.nodes.StepParams`)."""
        step, exprs = self.step, self.exprs
        capture = step.capture
        return {
            "env": {name: exprs.template(value) for name, value in step.env},
            "working_dir": exprs.template(step.working_dir),
            "clear_env": step.clear_env,
            "allow_outside": step.allow_outside,
            "timeout_s": step.timeout_s,
            "retry": None if step.retry is None else freeze(step.retry.to_json()),
            "capture": capture.name if capture else None,
            "capture_format": capture.format if capture else "string",
            "capture_streams": dict(capture.streams) if capture else {},
            "output_file": exprs.template(step.output_file),
            "commit_required": step.commit_required,
            "auto_commit": step.auto_commit,
            "commit_config": freeze(commit_json(step.commit_config)),
            "step_id": step.id.value if step.id else None,
            "outputs": {o.name: o.file_pattern for o in step.outputs},
            "extract": {e.name: {"source": e.source, "pattern": e.pattern,
                                 "json_path": e.json_path, "max_size": e.max_size,
                                 "default": e.default, "multiline": e.multiline}
                        for e in step.extracts},
        }


@dataclass(frozen=True, slots=True)
class CommandSpec:
    key: str  # the step key: `shell:`
    read: Reader
    model: type[Command] | None = None  # None: another spelling of some command (legacy)
    schema_def: str | None = None  # `$defs` entry of the mapping form (`writeFile`)
    reads: tuple[str, ...] = ()  # the fields of that mapping the reader reads
    node: type[NodeParams] | None = None  # the plan node kind it lowers to
    publishes: tuple[str, ...] = ()  # kind roots later steps read: `${shell.output}`
    runs_process: bool = False  # its node starts a process of its own (shell, claude)
    options: tuple[str, ...] = COMMON_OPTIONS  # the shared step options it honours
    lower: Callable[[Any, Site], NodeParams] | None = None
    label: Callable[[Any], str] | None = None


def label_text(prefix: str, text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    if len(first) > LABEL_WIDTH or "\n" in text.strip():
        first = first[:LABEL_WIDTH].rstrip() + " …"
    return f"{prefix}: {first}"


def text_command(fields: Fields, key: str, model: Callable[[Text, Any], Command]
                 ) -> tuple[Command | None, Handler | None]:
    """The reader of a command whose value is its one text (`shell: CMD`)."""
    text = fields.text(key)
    return (model(text, text.span) if text else None), None
