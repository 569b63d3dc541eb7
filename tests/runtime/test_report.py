"""What users read: event lines, the summary, --json, --dry-run tables."""

from __future__ import annotations

import io
import json
from typing import Any

from prodigy.runtime.decide import Action, Decision, Why
from prodigy.runtime.report import (
    JsonReporter,
    LiveReporter,
    PlainReporter,
    decisions_json,
    decisions_text,
    event_line,
)
from prodigy.runtime.run import RunOutcome
from prodigy.runtime.store import RunStatus

from .conftest import build_plan, sh

FAILED = RunOutcome("r1", RunStatus.FAILED, {"failed": 1, "succeeded": 2},
                    [{"node": "b", "label": "shell: make", "reason": "", "message": "exit code 2",
                      "exit_code": 2, "output": "line1\nerror: boom\n", "log": "/x/b.log"}], 1.5)


def test_event_lines() -> None:
    assert event_line({"event": "node_finished", "label": "L", "status": "succeeded",
                       "duration_s": 0.25}) == "ok       L (250ms)"
    assert event_line({"event": "node_finished", "label": "L", "status": "failed",
                       "message": "exit code 1"}) == "FAILED   L: exit code 1"
    assert event_line({"event": "node_skipped", "label": "L", "status": "skipped",
                       "reason": "upstream_failed", "cause": "a"}) == \
        "skipped  L: an earlier step failed"
    assert event_line({"event": "node_retrying", "node": "n", "delay_s": 2,
                       "message": "exit code 1"}) == "retry    n in 2s: exit code 1"
    assert event_line({"event": "unknown"}) is None


def test_summary_names_the_failure_its_output_and_the_resume_command() -> None:
    err = io.StringIO()
    PlainReporter(err).summary(FAILED)
    text = err.getvalue()
    assert text.splitlines()[0] == "run r1 failed in 1.5s: 1 failed, 2 succeeded"
    assert "FAILED shell: make [b]: exit code 2" in text and "    | error: boom" in text
    assert "log: /x/b.log" in text and text.endswith("resume with: prodigy resume r1\n")


def test_plain_reporter_stays_quiet_about_successes_in_big_runs() -> None:
    err = io.StringIO()
    reporter = PlainReporter(err)
    reporter.on_event({"event": "run_started", "nodes": 10_000, "run_id": "r"})
    reporter.on_event({"event": "node_started", "label": "x"})
    reporter.on_event({"event": "node_finished", "label": "x", "status": "succeeded"})
    reporter.on_event({"event": "node_finished", "label": "y", "status": "failed",
                       "message": "m"})
    assert err.getvalue().splitlines()[1:] == ["FAILED   y: m"]


def test_json_reporter_writes_only_json_lines() -> None:
    out = io.StringIO()
    reporter = JsonReporter(out)
    for record in ({"event": "run_started"}, {"event": "run_finished", "status": "ok"}):
        reporter.on_event(record)
    reporter.summary(FAILED)
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == \
        ["run_started", "run_finished"]


def test_live_reporter_renders_progress_and_running_nodes() -> None:
    err = io.StringIO()
    live = LiveReporter(err)
    live.on_event({"event": "run_started", "nodes": 2})
    live.on_event({"event": "node_started", "node": "a", "label": "shell: sleep"})
    assert "shell: sleep" in str(live._render().columns[1]._cells[1])
    live.on_event({"event": "node_finished", "node": "a", "label": "shell: sleep",
                   "status": "succeeded", "duration_s": 1})
    live.on_event({"event": "run_resumed", "nodes": 5, "jobs": 2})
    for node in "bcde":  # the executor keeps some queued beyond the 2 slots
        live.on_event({"event": "node_started", "node": node, "label": f"shell: {node}"})
    header = str(live._render().columns[1]._cells[0])
    assert "2 running, 2 queued" in header
    shown = [str(c) for c in live._render().columns[1]._cells[1:]]
    assert shown == ["shell: b", "shell: c"]
    live.summary(FAILED)
    assert "ok       shell: sleep (1.0s)" in err.getvalue()
    assert "resume with: prodigy resume r1" in err.getvalue()


def test_dry_run_tables() -> None:
    plan = build_plan([sh("a", "x"), sh("bb", "y")])
    rows: list[Any] = [(plan.nodes[0], Decision(Action.REUSE, ((Why.CHECKPOINT_MATCHES, "abc"),))),
                       (plan.nodes[1], Decision(Action.RUN, ((Why.FINGERPRINT_CHANGED, "1 -> 2"),
                                                             (Why.UPSTREAM_CHANGED, "a"))))]
    assert decisions_text(rows).splitlines() == [
        "reuse  a   shell: a  (checkpoint matches: abc)",
        "run    bb  shell: bb  (fingerprint changed: 1 -> 2; upstream changed: a)"]
    assert json.loads(decisions_json(rows))[1]["reasons"][1] == {"why": "upstream changed",
                                                                "detail": "a"}


def test_loop_lines() -> None:
    assert event_line({"event": "loop_started", "kind": "map", "label": "map: in.json",
                       "total": 500, "window": 8}) == (
        "map      map: in.json: 500 items, 8 at a time")
    assert event_line({"event": "loop_progress", "label": "map: in.json", "done": 120,
                       "total": 500, "succeeded": 117, "failed": 3, "running": 8}) == (
        "progress map: in.json: 120/500 items (117 ok, 3 failed), 8 running")
    assert event_line({"event": "item_failed", "node": "map", "item": "item_7",
                       "message": "exit code 2", "dlq": True}) == (
        "FAILED   map [item_7]: exit code 2; sent to the DLQ")
    assert event_line({"event": "item_failed", "node": "map", "item": "item_7",
                       "message": "exit code 2", "retrying": 1.0}).endswith("retry in 1.0s")
    assert event_line({"event": "attempt_scored", "node": "v", "kind": "validate",
                       "attempt": 2, "completion": 95, "status": "complete",
                       "threshold": 90}) == (
        "measure  v attempt 2: 95% complete (complete), threshold 90")
    assert event_line({"event": "node_finished", "label": "L", "status": "succeeded",
                       "duration_s": 0.25, "item": "item_3"}) == "ok       L [item_3] (250ms)"


