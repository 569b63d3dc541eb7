"""Mermaid `flowchart TD`, renderable by GitHub and mermaid-cli.

Mermaid ids must avoid keywords (`end`, `graph`, `subgraph`, ...) and most punctuation, so
nodes are named `n0`, `n1`, ... and phases `phase_<name>`; the readable id goes into the
label. Labels are double-quoted with `"`, `#`, `<` and `>` as entity codes. Mermaid refuses
large diagrams (500 edges, 50,000 characters by default), so fan-outs are collapsed much
earlier than in DOT, and the diagram is cut with a note when still too big.
"""

from __future__ import annotations

from prodigy.compiler.emit.view import View, build_view
from prodigy.runtime.plan import Plan

# kind -> (opening, closing) of the node shape
SHAPES: dict[str, tuple[str, str]] = {
    "shell": ("[", "]"),
    "claude": ("(", ")"),
    "write_file": ("[/", "/]"),
    "analyze": ("[(", ")]"),
    "gate": ("{", "}"),
    "handler": ("{{", "}}"),
    "barrier": ("[[", "]]"),
    "validate": ("[\\", "/]"),
    "goal_seek": ("[\\", "/]"),
    "verify": ("[\\", "/]"),
    "foreach": ("[[", "]]"),
    "map": ("[[", "]]"),
}
ARROWS: dict[str, str] = {
    "sequence": "-->",
    "data": "-.->",
    "on_failure": "-. on_failure .->",
    "on_success": "-. on_success .->",
    "on_exit_code": "-.->",
    "gate": "-. when .->",
    "phase": "==>",
}
EDGE_COLOURS = {"on_failure": "#cc2222", "on_success": "#228822", "on_exit_code": "#cc7a00"}
MAX_EDGES = 450
MAX_CHARS = 45_000
COLLAPSE_ABOVE = 40


def escape(text: str) -> str:
    out = text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;")
    return out.replace(">", "#gt;").replace("\r", "").replace("\n", "<br/>")


def to_mermaid(plan: Plan, collapse_above: int = COLLAPSE_ABOVE) -> str:
    return render(build_view(plan, collapse_above))


def render(view: View) -> str:
    names = {node.id: f"n{index}" for index, node in enumerate(view.nodes)}
    out = ["flowchart TD"]
    for phase, nodes in view.phases():
        out.append(f'  subgraph phase_{_safe(phase)} ["{escape(phase)}"]')
        for node in nodes:
            opening, closing = SHAPES.get(node.kind, ("[", "]"))
            out.append(f'    {names[node.id]}{opening}"{escape(node.label)}"{closing}')
        out.append("  end")
    styles: list[str] = []
    size = sum(len(line) for line in out)
    for shown, edge in enumerate(view.edges):
        if shown >= MAX_EDGES or size > MAX_CHARS:
            out.append(f"  %% {len(view.edges) - shown} more edges not drawn (diagram limit)")
            break
        arrow = ARROWS.get(edge.kind, "-->")
        label = f'|"{escape(edge.label)}"|' if edge.label else ""
        line = f"  {names[edge.src]} {arrow}{label} {names[edge.dst]}"
        out.append(line)
        size += len(line)
        if edge.kind in EDGE_COLOURS:
            styles.append(f"  linkStyle {shown} stroke:{EDGE_COLOURS[edge.kind]}")
    return "\n".join(out + styles) + "\n"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)
