"""The HTML report from hand-written run records: slots inferred from event times, outcomes
(retried, reused, interrupted, running), costs, and the size of a 1,000-item map's page."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from prodigy.runtime.html_report import write_report
from prodigy.runtime.html_report.timeline import build_timeline
from prodigy.runtime.store import RunRecord, RunStatus, StateDir


def node(event: str, ts: float, node_id: str, **fields: Any) -> dict[str, Any]:
    return {"ts": ts, "run_id": "r", "event": event, "node": node_id, "kind": "shell",
            "label": f"shell: {node_id}", **fields}


def test_slots_are_the_most_nodes_that_ran_at_once() -> None:
    events = [{"ts": 0.0, "event": "run_started", "attempt": 1},
              node("node_started", 0.0, "a"), node("node_started", 0.0, "b"),
              node("node_finished", 1.0, "a", status="succeeded", exit_code=0),
              node("node_started", 1.0, "c"),
              node("node_finished", 2.0, "b", status="failed", exit_code=3),
              node("node_finished", 3.0, "c", status="succeeded")]
    timeline = build_timeline(events, running=False, now=9.0)
    lanes = {b.node: b.lane for b in timeline.bars}
    assert timeline.lanes == 2 and lanes == {"a": 0, "b": 1, "c": 0}
    assert [b.outcome for b in timeline.bars] == ["ok", "failed", "ok"]
    assert (timeline.start, timeline.end) == (0.0, 3.0)


def test_an_items_steps_keep_its_lane_and_loops_get_their_own_row() -> None:
    def step(event: str, ts: float, item: int, k: int, **kw: Any) -> dict[str, Any]:
        return node(event, ts, f"m[item_{item}]/m.agent.{k}", item=f"item_{item}",
                    item_label=f"file{item}.py", **kw)

    events = [{"ts": 0.0, "event": "run_started"}, node("node_started", 0.0, "m", kind="map"),
              step("node_started", 0.0, 0, 0), step("node_started", 0.1, 1, 0),
              step("node_finished", 1.0, 1, 0, status="succeeded"),
              step("node_finished", 1.05, 0, 0, status="succeeded"),
              step("node_started", 1.1, 0, 1), step("node_started", 1.2, 1, 1),
              step("node_retrying", 2.0, 1, 1, message="exit code 1", exit_code=1),
              step("node_started", 2.5, 1, 1, attempt=2),
              step("node_finished", 3.0, 1, 1, status="succeeded", cost_usd=0.25),
              step("node_finished", 3.1, 0, 1, status="succeeded"),
              node("node_finished", 3.2, "m", kind="map", status="succeeded")]
    timeline = build_timeline(events, running=False, now=9.0)
    by_item = {(b.item, b.node[-1], b.attempt): (b.lane, b.outcome) for b in timeline.bars}
    assert by_item == {("item_0", "0", 1): (0, "ok"), ("item_1", "0", 1): (1, "ok"),
                       ("item_0", "1", 1): (0, "ok"), ("item_1", "1", 1): (1, "retried"),
                       ("item_1", "1", 2): (1, "ok"), ("", "m", 1): (-1, "ok")}
    assert timeline.lanes == 2


def test_unfinished_nodes_are_interrupted_or_still_running() -> None:
    events = [{"ts": 0.0, "event": "run_started"}, node("node_started", 0.0, "a"),
              {"ts": 5.0, "event": "run_resumed"}, node("node_reused", 5.0, "z"),
              node("node_started", 5.0, "a")]
    resumed = build_timeline(events, running=True, now=8.0)
    assert [(b.node, b.outcome, b.end) for b in resumed.bars] == [
        ("a", "interrupted", 0.0), ("z", "reused", 5.0), ("a", "running", 8.0)]
    assert resumed.segments == ((0.0, 0.0), (5.0, 8.0))
    stopped = build_timeline(events, running=False, now=8.0)
    assert stopped.bars[-1].outcome == "interrupted" and stopped.end == 5.0


def synthetic_map(state: StateDir, items: int, slots: int = 10) -> RunRecord:
    """A finished map of `items` claude items, three steps each, `slots` at a time."""
    start = 1_700_000_000.0
    record = RunRecord(run_id="r", status=RunStatus.FAILED, workflow="big", source="big.yml",
                       cwd=str(state.root), created_at=start, updated_at=start + items,
                       pid=1, finished_at=start + items, counts={"succeeded": 3})
    state.write_run(record)
    events: list[dict[str, Any]] = [{"ts": start, "run_id": "r", "event": "run_started",
                                     "attempt": 1}, node("node_started", start, "map", kind="map")]
    results = []
    for i in range(items):
        t = start + (i // slots) * 3.0
        for k in range(3):
            ident = dict(item=f"item_{i}", item_label=f"src/module_{i}.py")
            events.append(node("node_started", t + k, f"map[item_{i}]/map.agent.{k}",
                               kind="claude", **ident))
            status = "failed" if i % 50 == 0 and k == 2 else "succeeded"
            events.append(node("node_finished", t + k + 0.9, f"map[item_{i}]/map.agent.{k}",
                               kind="claude", status=status, exit_code=int(status == "failed"),
                               cost_usd=0.01, tokens={"input": 100, "output": 20}, **ident))
        results.append({"item_id": f"item_{i}", "index": i, "label": f"src/module_{i}.py",
                        "status": "failed" if i % 50 == 0 else "succeeded", "attempts": 1,
                        "duration": 2.9, "commits": ["abc"], "cost_usd": 0.03,
                        "tokens": {"input": 300, "output": 60}})
    events.append(node("node_finished", start + items, "map", kind="map", status="succeeded"))
    path = state.events_path("r")
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    (state.run_dir("r") / "map").mkdir()
    (state.run_dir("r") / "map" / "map.json").write_text(json.dumps(results), encoding="utf-8")
    return record


def test_a_1000_item_map_fits_in_2_mb_with_every_bar_and_row(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    record = synthetic_map(state, 1000)
    path = write_report(state, record)
    html = path.read_text(encoding="utf-8")
    assert path == state.run_dir("r") / "report.html" and len(html.encode()) < 2_000_000
    svg = ET.fromstring(html[html.index('<svg class="chart"'):html.index("</svg>") + 6])
    bars = Counter(r.get("class") for r in svg.iter("rect") if "bar" in str(r.get("class")))
    assert bars == {"bar o-ok": 2980 + 1, "bar o-failed": 20}  # + the map's own bar
    assert html.count('<tr class="item">') == 1000
    assert html.count('<span class="status s-failed">failed</span>') == 20 + 1  # + the header
    assert "$30.0000, 360,000 tokens" in html  # 3,000 agents at $0.01 and 120 tokens
    assert "(25 most expensive of 1000)" in html
    assert "The run's plan could not be read." in html  # none was stored


def test_a_running_run_shows_what_happened_so_far(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    now = time.time()
    record = RunRecord(run_id="r", status=RunStatus.RUNNING, workflow="w", source="w.yml",
                       cwd=str(tmp_path), created_at=now - 10, updated_at=now, pid=1)
    state.write_run(record)
    state.events_path("r").write_text(
        json.dumps({"ts": now - 10, "event": "run_started", "attempt": 1}) + "\n"
        + json.dumps(node("node_started", now - 9, "main.0")) + "\n", encoding="utf-8")
    html = write_report(state, record).read_text(encoding="utf-8")
    assert 'class="bar o-running"' in html and "<dt>so far</dt>" in html
    assert '<span class="status s-running">running</span></td>' in html  # its attempt


def test_the_header_names_the_branch_and_how_merging_it_back_went(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    record = RunRecord(run_id="r", status=RunStatus.SUCCEEDED, workflow="w", source="w.yml",
                       cwd=str(tmp_path), created_at=100.0, updated_at=160.0, pid=1,
                       finished_at=160.0, workspace={"branch": "prodigy/r", "target": "main",
                                                     "worktree": "/wt/r"},
                       merge={"status": "merged", "commits": 2, "message": "merged into main"})
    state.write_run(record)
    html = write_report(state, record).read_text(encoding="utf-8")
    assert "<dd>branch prodigy/r from main, worktree /wt/r</dd>" in html
    assert "<dd>merged (2 commits): merged into main</dd>" in html
    assert "<dd>1m 00s</dd>" in html and "No step has started yet." in html
