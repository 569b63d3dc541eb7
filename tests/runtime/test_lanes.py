"""Loops sending their items ahead: the executor's lanes (`LocalExecutor.set_lane`), where the
spawner holds a loop's own limit, and the loops that use them (`loops/items.py`).

Concurrency is checked with `mkdir`, which is atomic: a command that finds the lock taken
exits 9, so any overlap fails a command instead of depending on timing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prodigy.runtime.executors import spawn
from prodigy.runtime.executors.pool import LocalExecutor
from prodigy.runtime.masking import Masker
from prodigy.runtime.ops import Task
from prodigy.runtime.store import RunStatus

from .conftest import spawner_killed_once

pytestmark = [pytest.mark.process,
              pytest.mark.skipif(not spawn.direct_spawn_available(), reason="no pidfd_open")]

ALONE = "mkdir lock || exit 9; sleep 0.05; echo {n} >> ran; rmdir lock"


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    made = LocalExecutor(jobs=3)
    yield made
    made.shutdown()


def task(where: Path, command: str, node: str, lane: int = 0, **fields: Any) -> Task:
    return Task("r1", node, "shell", f"shell: {command}", 1,
                {"command": command, "shell": "sh", "timeout": None}, {}, str(where),
                str(where / "logs" / f"{node}.log"), Masker(), lane=lane, **fields)


def test_a_lane_runs_no_more_than_its_limit_while_other_tasks_use_the_free_slots(
        tmp_path: Path, executor: LocalExecutor) -> None:
    executor.set_lane(7, 1)
    lane = [executor.submit(task(tmp_path, ALONE.format(n=n), f"l{n}", lane=7))
            for n in range(5)]
    other = executor.submit(task(tmp_path, "touch other", "other"))
    executor.wait([other], 10)
    assert other.done() and other.result().ok
    assert not all(f.done() for f in lane)  # it did not wait for the lane's queue
    for future in lane:
        assert future.result().ok, future.result().message
    assert sorted((tmp_path / "ran").read_text().split()) == [str(n) for n in range(5)]


def test_worker_tasks_of_a_lane_keep_its_limit_too(tmp_path: Path,
                                                   executor: LocalExecutor) -> None:
    executor.set_lane(3, 1)  # read_output: not a plain command, so pool workers run them
    futures = [executor.submit(task(tmp_path, ALONE.format(n=n), f"w{n}", lane=3,
                                    read_output=True)) for n in range(3)]
    for future in futures:
        assert future.result().ok, future.result().message


def test_dropping_a_lane_cancels_what_did_not_start_and_what_comes_later(
        tmp_path: Path, executor: LocalExecutor) -> None:
    executor.set_lane(5, 1)
    first = executor.submit(task(tmp_path, "touch started; sleep 0.3; touch first", "a", lane=5))
    queued = [executor.submit(task(tmp_path, f"touch never{n}", f"q{n}", lane=5))
              for n in range(3)]
    other = executor.submit(task(tmp_path, "touch other", "other"))
    while not (tmp_path / "started").exists():
        executor.wait([first], 0.01)
    executor.drop_lane(5)
    assert first.result().ok and other.result().ok
    executor.wait(queued, 10)
    assert all(f.cancelled() for f in queued)
    assert executor.submit(task(tmp_path, "touch later", "later", lane=5)).cancelled()
    assert not list(tmp_path.glob("never*")) and not (tmp_path / "later").exists()


MAP = """\
name: lanes
mode: mapreduce
map:
  input: items.json
  max_parallel: {parallel}
  agent_template:
    - shell: "{command}"
"""

FOREACH = """\
name: lanes
commands:
  - foreach:
      foreach: "cat items.txt"
      parallel: {parallel}
      do:
        - shell: "{command}"
