"""The map phase in one process (inline executor): items, agents, results, the DLQ, the error
policy, timeouts, and the lazy window. Real crash and CLI behaviour is in tests/e2e."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prodigy.runtime.store import CheckpointStore, RunStatus

ok, failed = RunStatus.SUCCEEDED, RunStatus.FAILED

MAP = """\
name: m
mode: mapreduce
env:
  LIMIT: "2"
setup:
  - shell: "printf '%s' 'items.json'"
    capture: source
map:
  input: "${{source}}"
  json_path: "$.items[*]"
  max_parallel: 2
  agent_template:
    - shell: "echo seen ${{item.name}} $PRODIGY_ITEM_CHECK"
    - shell: "{agent}"
{extra}reduce:
  - shell: "echo ${{map.successful}} ${{map.failed}} ${{map.total}} > reduce.txt"
  - shell: "env | grep -c '^PRODIGY_VAR_map_results=' > env.txt || true"
  - shell: "cp ${{map.results_file}} results.json"
  - shell: "echo ${{source}} $LIMIT ${{env.LIMIT}} > reduce-env.txt"
"""


def run_map(run_plan: Any, tmp_path: Path, names: list[str], agent: str, extra: str = "",
            run_id: str = "r1", **kw: Any) -> tuple[Any, list[dict[str, Any]], Any]:
    from prodigy.compiler.pipeline import compile_file

    (tmp_path / "items.json").write_text(json.dumps({"items": [{"name": n} for n in names]}))
    (tmp_path / "wf.yml").write_text(MAP.format(agent=agent, extra=extra))
    return run_plan(compile_file(str(tmp_path / "wf.yml")), run_id=run_id, **kw)


def dlq(state: Any, run_id: str = "r1") -> list[dict[str, Any]]:
    store = CheckpointStore(state.cache_dir)
    try:
        return store.dlq_entries(run_id)
    finally:
        store.close()


def test_a_failing_agent_goes_to_the_dlq_and_reduce_sees_the_counts(run_plan: Any,
                                                                   tmp_path: Path) -> None:
    outcome, events, state = run_map(run_plan, tmp_path, ["a", "bad", "c"],
                                     "echo out-${item.name}; test ${item.name} != bad")
    assert outcome.status is ok
    assert (tmp_path / "reduce.txt").read_text() == "2 1 3\n"
    assert (tmp_path / "env.txt").read_text().strip() == "0"  # never through the environment
    # Reduce sees the workflow env and the setup captures too (upstream gave it neither).
    assert (tmp_path / "reduce-env.txt").read_text() == "items.json 2 2\n"
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["status"] for r in results] == ["succeeded", "failed", "succeeded"]
    assert results[1]["error"] == "exit code 1" and results[1]["exit_code"] == 1
    assert "seen bad" in results[1]["output"] and "out-a" in results[0]["output"]
    assert results[0]["item"] == {"name": "a"} and results[0]["item_id"] == "item_0"
    [entry] = dlq(state)
    assert entry["item_id"] == "item_1" and entry["item"] == {"name": "bad"}
    assert (entry["error_type"], entry["exit_code"], entry["failure_count"]) == (
        "command_failed", 1, 1)
    assert entry["failed_node"] == "map.agent.1" and "out-bad" in entry["output_tail"]
    assert Path(entry["log"]).exists() and entry["first_failure_at"] <= entry["last_failure_at"]
    failures = [e for e in events if e["event"] == "item_failed"]
    assert [(e["item"], e["dlq"]) for e in failures] == [("item_1", True)]


def test_zero_items_skip_reduce_saying_why(run_plan: Any, tmp_path: Path) -> None:
    from prodigy.runtime.report_lines import event_line

    outcome, events, _ = run_map(run_plan, tmp_path, [], "true")
    assert outcome.status is ok
    assert not (tmp_path / "reduce.txt").exists()  # upstream skips reduce too
    started = [e for e in events if e["event"] == "loop_started"]
    assert started[0]["total"] == 0
    skipped = [e for e in events if e["event"] == "node_skipped"]
    assert [e["node"] for e in skipped] == [f"reduce.{i}" for i in range(4)]
    assert str(event_line(skipped[0])).endswith(": the map had no items")
    assert str(event_line(skipped[0])).startswith("skipped  ")


def test_reduce_runs_when_the_map_had_items_even_if_all_failed(run_plan: Any,
                                                               tmp_path: Path) -> None:
    outcome, _, _ = run_map(run_plan, tmp_path, ["a"], "false")
    assert outcome.status is ok
    assert (tmp_path / "reduce.txt").read_text() == "0 1 1\n"


def test_max_failures_stops_the_map_and_fails_the_run(run_plan: Any, tmp_path: Path) -> None:
    extra = "error_policy:\n  max_failures: 1\n"
    outcome, _, state = run_map(run_plan, tmp_path, [f"x{i}" for i in range(6)], "false",
                                extra)
    assert outcome.status is failed and not (tmp_path / "reduce.txt").exists()
    assert "max_failures" in outcome.failed[0]["message"]
    assert 2 <= len(dlq(state)) < 6  # stopped early; in-flight agents finished


def test_skip_records_the_item_without_the_dlq(run_plan: Any, tmp_path: Path) -> None:
    extra = "error_policy:\n  on_item_failure: skip\n"
    outcome, _, state = run_map(run_plan, tmp_path, ["a", "bad"],
                                "test ${item.name} != bad", extra)
    assert outcome.status is ok and dlq(state) == []
    assert (tmp_path / "reduce.txt").read_text() == "1 0 2\n"
    assert json.loads((tmp_path / "results.json").read_text())[1]["status"] == "skipped"


def test_retry_runs_the_whole_agent_again(run_plan: Any, tmp_path: Path) -> None:
    extra = ("error_policy:\n  on_item_failure: retry\n  retry_config:\n    attempts: 3\n"
             "    backoff: fixed\n    initial_delay: 10ms\n")
    agent = "echo x >> ${item.name}.tries; test $(wc -l < ${item.name}.tries) -ge 2"
    outcome, _, state = run_map(run_plan, tmp_path, ["a"], agent, extra)
    assert outcome.status is ok and dlq(state) == []
    assert (tmp_path / "a.tries").read_text() == "x\nx\n"
    assert json.loads((tmp_path / "results.json").read_text())[0]["attempts"] == 2


def test_an_agent_over_its_time_goes_to_the_dlq_as_a_timeout(run_plan: Any,
                                                             tmp_path: Path) -> None:
    extra = "  agent_timeout_secs: 1\n"
    text = MAP.format(agent="sleep 5", extra="").replace("  agent_template:",
                                                         extra + "  agent_template:")
    (tmp_path / "wf.yml").write_text(text)
    (tmp_path / "items.json").write_text(json.dumps({"items": [{"name": "slow"}]}))
    from prodigy.compiler.pipeline import compile_file

    outcome, _, state = run_plan(compile_file(str(tmp_path / "wf.yml")))
    assert outcome.status is ok and outcome.duration < 4
    [entry] = dlq(state)
    assert entry["error_type"] == "timeout" and entry["exit_code"] == -1


def test_frames_are_created_lazily_within_the_window(run_plan: Any, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from prodigy.runtime.run import Run

    peak = [0]
    original = Run.new_frame

    def counting(self: Run, *args: Any) -> Any:
        frame = original(self, *args)
        peak[0] = max(peak[0], len(self.frames))
        return frame

    monkeypatch.setattr(Run, "new_frame", counting)
    outcome, events, _ = run_map(run_plan, tmp_path, [f"i{n}" for n in range(120)], "true",
                                 executor="local", jobs=2)
    assert outcome.status is ok and (tmp_path / "reduce.txt").read_text() == "120 0 120\n"
    assert peak[0] <= 1 + 2  # the main frame plus max_parallel agents, never all 120
    progress = [e for e in events if e["event"] == "loop_progress"]
    assert progress[-1]["final"] and progress[-1]["done"] == 120


def test_an_edited_agent_template_reruns_the_items(run_plan: Any, tmp_path: Path) -> None:
    run_map(run_plan, tmp_path, ["a", "b"], "echo v1 >> ${item.name}.log")
    run_map(run_plan, tmp_path, ["a", "b"], "echo v1 >> ${item.name}.log", resume=True)
    assert (tmp_path / "a.log").read_text() == "v1\n"  # a resume reuses the finished map
    run_map(run_plan, tmp_path, ["a", "b"], "echo v2 >> ${item.name}.log", resume=True)
    assert (tmp_path / "a.log").read_text() == "v1\nv2\n"


def test_a_frame_stopped_by_an_interrupt_is_not_a_finished_item(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from prodigy.runtime.frame import Frame, FrameSpec, Template
    from prodigy.runtime.loops.base import outcome_of
    from prodigy.runtime.ops import NodeResult
    from prodigy.runtime.scheduler import Reason

    from .conftest import build_plan, chain, sh

    tpl = Template.of(build_plan([sh("a", "true"), sh("b", "true")], chain("a", "b")))
    host = SimpleNamespace(interrupted=False, log_dir=str(tmp_path))
    frame = Frame(host, tpl, FrameSpec("x/", {}, {}, tmp_path, "", checkpoint=False))  # type: ignore[arg-type]
    [first] = frame.sched.pop_ready()
    frame.sched.stop(Reason.INTERRUPTED)  # Ctrl-C while `a` runs; `a` then finishes fine
    frame.results[first] = NodeResult(ok=True)
    frame.sched.succeed(first)
    assert frame.sched.finished
    outcome = outcome_of(frame)
    assert outcome.interrupted and not outcome.ok
