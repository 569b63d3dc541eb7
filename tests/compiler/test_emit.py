"""Emitters: plan.json, Graphviz DOT (rendered by the real `dot`) and Mermaid."""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from prodigy.compiler.emit import EMITTERS, to_dot, to_mermaid
from prodigy.compiler.pipeline import compile_file
from prodigy.runtime.plan import Plan

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.yml"))
DOT = shutil.which("dot")


def plan_of(tmp_path: Path, text: str) -> Plan:
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return compile_file(str(path))


def test_the_emitter_table() -> None:
    assert sorted(EMITTERS) == ["dot", "json", "mermaid"]
    plan = compile_file(str(ROOT / "workflows" / "basics.yml"))
    assert EMITTERS["json"](plan) == plan.dumps()


@pytest.mark.skipif(DOT is None, reason="graphviz `dot` is not installed")
@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_example_renders_with_graphviz(path: Path) -> None:
    text = to_dot(compile_file(str(path)))
    done = subprocess.run([str(DOT), "-Tsvg"], input=text, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    assert "<svg" in done.stdout


def test_dot_styles_and_escaping(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        name: 'quotes "and" \\ backslashes'
        mode: mapreduce
        setup: [{shell: "echo \\"hi\\" \\\\n"}]
        map:
          input: items.json
          max_items: 25
          agent_template:
            - shell: "echo ${item}"
              on_failure: {claude: "/fix"}
        reduce:
          - shell: "test -f x"
            on_success: {shell: ok}
        """)
    text = to_dot(plan)
    assert 'digraph "quotes \\"and\\" \\\\ backslashes"' in text
    assert '"map.input" [label="input: items.json\\nmax_items: 25", shape=cylinder' in text
    assert '"map" [label="map\\nup to 10 agents at a time", shape=box3d' in text
    assert '"map.agent.0.on_failure" [label="on_failure\\nthen goes on", shape=octagon' in text
    assert 'style=dashed, color="#228822", fontcolor="#228822", label="on_success"' in text
    assert 'subgraph "cluster_0_setup"' in text and 'subgraph "cluster_3_reduce"' in text
    # The agent template is a cluster inside the map's, entered once per item.
    agent = text.index('subgraph "cluster_2_map.agent"')
    assert text.index('subgraph "cluster_1_map"') < agent < text.index('"map.agent.0" [')
    assert 'label="each item", lhead="cluster_2_map.agent"' in text
    assert "end of" not in text and "shape=diamond" not in text  # no phase barriers, no gates


def test_dot_collapses_big_static_fan_outs(tmp_path: Path) -> None:
    items = ", ".join(f"i{n}" for n in range(250))
    body = "{shell: 'echo ${item}'}"
    plan = plan_of(tmp_path, f"- foreach: {{foreach: [{items}], do: [{body}]}}\n- shell: done\n")
    text = to_dot(plan)
    assert '"main.0.item.*"' in text and "\u00d7 250 items" in text
    assert "main.0.item.17" not in text
    small = to_dot(plan_of(tmp_path, "- foreach: {foreach: [a, b], do: [{shell: x}]}\n"))
    assert '"main.0.item.1.0"' in small


def test_mermaid_is_well_formed(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        - shell: 'echo "quoted" # not a comment <tag> end'
          id: end
          on_failure: "echo failed"
        - shell: "echo ${end.output}"
          when: "${end.output} == 'x'"
        """)
    text = to_mermaid(plan)
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert '#quot;quoted#quot; #35; not a comment #lt;tag#gt;' in text
    ids = set(re.findall(r"^\s+(\w+)[\[\(\{]", text, re.MULTILINE))
    assert ids and all(re.fullmatch(r"n\d+|lg\d+[ab]", i) for i in ids)
    assert text.count("subgraph") == text.count("\n  end")
    assert '-.->|"on_failure"|' in text
    # linkStyle N colours the N-th link line, legend links included.
    links = [line for line in lines if re.match(r"\s+\w+ (-->|-\.->|==>)", line)]
    styled = {int(n): colour for n, colour in re.findall(r"linkStyle (\d+) stroke:(\S+)", text)}
    red = [i for i, link in enumerate(links) if "on_failure" in link or "step fails" in link]
    assert len(red) == 2 and all(styled[i] == "#cc2222" for i in red)  # the edge and its legend
    assert not any(i in styled for i, link in enumerate(links) if " --> " in link)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_mermaid_for_every_example_stays_within_limits(path: Path) -> None:
    text = to_mermaid(compile_file(str(path)))
    assert text.startswith("flowchart TD\n") and len(text) < 50_000
    assert text.count("-->") + text.count(".->") + text.count("==>") <= 500


def test_mermaid_collapses_early(tmp_path: Path) -> None:
    items = ", ".join(f"i{n}" for n in range(60))
    plan = plan_of(tmp_path, f"- foreach: {{foreach: [{items}], do: [{{shell: x}}]}}\n")
    text = to_mermaid(plan)
    assert "\u00d7 60 items" in text and text.count("\n    n") == 2