"""


def compile_text(tmp_path: Path, text: str, items: int) -> Any:
    from prodigy.compiler.pipeline import compile_file

    names = [f"i{n}" for n in range(items)]
    (tmp_path / "items.json").write_text(json.dumps(names))
    (tmp_path / "items.txt").write_text("\n".join(names) + "\n")
    (tmp_path / "wf.yml").write_text(text)
    return compile_file(str(tmp_path / "wf.yml"))


def test_a_map_sent_ahead_keeps_max_parallel_below_jobs(run_plan: Any, tmp_path: Path) -> None:
    command = "mkdir lock || exit 9; sleep 0.02; echo ${item} >> ran; rmdir lock"
    plan = compile_text(tmp_path, MAP.format(parallel=1, command=command), 12)
    outcome, events, _ = run_plan(plan, executor="local", jobs=3)
    assert outcome.status is RunStatus.SUCCEEDED
    assert len((tmp_path / "ran").read_text().split()) == 12
    progress = [e for e in events if e["event"] == "loop_progress"]
    assert all(e["running"] <= 1 for e in progress)  # the window, not the frames made ahead
    # Each item is said to start when it is one of the window's, and before it ends.
    open_items: set[str] = set()
    most = 0
    for event in (e for e in events if e.get("item")):
        if event["event"] == "node_started":
            open_items.add(event["node"])
            most = max(most, len(open_items))
        elif event["event"] == "node_finished":
            assert event["node"] in open_items, event
            open_items.remove(event["node"])
    assert most == 1 and not open_items


def test_a_failed_foreach_item_stops_the_items_waiting_in_its_lane(run_plan: Any,
                                                                   tmp_path: Path) -> None:
    # Item 2 fails; without continue_on_error no item after it may start, although up to
    # AHEAD_PER_SLOT of them were already waiting in the lane.
    command = 'echo ${item} >> ran; sleep 0.02; test ${item} != i2'
    plan = compile_text(tmp_path, FOREACH.format(parallel=1, command=command), 40)
    outcome, events, _ = run_plan(plan, executor="local", jobs=2)
    assert outcome.status is RunStatus.FAILED
    assert (tmp_path / "ran").read_text().split() == ["i0", "i1", "i2"]
    failed = [e for e in events if e["event"] == "item_failed"]
    assert [e["item_label"] for e in failed] == ["i2"]
    # Nothing is said of the dropped items: no start, no end.
    said = {e.get("item_label") for e in events if e["event"].startswith("node_")}
    assert said - {None} == {"i0", "i1", "i2"}
    # The dropped items have no record: a resume runs them.
    (tmp_path / "wf.yml").write_text(FOREACH.format(parallel=1, command="echo ${item} >> ran"))
    from prodigy.compiler.pipeline import compile_file

    outcome, _, _ = run_plan(compile_file(str(tmp_path / "wf.yml")), executor="local",
                             jobs=2, resume=True)
    assert outcome.status is RunStatus.SUCCEEDED


def test_a_failure_pauses_the_lane_until_the_loop_has_seen_it(tmp_path: Path,
                                                              executor: LocalExecutor) -> None:
    executor.set_lane(4, 1)
    failing = executor.submit(task(tmp_path, "exit 3", "f", lane=4))
    after = executor.submit(task(tmp_path, "touch after", "a", lane=4))
    executor.wait([failing], 10)
    assert failing.done() and failing.lane_failure  # type: ignore[attr-defined]
    executor.wait([after], 0.3)
    assert not after.done() and not (tmp_path / "after").exists()  # paused
    executor.resume_lane(4, 1)
    assert after.result().ok and (tmp_path / "after").exists()


@pytest.mark.parametrize("capture", [False, True], ids=["spawner", "worker"])
@pytest.mark.parametrize("policy, ran, status", [
    # the default: a failed item goes to the DLQ and the others all run
    ("", 12, RunStatus.SUCCEEDED),
    # the second failure stops the map (one is allowed): nothing queued behind it starts
    ("error_policy: {max_failures: 1}", 6, RunStatus.FAILED),
])
def test_a_map_goes_on_or_stops_after_a_failure_as_its_policy_says(
        run_plan: Any, tmp_path: Path, policy: str, ran: int, status: RunStatus,
        capture: bool) -> None:
    # A captured output makes the step a pool worker's task: the driver holds its lane then.
    command = "echo ${item} >> ran; test ${item} != i2 && test ${item} != i5"
    text = MAP.format(parallel=1, command=command) + policy + "\n"
    if capture:
        text = text.replace(' && test ${item} != i5"', ' && test ${item} != i5"\n'
                            '      capture: said')
    outcome, _, _ = run_plan(compile_text(tmp_path, text, 12), executor="local", jobs=2)
    assert outcome.status is status
    assert len((tmp_path / "ran").read_text().split()) == ran


def test_a_retried_item_runs_again_in_its_lane(run_plan: Any, tmp_path: Path) -> None:
    # i2 fails once (no marker yet), then succeeds: every item ends up done.
    command = "echo ${item} >> ran; test ${item} != i2 || test -e marker || (touch marker; exit 1)"
    text = MAP.format(parallel=1, command=command) + (
        "error_policy:\n  on_item_failure: retry\n  retry_config:\n    attempts: 2\n")
    outcome, _, _ = run_plan(compile_text(tmp_path, text, 12), executor="local", jobs=2)
    assert outcome.status is RunStatus.SUCCEEDED
    assert sorted((tmp_path / "ran").read_text().split()).count("i2") == 2


def test_a_sequential_foreach_whose_step_retries_keeps_its_items_in_order(
        run_plan: Any, tmp_path: Path) -> None:
    # i1 fails once and is retried: with items sent ahead, its second attempt would queue
    # behind i2 and i3. A step that retries is not sent ahead; `parallel: 1` is an order.
    command = ("echo ${item} >> ran; test ${item} != i1 || test -e marker || "
               "(touch marker; exit 1)")
    text = FOREACH.format(parallel=1, command=command) + (
        "          retry: {attempts: 2, backoff: fixed, initial_delay: 0}\n")
    outcome, _, _ = run_plan(compile_text(tmp_path, text, 4), executor="local", jobs=2)
    assert outcome.status is RunStatus.SUCCEEDED
    assert (tmp_path / "ran").read_text().split() == ["i0", "i1", "i1", "i2", "i3"]


def test_a_spawner_that_replaced_a_dead_one_counts_the_lanes_failures_on(
        tmp_path: Path, executor: LocalExecutor) -> None:
    import os
    import signal

    executor.set_lane(9, 1)
    first = executor.submit(task(tmp_path, "exit 1", "f1", lane=9))
    assert not first.result().ok and first.lane_failure  # type: ignore[attr-defined]
    executor.resume_lane(9, 1)
    spawner = executor._spawner._proc
    assert spawner is not None
    os.kill(spawner.pid, signal.SIGKILL)
    spawner.wait()
    probe = executor.submit(task(tmp_path, "true", "probe"))  # how the executor learns of it
    with pytest.raises(RuntimeError, match="starting commands died"):
        probe.result()
    # The new spawner knows the lane had one failure, seen: the next failure pauses it again.
    second = executor.submit(task(tmp_path, "exit 1", "f2", lane=9))
    after = executor.submit(task(tmp_path, "touch after", "a", lane=9))
    assert not second.result().ok and second.lane_failure  # type: ignore[attr-defined]
    executor.wait([after], 0.3)
    assert not after.done() and not (tmp_path / "after").exists()
    executor.resume_lane(9, 2)
    assert after.result().ok


@pytest.mark.parametrize("requeues", [2, 0])
def test_items_lost_with_a_dead_spawner_run_again(run_plan: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  requeues: int) -> None:
    # The spawner dies while one item runs and the rest wait in its lane: none of them is a
    # failure (no DLQ entry); each runs again on a new spawner. Put back too often (here:
    # never allowed), an item fails saying why.
    from prodigy.runtime.loops import items

    monkeypatch.setattr(items, "REQUEUE_LIMIT", requeues)
    command = "echo ${item} >> ran; touch started; sleep 0.1"
    plan = compile_text(tmp_path, MAP.format(parallel=1, command=command), 10)
    with spawner_killed_once(tmp_path / "started"):
        outcome, _, _ = run_plan(plan, executor="local", jobs=2)
    if not requeues:
        assert outcome.failed_items_total >= 1
        assert all("starting commands died" in item["error"]
                   for item in outcome.failed_items), outcome.failed_items
        return
    assert outcome.status is RunStatus.SUCCEEDED and outcome.failed_items_total == 0
    ran = (tmp_path / "ran").read_text().split()
    assert sorted(set(ran)) == [f"i{n}" for n in range(10)]
    assert len(ran) <= 11  # at most the one running when it died ran twice
