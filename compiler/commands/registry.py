"""The one list of step commands, and the tables derived from it.

Order matters twice: it is the order the schema's one-command rule lists the keys in (a test
holds them equal), and the order a step's keys are tried in when it is read.
"""

from __future__ import annotations

from prodigy.compiler.commands import analyze, claude, foreach, goal_seek, legacy, shell, write_file
from prodigy.compiler.commands.base import CommandSpec
from prodigy.compiler.model import Command
from prodigy.compiler.scope import CONSTRUCT_ROOTS

COMMANDS: tuple[CommandSpec, ...] = (
    claude.SPEC,
    shell.SPEC,
    analyze.SPEC,
    foreach.SPEC,
    write_file.SPEC,
    goal_seek.SPEC,
    legacy.TEST,
    legacy.COMMAND,
    legacy.HANDLER,
)

COMMAND_KEYS = tuple(spec.key for spec in COMMANDS)
BY_MODEL: dict[type[Command], CommandSpec] = {
    spec.model: spec for spec in COMMANDS if spec.model is not None}
# Roots only a node of some kind publishes: `${shell.output}` needs an earlier shell step.
PUBLISHED = frozenset(root for spec in COMMANDS for root in spec.publishes) | CONSTRUCT_ROOTS
# Roots that name "the latest node of some kind" rather than one chosen variable.
KIND_ROOTS = PUBLISHED | {"step"}
# The fields each command's mapping form is read through, by schema definition.
READS = {spec.schema_def: frozenset(spec.reads) for spec in COMMANDS if spec.schema_def}


def spec_of(command: Command) -> CommandSpec:
    """The spec of a model instance; a model class nobody registered is a compiler bug."""
    spec = BY_MODEL.get(type(command))
    if spec is None:
        raise TypeError(f"command model {type(command).__name__} is not in the registry")
    return spec
