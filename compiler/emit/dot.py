"""Graphviz DOT: shapes and colours by node kind, handlers on dashed coloured edges, phases and
a map's agent template as clusters (and in them, each use of a sub-workflow or template), and a
legend cluster drawing each edge style used. Every id and label is a quoted, escaped DOT
string; the text is deterministic (the README's picture is regenerated from it by
`make pictures`)."""

from __future__ import annotations

from prodigy.compiler.emit.view import View, ViewCluster, build_view
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
    "input": 'shape=cylinder, style="filled", fillcolor="#fde9d9"',
}
# edge kind -> edge attributes
EDGE_STYLE: dict[str, str] = {
    "sequence": 'color="#333333"',
    "data": 'style=dotted, color="#888888", arrowhead=vee',
    "on_failure": 'style=dashed, color="#cc2222", fontcolor="#cc2222"',
    "on_success": 'style=dashed, color="#228822", fontcolor="#228822"',
    "on_exit_code": 'style=dashed, color="#cc7a00", fontcolor="#cc7a00"',
    "gate": 'style=dashed, color="#b8860b", arrowhead=odiamond',
    "phase": 'style=bold, color="#000000"',
    "per_item": 'style=bold, color="#e07b00", fontcolor="#e07b00", arrowhead=crow',
}
CLUSTER_STYLE = 'style="rounded,dashed"; color="#999999";'
AGENT_STYLE = 'style="rounded,filled"; color="#e07b00"; fillcolor="#fff7ee";'
GROUP_STYLE = 'style="rounded"; color="#4a7ab5"; fontcolor="#4a7ab5";'


def quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as `\\n`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def to_dot(plan: Plan, collapse_above: int = 200) -> str:
    view = build_view(plan, collapse_above)
    return render(view)


def render(view: View) -> str:
    out = [f"digraph {quote(view.title)} {{",
           "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=11, compound=true,",
           f"         label={quote(view.title)}, labelloc=t, fontsize=14];",
           "  node [fontname=\"Helvetica\", fontsize=10];",
           "  edge [fontname=\"Helvetica\", fontsize=9];"]
    names = {c.key: f"cluster_{i}_{c.key}" for i, c in enumerate(view.clusters)}
    for cluster in view.children(""):
        _cluster(view, cluster, names, "  ", out)
    where = {node.id: node.cluster for node in view.nodes}
    for edge in view.edges:
        style = EDGE_STYLE.get(edge.kind, "")
        if edge.label:
            style += f", label={quote(edge.label)}"
        if edge.kind == "per_item":
            # Into the agent template's cluster as a whole: it runs once per item.
            style += f", lhead={quote(names[where[edge.dst]])}"
        out.append(f"  {quote(edge.src)} -> {quote(edge.dst)} [{style}];")
    out += _legend(view)
    out.append("}")
    return "\n".join(out) + "\n"


def _cluster(view: View, cluster: ViewCluster, names: dict[str, str], pad: str,
             out: list[str]) -> None:
    style = {"agent": AGENT_STYLE, "group": GROUP_STYLE}.get(cluster.kind, CLUSTER_STYLE)
    out.append(f"{pad}subgraph {quote(names[cluster.key])} {{")
    out.append(f"{pad}  label={quote(cluster.label)}; {style}")
    for node in view.members(cluster.key):
        attributes = NODE_STYLE.get(node.kind, "shape=box")
        out.append(f"{pad}  {quote(node.id)} [label={quote(node.label)}, {attributes}];")
    for child in view.children(cluster.key):
        _cluster(view, child, names, pad + "  ", out)
    out.append(f"{pad}}}")


def _legend(view: View) -> list[str]:
    """A cluster with one short edge per edge style the picture uses, each followed by what
    it means; its nodes are named `legend.N.from`/`legend.N.to`, names no plan node has."""
    entries = view.legend()
    if not entries:
        return []
    names = [(f"legend.{i}.from", f"legend.{i}.to") for i in range(len(entries))]
    # One row: ranks are shared with the whole picture, so a column would be as tall as it.
    row = "; ".join(quote(name) for pair in names for name in pair)
    out = ['  subgraph "cluster_legend" {',
           f'    label="legend"; {CLUSTER_STYLE} fontsize=10;',
           '    node [shape=plaintext, fontsize=9, label="", width=0.4, height=0.2];',
           f"    {{ rank=same; {row}; }}"]
    for index, ((kind, meaning), (tail, head)) in enumerate(zip(entries, names, strict=True)):
        out.append(f"    {quote(head)} [label={quote(meaning)}];")
        out.append(f"    {quote(tail)} -> {quote(head)} [{EDGE_STYLE.get(kind, '')}];")
        if index:  # keeps the entries in the legend's order, left to right
            out.append(f"    {quote(names[index - 1][1])} -> {quote(tail)} [style=invis];")
    out.append("  }")
    return out
