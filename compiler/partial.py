"""What the stages after an error may still read, so one run reports every problem.

The schema's share is `schema_prune`; this is normalization's and the expressions': a step
with an error inside it (conflicting options, an option its kind does not take, an expression
that does not parse) is not lowered, and the other steps are. What lowering would have made
of the broken step is unknown, so checks must not report what its absence causes: a
reference to an id or a capture it declares is not a misspelling of another one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from prodigy.compiler.model import Step
from prodigy.compiler.model_workflow import Phase, Workflow
from prodigy.compiler.scope import RefIssue
from prodigy.runtime.span import Span

# The keys under which a step declares a name later steps read.
_DECLARING = ("id", "capture", "capture_output")


def without_broken_steps(workflow: Workflow, errors: Iterable[Span]) -> Workflow:
    """`workflow` without the phase steps (map agent steps included) an error lies in."""
    spans = [span for span in errors if span.file == workflow.span.file]
    if not spans:
        return workflow

    def kept(steps: tuple[Step, ...]) -> tuple[Step, ...]:
        return tuple(s for s in steps if s.span is None or not any(
            _inside(span, s.span) for span in spans))

    def phase(found: Phase | None) -> Phase | None:
        return None if found is None else replace(found, steps=kept(found.steps))

    mapped = workflow.map
    return replace(workflow, setup=phase(workflow.setup), main=phase(workflow.main),
                   reduce=phase(workflow.reduce), merge=phase(workflow.merge),
                   map=None if mapped is None else replace(mapped, agent=kept(mapped.agent)))


def _inside(inner: Span, outer: Span) -> bool:
    start, end = (outer.line, outer.col), (outer.end_line, outer.end_col)
    return start <= (inner.line, inner.col) <= end


def declared_names(data: object) -> set[str]:
    """Every name a step of the document declares (`id:`, `capture:`, `capture_output:`)."""
    found: set[str] = set()
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.update(v for k in _DECLARING if isinstance(v := node.get(k), str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def consequences_dropped(issues: tuple[RefIssue, ...], left_out: set[str]
                         ) -> tuple[RefIssue, ...]:
    """The reference issues that are not caused by a step left out for its errors: an
    "unknown" root that such a step declares is only missing because it was left out."""
    return tuple(issue for issue in issues
                 if not (issue.kind == "unknown" and issue.root in left_out))
