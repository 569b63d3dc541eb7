"""What the pictures say about a map, a foreach and a step's attachments (the view both emitters
draw), and the Mermaid form of it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from prodigy.compiler.emit import dot, mermaid, to_dot, to_mermaid
from prodigy.compiler.emit.view import LEGEND, PRIORITY, View, build_view
from prodigy.compiler.pipeline import compile_file
from prodigy.runtime.plan import EdgeKind

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.yml"))

MAP = """\
    name: fixes
    mode: mapreduce
    setup:
      - shell: "make items"
    map:
      input: items.json
      json_path: "$.items[*]"
      filter: "severity >= 2"
      sort_by: "severity DESC"
      distinct: file
      offset: 1
      max_items: 5
      max_parallel: 3
      agent_template:
        - claude: "/fix ${item.file}"
          id: fixer
          validate:
            shell: "check ${item.file}"
            threshold: 90
            on_incomplete: {claude: "/more"}
        - shell: "test ${item.file}"
          on_failure: {claude: "/debug", max_attempts: 2, fail_workflow: true}
          step_validate:
            commands: [{command: "lint ${item.file}"}]
        - foreach: {foreach: [alpha, beta], do: [{shell: "echo ${item}"}]}
        - foreach: {foreach: "ls", do: [{shell: "echo ${item}"}]}
    reduce:
      - shell: "echo ${map.successful}"
    """


def view_of(tmp_path: Path, text: str) -> View:
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return build_view(compile_file(str(path)))


def test_every_edge_kind_has_a_meaning_a_rank_and_a_style() -> None:
    kinds = {str(kind) for kind in EdgeKind} | {"per_item"}  # the view's own: map -> agent
    assert set(LEGEND) == set(PRIORITY) == set(dot.EDGE_STYLE) == set(mermaid.ARROWS) == kinds


def test_a_map_draws_its_input_pipeline_and_its_agent_template(tmp_path: Path) -> None:
    view = view_of(tmp_path, MAP)
    assert [(c.key, c.parent) for c in view.clusters] == [
        ("setup", ""), ("map", ""), ("map.agent", "map"), ("reduce", "")]
    nodes = {n.id: n for n in view.nodes}
    assert nodes["map.input"].cluster == "map" and nodes["map.input"].label.splitlines() == [
        "input: items.json", "json_path: $.items[*]", "filter: severity >= 2",
        "sort_by: severity DESC", "distinct: file", "offset: 1", "max_items: 5"]
    assert nodes["map"].label.splitlines()[:2] == ["map", "up to 3 agents at a time"]
    agent = [n.id for n in view.members("map.agent")]
    assert agent[:3] == ["map.agent.0", "map.agent.0.validate", "map.agent.1"]
    edges = {(e.src, e.dst): e.kind for e in view.edges}
    assert edges[("map.input", "map")] == "data"
    # The map enters its template once, at the first step; nothing else comes from outside.
    assert [e.dst for e in view.edges if e.kind == "per_item"] == ["map.agent.0"]
    assert ("setup.0", "map") in edges and ("map", "reduce.0") in edges


def test_handlers_and_validations_hang_off_their_own_step(tmp_path: Path) -> None:
    view = view_of(tmp_path, MAP)
    nodes = {n.id: n for n in view.nodes}
    edges = {(e.src, e.dst): e.kind for e in view.edges}
    assert edges[("map.agent.0", "map.agent.0.validate")] == "sequence"
    assert nodes["map.agent.0.validate"].label.splitlines() == [
        "validate", "until 90% complete", "commands:", "  shell: check ${item.file}",
        "on_incomplete:", "  claude: /more"]
    assert edges[("map.agent.1", "map.agent.1.on_failure")] == "on_failure"
    assert nodes["map.agent.1.on_failure"].label.splitlines() == [
        "on_failure", "up to 2 attempts", "then still fails"]
    assert edges[("map.agent.1", "map.agent.1.verify")] == "sequence"
    assert "  shell: lint ${item.file}" in nodes["map.agent.1.verify"].label.splitlines()
    assert all(n.cluster == "map.agent" for n in nodes.values() if n.id.startswith("map.agent"))


def test_foreach_copies_show_their_item_and_steps_their_user_id(tmp_path: Path) -> None:
    view = view_of(tmp_path, MAP)
    labels = {n.id: n.label for n in view.nodes}
    assert labels["map.agent.2.item.0.0"] == "shell: echo ${item}\nitem 1/2: alpha"
    assert labels["map.agent.2.item.1.0"] == "shell: echo ${item}\nitem 2/2: beta"
    assert labels["map.agent.3"] == "foreach: ls\ndo:\n  shell: echo ${item}"
    assert labels["map.agent.0"] == "fixer: claude: /fix ${item.file}"
    demo = build_view(compile_file(str(ROOT / "workflows" / "demo.yml")))
    shown = [n.label.splitlines()[0] for n in demo.nodes]
    assert shown[0] == "count: shell: find $SOURCE_DIRS -name '*.py' | wc -l"
    assert not any(line.startswith("main.") for line in shown)  # no plan ids in the text


def test_a_collapsed_foreach_names_its_first_items(tmp_path: Path) -> None:
    items = ", ".join(f"i{n}" for n in range(250))
    view = view_of(tmp_path, f"- foreach: {{foreach: [{items}], do: [{{shell: x}}]}}\n")
    group = next(n for n in view.nodes if n.id == "main.0.item.*")
    assert group.label.splitlines()[:3] == [
        "main.0: foreach \u00d7 250 items", "items: i0, i1, i2, i3, \u2026", "shell: x"]


def test_a_pooled_foreach_says_how_many_items_run_at_once(tmp_path: Path) -> None:
    # Its copies all follow the step before (no lane edges): the loop's node says the limit.
    view = view_of(tmp_path, "- shell: a\n- foreach: {foreach: [x, y, z], parallel: 2, "
                             "do: [{shell: 'echo ${item}'}]}\n")
    labels = {n.id: n.label for n in view.nodes}
    assert labels["main.1"] == "foreach: 3 items\nup to 2 items at a time"
    assert {(e.src, e.dst) for e in view.edges if e.dst.startswith("main.1.item.")} == {
        ("main.0", f"main.1.item.{k}.0") for k in range(3)}
    one = view_of(tmp_path, "- foreach: {foreach: [x, y], do: [{shell: 'echo ${item}'}]}\n")
    assert {n.id: n.label for n in one.nodes}["main.0"] == "foreach: 2 items\none item at a time"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_one_edge_per_pair_of_nodes_and_none_dangling(path: Path) -> None:
    view = build_view(compile_file(str(path)))
    pairs = [(e.src, e.dst) for e in view.edges]
    assert len(pairs) == len(set(pairs))
    ids = {n.id for n in view.nodes}
    assert all(src in ids and dst in ids for src, dst in pairs)
    assert not any(n.kind == "barrier" and n.label.startswith("end of") for n in view.nodes)


def test_the_most_telling_edge_wins_and_phases_join_without_barriers() -> None:
    demo = build_view(compile_file(str(ROOT / "workflows" / "demo.yml")))
    kinds = {(e.src, e.dst): e.kind for e in demo.edges}
    assert kinds[("main.2.when", "main.2")] == "gate"  # also a SEQUENCE edge in the plan
    assert kinds[("main.1", "main.2.when")] == "sequence"  # also a DATA edge in the plan
    assert [kind for kind, _ in demo.legend()] == ["sequence", "data", "gate", "on_failure"]
    mapreduce = build_view(compile_file(str(ROOT / "workflows" / "mapreduce.yml")))
    phases = [(e.src, e.dst) for e in mapreduce.edges if e.kind == "phase"]
    assert phases == [("setup.2", "map"), ("map", "reduce.0"), ("reduce.1", "merge.0")]


def test_both_emitters_draw_the_legend_of_the_styles_they_use() -> None:
    plan = compile_file(str(ROOT / "workflows" / "mapreduce.yml"))
    dot, mermaid = to_dot(plan), to_mermaid(plan)
    meanings = [meaning for _, meaning in build_view(plan).legend()]
    assert "runs the agent template per item" in meanings and "when: runs it only if true" \
        not in meanings
    legend = dot[dot.index('subgraph "cluster_legend"'):]
    assert all(f'[label="{meaning}"]' in legend for meaning in meanings)
    assert legend.count(" -> ") == 2 * len(meanings) - 1  # one sample each, chained in order
    assert '  subgraph legend ["legend"]' in mermaid
    assert all(f'|"{meaning}"|' in mermaid for meaning in meanings)


def test_mermaid_nests_the_agent_template_in_the_map_phase() -> None:
    text = to_mermaid(compile_file(str(ROOT / "workflows" / "mapreduce.yml")))
    lines = text.splitlines()
    start = lines.index('  subgraph c1 ["map"]')
    inner = lines.index('    subgraph c2 ["agent template: once per item"]')
    assert start < inner < lines.index("    end") < lines.index("  end", inner)
    assert lines[start + 1].startswith('    n3[("input: .prodigy/examples/items.json<br/>')
    assert '  n4 ==>|"each item"| n5' in lines
