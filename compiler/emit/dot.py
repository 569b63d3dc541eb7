"""Graphviz DOT: shapes and colours by node kind, handlers on dashed coloured edges, phases as
clusters. Every id and label is a quoted, escaped DOT string."""

from __future__ import annotations

from prodigy.compiler.emit.view import View, build_view
from prodigy.runtime.plan import Plan

# kind -> node attributes
NODE_STYLE: dict[str, str] = {
    "shell": 'shape=box, style="filled", fillcolor="#dbe9f6"',
    "claude": 'shape=box, style="rounded,filled", fillcolor="#e8dcf4"',
    "write_file": 'shape=note, style="filled", fillcolor="#fff6cc"',
    "analyze": 'shape=component, style="filled", fillcolor="#eeeeee"',
    "gate": 'shape=diamond, style="filled", fillcolor="#ffe08a"',
    "handler": 'shape=octagon, style="filled", fillcolor="#f8d0d0"',
    "barrier": 'shape=box, style="filled", fillcolor="#555555", fontcolor="white", height=0.2',
    "validate": 'shape=hexagon, style="filled", fillcolor="#d4f0d4"',
    "goal_seek": 'shape=hexagon, style="filled", fillcolor="#c2e8c2"',
    "verify": 'shape=hexagon, style="filled", fillcolor="#e6f5e6"',
    "foreach": 'shape=box3d, style="filled", fillcolor="#f5deb3"',
    "map": 'shape=box3d, style="filled", fillcolor="#ffcc99"',
}
# edge kind -> edge attributes
EDGE_STYLE: dict[str, str] = {
    "sequence": 'color="#333333"',
    "data": 'style=dotted, color="#888888", arrowhead=vee',
    "on_failure": 'style=dashed, color="#cc2222", fontcolor="#cc2222", label="on_failure"',
    "on_success": 'style=dashed, color="#228822", fontcolor="#228822", label="on_success"',
    "on_exit_code": 'style=dashed, color="#cc7a00", fontcolor="#cc7a00"',
    "gate": 'style=dashed, color="#b8860b", arrowhead=odiamond',
    "phase": 'style=bold, color="#000000"',
}


def quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as `\\n`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def to_dot(plan: Plan, collapse_above: int = 200) -> str:
    view = build_view(plan, collapse_above)
    return render(view)


def render(view: View) -> str:
    out = [f"digraph {quote(view.title)} {{",
           "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=11, compound=true];",
           "  node [fontname=\"Helvetica\", fontsize=10];",
           "  edge [fontname=\"Helvetica\", fontsize=9];"]
    for index, (phase, nodes) in enumerate(view.phases()):
        out.append(f"  subgraph {quote(f'cluster_{index}_{phase}')} {{")
        out.append(f"    label={quote(phase)}; style=\"rounded,dashed\"; color=\"#999999\";")
        for node in nodes:
            style = NODE_STYLE.get(node.kind, "shape=box")
            out.append(f"    {quote(node.id)} [label={quote(node.label)}, {style}];")
        out.append("  }")
    for edge in view.edges:
        style = EDGE_STYLE.get(edge.kind, "")
        if edge.label:
            style += f", label={quote(edge.label)}"
        out.append(f"  {quote(edge.src)} -> {quote(edge.dst)} [{style}];")
    out.append("}")
    return "\n".join(out) + "\n"
