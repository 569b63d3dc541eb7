"""Map items are named by their content wherever people see them: `${item}` for a scalar,
else its first `id`, `name`, `path` or `file` field, else `item_<index>`; in console lines,
events (`item_label`), results, DLQ entries and merge messages (one function for all)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from prodigy.runtime.loops.work_items import LineItem, item_label
from prodigy.runtime.report import PlainReporter


@pytest.mark.parametrize(("item", "label"), [
    ("src/app.py", "src/app.py"),
    (42, "42"),
    (True, "true"),
    ({"file": "b.py", "path": "a/", "name": "n", "id": 7}, "7"),
    ({"file": "b.py", "path": "a/", "name": "lint"}, "lint"),
    ({"file": "b.py", "path": "a/"}, "a/"),
    ({"file": "b.py", "line": 3}, "b.py"),
    ({"title": "no label field"}, "item_5"),
    ({"id": ""}, "item_5"),
    (["a", "list"], "item_5"),
    (None, "item_5"),
    (LineItem("a plain   text line"), "a plain text line"),
    ("two\nlines", "two lines"),
    ("x" * 100, "x" * 59 + "\u2026"),
])
def test_item_label(item: Any, label: str) -> None:
    assert item_label(item, 5) == label


def test_a_maps_items_carry_their_labels_everywhere(run_plan: Any, tmp_path: Path) -> None:
    from prodigy.compiler.pipeline import compile_file
    from prodigy.runtime.store import CheckpointStore

    (tmp_path / "items.json").write_text(json.dumps(
        [{"path": "src/ok.py"}, {"path": "src/bad.py", "n": 1}, {"n": 2}]))
    (tmp_path / "wf.yml").write_text("""\
name: labels
mode: mapreduce
map:
  input: items.json
  max_parallel: 1
  agent_template:
    - shell: "echo oops >&2; test '${item.path}' != src/bad.py"
reduce:
  - shell: "cp ${map.results_file} results.json"
""")
    _, events, state = run_plan(compile_file(str(tmp_path / "wf.yml")))
    item_events = [e for e in events if e.get("item")]
    assert {e["item"]: e["item_label"] for e in item_events} == {
        "item_0": "src/ok.py", "item_1": "src/bad.py", "item_2": "item_2"}
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["label"] for r in results] == ["src/ok.py", "src/bad.py", "item_2"]
    store = CheckpointStore(state.cache_dir)
    try:
        [entry] = store.dlq_entries("r1")
    finally:
        store.close()
    assert entry["item_label"] == "src/bad.py"

    err = io.StringIO()
    reporter = PlainReporter(err)
    for event in events:
        reporter.on_event(event)
    lines = err.getvalue().splitlines()
    assert any(line.startswith("ok ") and "[src/ok.py]" in line for line in lines)
    failed = next(line for line in lines if line.startswith("FAILED   map"))
    assert failed.startswith("FAILED   map: items.json [src/bad.py]: exit code 1 in shell:")
    assert not any("item_1" in line for line in lines)  # named by content, not by index


def test_merge_messages_name_the_item_by_the_same_label() -> None:
    from types import SimpleNamespace

    from prodigy.runtime.loops.map import MapLoop

    loop: Any = SimpleNamespace(items=[{"name": "fix-lint"}, {"x": 1}],
                                item_id=lambda i: f"item_{i}")
    loop.label = lambda i: MapLoop.label(loop, i)
    assert MapLoop._label(loop, 0) == "item_0 (fix-lint)"
    assert MapLoop._label(loop, 1) == "item_1"
