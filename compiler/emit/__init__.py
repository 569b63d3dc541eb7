"""Plan emitters: one table, EMITTERS, maps an --emit name to a function Plan -> text;
`emit` gives the same text in pieces, which `prodigy compile` streams to its output."""

from __future__ import annotations

from collections.abc import Callable, Iterator

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



def emit(plan: Plan, name: str) -> Iterator[str]:
    """The `--emit name` text in pieces: plan.json node by node (a 100,000-node plan is never
    one string), a drawing in one piece."""
    if name == "json":
        return plan.chunks()
    return iter((EMITTERS[name](plan),))


__all__ = ["EMITTERS", "emit", "to_dot", "to_json", "to_mermaid"]
