"""`analyze: {max_cache_age, force_refresh, save, format}`: refresh the codebase analysis.

A step's legacy `analysis:` option runs the same command just before the step's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from prodigy.compiler.commands.base import CommandSpec
from prodigy.compiler.model import Command, Handler
from prodigy.runtime.nodes import AnalyzeParams
from prodigy.runtime.span import Span

if TYPE_CHECKING:
    from prodigy.compiler.normalize_base import Fields
    from prodigy.compiler.normalize_policies import ReadSteps


@dataclass(frozen=True, slots=True)
class Analyze(Command):
    max_cache_age_s: int
    force_refresh: bool
    save: bool
    format: Literal["summary", "detailed", "json"]
    span: Span


READS = ("max_cache_age", "force_refresh", "save", "format")


def read(step: Fields, _: ReadSteps) -> tuple[Analyze | None, Handler | None]:
    fields = step.child("analyze", "analyze", READS)
    if fields is None:
        return None, None
    fmt = fields.string("format") or "summary"
    max_age = fields.integer("max_cache_age")
    return Analyze(
        max_cache_age_s=300 if max_age is None else max_age,
        force_refresh=fields.flag("force_refresh", False),
        save=fields.flag("save", True),
        format=cast(Literal["summary", "detailed", "json"], fmt),
        span=fields.span,
    ), None


def params(command: Analyze, common: dict[str, Any]) -> AnalyzeParams:
    return AnalyzeParams(max_cache_age_s=command.max_cache_age_s,
                         force_refresh=command.force_refresh, save=command.save,
                         format=command.format, **common)


SPEC = CommandSpec(
    key="analyze",
    read=read,
    model=Analyze,
    schema_def="analyze",
    reads=READS,
    node=AnalyzeParams,
    lower=lambda command, site: params(command, site.step_fields()),
    label=lambda _: "analyze",
)
