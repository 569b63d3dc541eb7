"""Name resolution for lowering: which node produces the value a `${...}` reference reads.

A `Scope` is what is visible at one point of the workflow: names published by nodes lowered
so far (captures, step ids, `shell`, `claude`, `map`, ...), roots the enclosing construct
provides at run time (`item` in a map agent, `error` in a handler, `merge` in the merge
phase), and names that are always there (workflow env, --arg values, `workflow`, `ARG`, ...).
Scopes are immutable; lowering threads a new one through each step.

A reference found nowhere is not an error by itself: `${HOME}` and `$PATH` are left for the
shell. `RefIssue`s record the unresolved references that might be mistakes; `checks.py`
decides which of them are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from prodigy.runtime.span import Span

# Roots a construct provides at run time, by construct.
MAP_AGENT = frozenset({"item", "item_index", "item_total", "item_id", "item_json"})
FOREACH_BODY = frozenset({"item", "index", "total"})
FAILURE_HANDLER = frozenset({"error", "test"})
REFINEMENT = frozenset({"validation"})
MERGE_PHASE = frozenset({"merge"})
# Roots that exist in every phase. `step.*` is the git view of the latest step's changes; before
# any step it describes the working tree, so it is never missing (a DATA edge is still drawn
# from the latest step when there is one).
ALWAYS = frozenset({"workflow", "step", "env", "PROJECT_ROOT", "WORKTREE", "ITERATION", "ARG",
                    "INDEX", "TOTAL", "PRODIGY_RUN_ID", "PRODIGY_AUTOMATION"})
_POSITIONAL = re.compile(r"ARG_[0-9]+|[0-9]+")
# Roots a construct publishes (an on_failure handler, a validation, the map phase, a capture);
# the roots commands publish (`${shell.output}` needs an earlier shell step) are their specs'
# (`commands/registry.py`: PUBLISHED and KIND_ROOTS join the two).
CONSTRUCT_ROOTS = frozenset({"handler", "validation", "map", "CAPTURED_OUTPUT"})
ITEM_ROOTS = MAP_AGENT | FOREACH_BODY
LAST = "last"  # the latest step's output and exit code; nothing before the first step


@dataclass(frozen=True, slots=True)
class Scope:
    plan: str  # "" for the main plan, else the sub-plan's name
    phase: str
    names: Mapping[str, str] = field(default_factory=dict)  # root -> producing node id
    context: frozenset[str] = frozenset()
    given: frozenset[str] = frozenset()  # env, secrets, args and parameters
    attached: frozenset[str] = frozenset()  # nodes whose bodies enclose this point
    outer: Scope | None = None
    anchor: str | None = None  # the node of `outer.plan` that owns this sub-plan
    where: str = "main"  # the construct, for messages: "a map agent", "reduce", ...

    def bind(self, names: Mapping[str, str]) -> Scope:
        if not names:
            return self
        merged = dict(self.names)
        merged.update(names)
        return replace(self, names=merged)

    def within(self, context: frozenset[str] = frozenset(), attached: str | None = None,
               where: str | None = None) -> Scope:
        """The same plan, inside a body that provides `context` (a handler, a foreach)."""
        return replace(self, context=self.context | context,
                       attached=self.attached | ({attached} if attached else set()),
                       where=where or self.where)

    def sub(self, plan: str, anchor: str, context: frozenset[str], where: str,
            phase: str | None = None) -> Scope:
        """A sub-plan owned by `anchor`: outer names stay visible through the anchor."""
        return Scope(plan=plan, phase=phase or self.phase, context=context, given=self.given,
                     outer=self, anchor=anchor, where=where)

    def chain(self, node: str) -> tuple[tuple[str, str], ...]:
        """(plan, node standing for `node` in that plan), innermost first."""
        out: list[tuple[str, str]] = []
        scope: Scope | None = self
        current: str | None = node
        while scope is not None and current is not None:
            out.append((scope.plan, current))
            current, scope = scope.anchor, scope.outer
        return tuple(out)

    def all_context(self) -> frozenset[str]:
        """Every root the enclosing constructs provide, through sub-plan boundaries."""
        found: set[str] = set()
        scope: Scope | None = self
        while scope is not None:
            found |= scope.context
            scope = scope.outer
        return frozenset(found)

    def provides_context(self, root: str) -> bool:
        return root in self.all_context()


PROVIDED = "provided"


def resolve(scope: Scope, root: str, node: str) -> tuple[str, str] | str | None:
    """Where `node`'s reference to `root` comes from.

    Returns (producer, consumer) for a DATA edge (consumer is `node`, or the anchor standing
    for it in the producer's plan), PROVIDED when no edge is needed, None when nothing visible
    produces it.
    """
    current: Scope | None = scope
    consumer: str | None = node
    # `${last.*}` is the step run just before, whatever its kind: every step publishes `step`.
    name = "step" if root == LAST else root
    while current is not None and consumer is not None:
        if root in current.context:
            return PROVIDED
        producer = current.names.get(name)
        if producer is not None:
            if producer in current.attached or producer == consumer:
                return PROVIDED  # the body runs inside its owner's resolution
            return producer, consumer
        consumer, current = current.anchor, current.outer
    if root in scope.given or root in ALWAYS or _POSITIONAL.fullmatch(root):
        return PROVIDED
    return None


def latest(scope: Scope, root: str) -> str | None:
    """The node that last published `root` where `scope` is, enclosing plans included (for
    `step`: the step just run, the one whose changes `${step.files_changed}` describes)."""
    current: Scope | None = scope
    while current is not None:
        found = current.names.get(root)
        if found is not None:
            return found
        current = current.outer
    return None


@dataclass(frozen=True, slots=True)
class Pending:
    """A reference nothing visible produced when its node was lowered."""

    root: str
    text: str  # the reference as written, for messages
    braced: bool
    dotted: bool
    span: Span
    chain: tuple[tuple[str, str], ...]  # Scope.chain of the reading node
    where: str
    context: frozenset[str]  # every root the reading point's constructs provide


IssueKind = Literal["unknown", "not_visible", "later", "item_outside", "unavailable", "self"]


@dataclass(frozen=True, slots=True)
class RefIssue:
    """An unresolved reference that may be a mistake; checks.py turns it into a diagnostic."""

    kind: IssueKind
    root: str
    text: str
    span: Span
    where: str
    detail: str = ""


def root_of(name: str) -> str:
    """The root a published name is looked up by: `shell.output` is found under `shell`."""
    return re.split(r"[.\[]", name, maxsplit=1)[0]
