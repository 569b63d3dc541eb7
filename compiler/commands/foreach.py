"""`foreach: {foreach|items|input: X, do: [...], parallel, continue_on_error, max_items}`.

X is a literal list or a shell command whose output lines are the items. A literal list is
expanded at compile time when it can be (`lower_loops.lower_expanded`); otherwise the loop is a
`foreach` node whose body is a sub-plan, lowered here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from prodigy.compiler.commands.base import LOOP_OPTIONS, CommandSpec, Site, label_text
from prodigy.compiler.model import Command, Handler, Step, Text
from prodigy.compiler.normalize_base import scalar_text
from prodigy.compiler.scope import FOREACH_BODY
from prodigy.runtime.nodes import ForeachParams
from prodigy.runtime.span import Span

if TYPE_CHECKING:
    from prodigy.compiler.normalize_base import Fields
    from prodigy.compiler.normalize_policies import ReadSteps

LOOP_CONTEXT = FOREACH_BODY | {"foreach"}


@dataclass(frozen=True, slots=True)
class Foreach(Command):
    """Items are either a literal list (as text) or a shell command whose lines are the items."""

    items: tuple[str, ...] | None
    command: Text | None
    body: tuple[Step, ...]
    parallel: int  # concurrent items; 1 = sequential
    continue_on_error: bool
    max_items: int | None
    span: Span

    def nested(self) -> tuple[Step, ...]:
        return self.body


READS = ("foreach", "items", "input", "do", "parallel", "continue_on_error", "max_items")


def read(step: Fields, read_steps: ReadSteps) -> tuple[Foreach | None, Handler | None]:
    """Every spelling: `foreach: {foreach: X, do: [...]}`, `{items: X, ...}`, `{input: X, ...}`."""
    fields = step.child("foreach", "foreach", READS)
    if fields is None:
        return None, None
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
        body=read_steps(fields.get("do"), fields.at("do"), "legacy"),
        parallel=max(int(workers), 1),
        continue_on_error=fields.flag("continue_on_error", False),
        max_items=fields.integer("max_items"),
        span=fields.span,
    ), None


def lower(loop: Foreach, site: Site) -> ForeachParams:
    body = site.subplan("do", loop.body, LOOP_CONTEXT, "a foreach body")
    return ForeachParams(body=body, items=loop.items, command=site.exprs.template(loop.command),
                         parallel=loop.parallel, continue_on_error=loop.continue_on_error,
                         max_items=loop.max_items)


def label(loop: Foreach) -> str:
    if loop.items is not None:
        return f"foreach: {len(loop.items)} items"
    return label_text("foreach", loop.command.value if loop.command else "")


SPEC = CommandSpec(
    key="foreach",
    read=read,
    model=Foreach,
    schema_def="foreach",
    reads=READS,
    node=ForeachParams,
    publishes=("foreach",),
    options=LOOP_OPTIONS,
    lower=lower,
    label=label,
)
