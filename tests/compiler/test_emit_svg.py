"""The pictures as graphviz draws them: the demo and mapreduce examples rendered by the real `dot`
and read back from the SVG (clusters, nodes, labels, edges), and the README's committed picture
(`make pictures`) kept current."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from prodigy.compiler.emit import to_dot
from prodigy.compiler.pipeline import compile_file

ROOT = Path(__file__).resolve().parents[2]
DOT = shutil.which("dot")
SVG = "{http://www.w3.org/2000/svg}"
needs_graphviz = pytest.mark.skipif(DOT is None, reason="graphviz `dot` is not installed")
Box = tuple[float, float, float, float]  # x0, y0, x1, y1
NOWHERE: Box = (0.0, 0.0, 0.0, 0.0)  # a node that draws nothing (the tail of a legend sample)


@dataclass
class Drawing:
    clusters: dict[str, tuple[str, Box]]  # title -> (label, box)
    nodes: dict[str, tuple[list[str], Box]]  # title -> (text lines, box)
    edges: list[str]  # titles, `src->dst`

    def shown(self) -> dict[str, list[str]]:
        """The nodes of the workflow, without the legend's."""
        return {t: lines for t, (lines, _) in self.nodes.items() if not t.startswith("legend.")}


def render(dot_text: str) -> str:
    done = subprocess.run([str(DOT), "-Tsvg"], input=dot_text, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


def read(svg: str) -> Drawing:
    root = ET.fromstring(svg)
    drawing = Drawing({}, {}, [])
    for group in root.iter(f"{SVG}g"):
        title = group.findtext(f"{SVG}title", "")
        texts = [t.text or "" for t in group.iter(f"{SVG}text")]
        if group.get("class") == "cluster":
            drawing.clusters[title] = (" ".join(texts), _box(group))
        elif group.get("class") == "node":
            drawing.nodes[title] = (texts, _box(group))
        elif group.get("class") == "edge":
            drawing.edges.append(title)
    return drawing


def _box(group: ET.Element) -> Box:
    """The extent of a group's outlines and texts (a plaintext node has only its text)."""
    numbers: list[float] = []
    for shape in group:
        outline = shape.get("points") or shape.get("d") or f"{shape.get('x')},{shape.get('y')}"
        numbers += map(float, re.findall(r"-?\d+(?:\.\d+)?", outline))
    xs, ys = numbers[0::2], numbers[1::2]
    return (min(xs), min(ys), max(xs), max(ys)) if numbers else NOWHERE


def inside(inner: Box, outer: Box) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2]
            and inner[3] <= outer[3])


def drawn(name: str) -> Drawing:
    return read(render(to_dot(compile_file(str(ROOT / "workflows" / name)))))


@needs_graphviz
def test_the_demo_as_graphviz_draws_it() -> None:
    picture = drawn("demo.yml")
    assert {label for label, _ in picture.clusters.values()} == {"main", "legend"}
    nodes = picture.shown()
    assert len(nodes) == 9  # its 9 plan nodes: 6 steps, a gate, a handler and its body
    assert nodes["main.0"] == ["count: shell: find $SOURCE_DIRS -name '*.py' | wc -l"]
    assert nodes["main.2.when"] == ["when: ${py_lines} > 1000"]
    assert nodes["main.3.on_failure"] == ["on_failure", "then goes on"]
    assert not Counter(picture.edges) - Counter(set(picture.edges))  # no edge drawn twice
    assert "main.2.when->main.2" in picture.edges and "main.3->main.3.on_failure" in picture.edges
    legend = [lines[0] for title, (lines, _) in picture.nodes.items() if title.endswith(".to")]
    assert legend == ["runs next", "passes a value to", "when: runs it only if true",
                      "runs if the step fails"]


@needs_graphviz
def test_the_mapreduce_example_as_graphviz_draws_it() -> None:
    picture = drawn("mapreduce.yml")
    clusters = {label: box for label, box in picture.clusters.values()}
    assert set(clusters) == {"setup", "map", "agent template: once per item", "reduce", "merge",
                             "legend"}
    assert inside(clusters["agent template: once per item"], clusters["map"])
    nodes = picture.shown()
    # 3 setup steps, the input and the map, 2 agent steps plus a handler and its body, 2 reduce
    # steps and 1 merge step: no barrier
    assert len(nodes) == 12 and not any("end of" in " ".join(t) for t in nodes.values())
    assert nodes["map.input"] == ["input: .prodigy/examples/items.json", "json_path: $.items[*]",
                                  "filter: priority >= 2", "sort_by: priority DESC",
                                  "max_items: 10"]
    assert nodes["map"] == ["map", "up to 4 agents at a time", "agent timeout 600 s",
                            "failed items: dlq"]
    agent = clusters["agent template: once per item"]
    for title in ("map.agent.0", "map.agent.1", "map.agent.1.on_failure",
                  "map.agent.1.on_failure.0"):
        assert inside(picture.nodes[title][1], agent), title
    for title in ("map", "map.input", "setup.0", "reduce.0"):
        assert not inside(picture.nodes[title][1], agent), title
    workflow_edges = [e for e in picture.edges if not e.startswith("legend.")]
    assert len(workflow_edges) == len(set(workflow_edges)) == 12
    assert {"map.input->map", "map->map.agent.0", "map.agent.1->map.agent.1.on_failure",
            "setup.2->map", "map->reduce.0", "reduce.1->merge.0"} <= set(workflow_edges)


@needs_graphviz
def test_the_committed_picture_is_current() -> None:
    """`make pictures` regenerates both files. The DOT text is compared exactly (it is
    deterministic); the SVG by what it draws, since graphviz versions place things apart."""
    dot_text = (ROOT / "workflows" / "mapreduce.dot").read_text(encoding="utf-8")
    assert dot_text == to_dot(compile_file(str(ROOT / "workflows" / "mapreduce.yml"))), \
        "run `make pictures`"
    committed = read((ROOT / "workflows" / "mapreduce.svg").read_text(encoding="utf-8"))
    fresh = read(render(dot_text))
    assert sorted(committed.edges) == sorted(fresh.edges), "run `make pictures`"
    assert {t: lines for t, (lines, _) in committed.nodes.items()} == \
        {t: lines for t, (lines, _) in fresh.nodes.items()}, "run `make pictures`"
    assert {t: label for t, (label, _) in committed.clusters.items()} == \
        {t: label for t, (label, _) in fresh.clusters.items()}, "run `make pictures`"


def test_the_readme_shows_the_committed_picture() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](workflows/mapreduce.svg)" in readme
    assert "make pictures" in readme
