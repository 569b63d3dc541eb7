"""Plan emitters: one table, EMITTERS, maps an --emit name to a function Plan -> text."""

from __future__ import annotations

from collections.abc import Callable

from prodigy.compiler.emit.dot import to_dot
from prodigy.compiler.emit.mermaid import to_mermaid
from prodigy.runtime.plan import Plan


def to_json(plan: Plan) -> str:
    """plan.json: the deterministic text `prodigy exec` reads."""
    return plan.dumps()


EMITTERS: dict[str, Callable[[Plan], str]] = {
    "json": to_json,
    "dot": to_dot,
    "mermaid": to_mermaid,
}

__all__ = ["EMITTERS", "to_dot", "to_json", "to_mermaid"]
