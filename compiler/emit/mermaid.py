"""Mermaid `flowchart TD`, renderable by GitHub and mermaid-cli.

Mermaid ids must avoid keywords (`end`, `graph`, `subgraph`, ...) and most punctuation, so
nodes are named `n0`, `n1`, ... and clusters (phases, a map's agent template) `c0`, `c1`, ...;
the readable text goes into the label. The legend is a subgraph of its own: one arrow of each
style used, labelled with what it means, between two blank nodes. Labels are double-quoted
with `"`, `#`, `<` and `>` as entity codes. Mermaid refuses large diagrams (500 edges, 50,000
characters by default), so fan-outs are collapsed much earlier than in DOT, and the
diagram is cut with a note when still too big.
"""

from __future__ import annotations

from prodigy.compiler.emit.view import View, ViewCluster, ViewEdge, build_view
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
    "input": ("[(", ")]"),
}
ARROWS: dict[str, str] = {
    "sequence": "-->",
    "data": "-.->",
    "on_failure": "-.->",
    "on_success": "-.->",
    "on_exit_code": "-.->",
    "gate": "-.->",
    "phase": "==>",
    "per_item": "==>",
}
EDGE_COLOURS = {"on_failure": "#cc2222", "on_success": "#228822", "on_exit_code": "#cc7a00",
                "gate": "#b8860b", "per_item": "#e07b00"}
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
    for cluster in view.children(""):
        _cluster(view, cluster, names, "  ", out)
    legend = view.legend()
    # The legend goes first among the links, so a diagram cut at the limit keeps it.
    links = [ViewEdge(f"lg{i}a", f"lg{i}b", kind, meaning)
             for i, (kind, meaning) in enumerate(legend)]
    if legend:
        out.append('  subgraph legend ["legend"]')
        out += [f'    lg{i}{end}[" "]:::legend' for i in range(len(legend)) for end in "ab"]
        out.append("  end")
        out.append("  classDef legend fill:none,stroke:none")
    names.update({f"lg{i}{end}": f"lg{i}{end}" for i in range(len(legend)) for end in "ab"})
    links += view.edges
    styles: list[str] = []
    size = sum(len(line) for line in out)
    for shown, edge in enumerate(links):
        if shown >= MAX_EDGES or size > MAX_CHARS:
            out.append(f"  %% {len(links) - shown} more edges not drawn (diagram limit)")
            break
        label = f'|"{escape(edge.label)}"|' if edge.label else ""
        line = f"  {names[edge.src]} {ARROWS.get(edge.kind, '-->')}{label} {names[edge.dst]}"
        out.append(line)
        size += len(line)
        if edge.kind in EDGE_COLOURS:
            styles.append(f"  linkStyle {shown} stroke:{EDGE_COLOURS[edge.kind]}")
    return "\n".join(out + styles) + "\n"


def _cluster(view: View, cluster: ViewCluster, names: dict[str, str], pad: str,
             out: list[str]) -> None:
    index = view.clusters.index(cluster)
    out.append(f'{pad}subgraph c{index} ["{escape(cluster.label)}"]')
    for node in view.members(cluster.key):
        opening, closing = SHAPES.get(node.kind, ("[", "]"))
        out.append(f'{pad}  {names[node.id]}{opening}"{escape(node.label)}"{closing}')
    for child in view.children(cluster.key):
        _cluster(view, child, names, pad + "  ", out)
    out.append(f"{pad}end")
