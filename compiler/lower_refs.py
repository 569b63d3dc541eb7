"""References nothing visible produced when their node was lowered, settled once all is lowered.

- A step id declared later in the same plan (or an enclosing one) still gets its DATA edge:
  the edge closes a cycle, which `checks` reports as P301 with every step in it.
- A step id declared where the reader cannot see it (inside a map agent, read from reduce) is
  an issue, and so are captures made only later or elsewhere, `${item}` outside a map or
  foreach, and built-in values read where they cannot exist (`${map.results}` in setup).
- Anything else is an environment variable for the shell (`${HOME}`), unless it looks like a
  misspelt step id (`${coverag.spec}`), which `checks` decides with a did-you-mean.
Only references written `${...}` are judged: a bare `$item` in a shell loop is the shell's.
"""

from __future__ import annotations

from prodigy.compiler.commands.registry import PUBLISHED
from prodigy.compiler.lower_core import Lowering
from prodigy.compiler.scope import ITEM_ROOTS, IssueKind, Pending, RefIssue
from prodigy.runtime.plan import EdgeKind

_ONLY_IN = {"error": "on_failure handlers", "test": "on_failure handlers",
            "merge": "the merge phase", "map": "reduce and merge (after the map phase)",
            "validation": "on_incomplete handlers and the steps after a `validate:`"}
_ITEM_ONLY = ITEM_ROOTS - {"index", "total"}


def settle(low: Lowering) -> list[RefIssue]:
    issues: list[RefIssue] = []
    for pending in low.pending:
        issue = _settle(low, pending)
        if issue is not None:
            issues.append(issue)
    return issues


def _settle(low: Lowering, pending: Pending) -> RefIssue | None:
    root = pending.root
    declared = low.step_ids.get(root)
    if declared is not None:
        node, plan = declared
        consumer = next((n for p, n in pending.chain if p == plan), None)
        if consumer is not None:
            low.edge(node, consumer, EdgeKind.DATA)
            low.back_refs.setdefault((node, consumer), pending.span)
            return None
        return _issue("not_visible", pending, node)
    if not pending.braced:
        return None
    if root in low.captures:
        node, plan = low.captures[root]
        visible = any(p == plan for p, _ in pending.chain)
        return _issue("later" if visible else "not_visible", pending, node)
    if root in _ITEM_ONLY or (root == "foreach" and pending.text.split(".")[1:2] in
                              (["item"], ["index"], ["total"])):
        return _issue("item_outside", pending)
    if root in PUBLISHED or root in _ONLY_IN:
        return _issue("unavailable", pending, _ONLY_IN.get(root, ""))
    if pending.dotted:
        return _issue("unknown", pending)
    return None


def _issue(kind: IssueKind, pending: Pending, detail: str = "") -> RefIssue:
    return RefIssue(kind, pending.root, pending.text, pending.span,
                    pending.where, detail)