def test_big_loops_report_progress_and_failures_not_every_item_node() -> None:
    err = io.StringIO()
    reporter = PlainReporter(err)
    reporter.on_event({"event": "run_started", "nodes": 5, "run_id": "r"})
    reporter.on_event({"event": "loop_started", "node": "map", "kind": "map", "label": "map",
                       "total": 1000, "window": 4})
    for n in range(30):
        reporter.on_event({"event": "node_finished", "node": f"map[item_{n}]/a", "label": "a",
                           "status": "succeeded", "item": f"item_{n}", "duration_s": 0.1})
        reporter.on_event({"event": "item_failed", "node": "map", "item": f"item_{n}",
                           "message": "boom", "dlq": True})
    reporter.on_event({"event": "loop_progress", "node": "map", "label": "map", "done": 30,
                       "total": 1000, "succeeded": 0, "failed": 30, "running": 4})
    lines = err.getvalue().splitlines()
    assert lines[1].startswith("map ") and lines[-1].startswith("progress map: 30/1000")
    failed = [line for line in lines if line.startswith("FAILED")]
    assert len(failed) == 21 and "more items failed" in failed[-1]
    queued = [{"loop": "map", "item_id": f"item_{n}", "item_label": f"file{n}.py",
               "error": "boom", "failed_step": "shell: x", "stderr": ""} for n in range(20)]
    reporter.summary(RunOutcome("r", RunStatus.SUCCEEDED, {"succeeded": 5}, [], 1.0,
                                failed_items=queued, failed_items_total=30))
    text = err.getvalue()
    assert "30 failed items in the dead-letter queue (prodigy dlq list r):" in text
    assert "  FAILED item file3.py of map: boom in shell: x" in text
    assert "    details: prodigy dlq show r item_3" in text
    assert "  ... and 10 more: prodigy dlq list r" in text


def test_live_view_shows_a_row_per_running_loop() -> None:
    err = io.StringIO()
    live = LiveReporter(err)
    live.on_event({"event": "run_started", "nodes": 3})
    live.on_event({"event": "loop_started", "node": "map", "kind": "map", "label": "map: x",
                   "total": 400, "window": 8})
    live.on_event({"event": "node_started", "node": "map[item_0]/a", "label": "a",
                   "item": "item_0"})
    live.on_event({"event": "loop_progress", "node": "map", "label": "map: x", "done": 40,
                   "total": 400, "succeeded": 38, "failed": 2, "running": 8})
    rows = [str(cell) for cell in live._render().columns[1]._cells]
    assert "map: x: 40/400 items, 2 failed, 8 running" in rows
    assert live.done == set()  # item nodes are counted by their loop's row, not as nodes
    live.on_event({"event": "loop_progress", "node": "map", "label": "map: x", "done": 400,
                   "total": 400, "succeeded": 398, "failed": 2, "running": 0, "final": True})
    assert not any("map: x:" in str(c) for c in live._render().columns[1]._cells)
    live.close()


def test_plain_lines_show_the_end_of_a_steps_output_but_not_of_loop_items() -> None:
    err = io.StringIO()
    reporter = PlainReporter(err)
    reporter.on_event({"event": "run_started", "nodes": 2})
    reporter.on_event({"event": "node_finished", "node": "a", "label": "shell: make",
                       "status": "succeeded", "duration_s": 0.1, "output": "built\nall ok"})
    reporter.on_event({"event": "node_finished", "node": "b", "label": "shell: x",
                       "status": "succeeded", "duration_s": 0.1, "output": "per item",
                       "item": "item_0"})
    lines = err.getvalue().splitlines()
    start = lines.index("ok       shell: make (100ms)")
    assert lines[start + 1:start + 3] == ["         | built", "         | all ok"]
    assert "per item" not in err.getvalue()


def test_the_output_tail_in_events_is_bounded(run_plan: Any) -> None:
    plan = build_plan([sh("a", "seq 1 100")])
    _, events, _ = run_plan(plan)
    finished = [e for e in events if e.get("event") == "node_finished"]
    assert finished[0]["output"].splitlines() == [str(n) for n in range(95, 101)]


def test_the_live_view_counts_a_maps_agents_not_the_map_itself_as_running() -> None:
    err = io.StringIO()
    live = LiveReporter(err)
    live.on_event({"event": "run_started", "steps": 3, "nodes": 5, "jobs": 3})
    live.on_event({"event": "node_started", "node": "map", "label": "map: x", "kind": "map"})
    live.on_event({"event": "loop_started", "node": "map", "kind": "map", "label": "map: x",
                   "total": 3, "window": 3})
    for n in range(3):
        live.on_event({"event": "node_started", "node": f"map[item_{n}]/a", "label": "a",
                       "kind": "shell", "item": f"item_{n}", "item_label": f"f{n}.py"})
    rows = [str(cell) for cell in live._render().columns[1]._cells]
    live.close()
    assert rows[0] == "0/3 steps, 3 running"  # no agent shown queued behind the map node
    assert rows[1] == "map: x: 0/3 items, 3 running"
    assert "a [f0.py]" in rows[2:]
