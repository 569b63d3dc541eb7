"""A literal foreach of one step runs as a pool (`frame_pools.py`): its copies are sent ahead
into an executor lane that holds `parallel`, with the semantics of the plan's limit kept.

Concurrency is checked with `mkdir`, which is atomic: a command that finds the lock taken
exits 9, so any overlap fails a command instead of depending on timing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prodigy.runtime import frame_pools
from prodigy.runtime.executors import spawn
from prodigy.runtime.executors.pool import LocalExecutor
from prodigy.runtime.store import RunStatus

from .conftest import spawner_killed_once

pytestmark = [pytest.mark.process,
              pytest.mark.skipif(not spawn.direct_spawn_available(), reason="no pidfd_open")]

FOREACH = """\
name: pool
commands:
  - foreach:
      foreach: {items}
      parallel: {parallel}
      do:
        - shell: "{command}"
{options}  - shell: "{after} >> ran"
"""


def compile_pool(tmp_path: Path, command: str, items: int, parallel: int = 1,
                 options: str = "", after: str = "echo after") -> Any:
    from prodigy.compiler.pipeline import compile_file

    names = json.dumps([f"i{n}" for n in range(items)])
    (tmp_path / "wf.yml").write_text(FOREACH.format(items=names, parallel=parallel,
                                                    command=command, options=options,
                                                    after=after))
    return compile_file(str(tmp_path / "wf.yml"))


@pytest.fixture
def lanes_opened(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The lanes the run opened (id, limit): a pool sent ahead opens one."""
    opened: list[tuple[int, int]] = []
    original = LocalExecutor.set_lane

    def spy(self: LocalExecutor, lane: int, limit: int) -> None:
        opened.append((lane, limit))
        original(self, lane, limit)

    monkeypatch.setattr(LocalExecutor, "set_lane", spy)
    return opened


def said(events: list[dict[str, Any]]) -> tuple[int, set[str]]:
    """The most copies said to run at once, and those said to start that never ended."""
    running: set[str] = set()
    most = 0
    for event in events:
        if ".item." not in event.get("node", ""):
            continue
        if event["event"] == "node_started":
            running.add(event["node"])
            most = max(most, len(running))
        elif event["event"] == "node_finished":
            assert event["node"] in running, event  # it was said to start first
            running.remove(event["node"])
    return most, running


def test_a_pool_sent_ahead_keeps_parallel_below_jobs(run_plan: Any, tmp_path: Path,
                                                     lanes_opened: list[Any]) -> None:
    command = "mkdir lock || exit 9; sleep 0.02; echo ${item} >> ran; rmdir lock"
    outcome, events, _ = run_plan(compile_pool(tmp_path, command, 12), executor="local",
                                  jobs=3)
    assert outcome.status is RunStatus.SUCCEEDED
    ran = (tmp_path / "ran").read_text().split()
    assert ran[:12] == [f"i{n}" for n in range(12)] and ran[12:] == ["after"]  # in order
    assert [limit for _, limit in lanes_opened] == [1]
    assert said(events) == (1, set())


def test_a_failed_copy_stops_the_copies_waiting_in_the_lane(run_plan: Any, tmp_path: Path,
                                                           lanes_opened: list[Any]) -> None:
    # i2 fails: no copy after it may start, although up to AHEAD_PER_SLOT of them were
    # already waiting in the lane; they end skipped (the run failed), never said to start.
    command = "echo ${item} >> ran; sleep 0.02; test ${item} != i2 || test -e fixed"
    outcome, events, _ = run_plan(compile_pool(tmp_path, command, 40), executor="local",
                                  jobs=2)
    assert outcome.status is RunStatus.FAILED and lanes_opened
    assert (tmp_path / "ran").read_text().split() == ["i0", "i1", "i2"]
    assert said(events) == (1, set())
    skipped = {e["node"]: e["reason"] for e in events if e["event"] == "node_skipped"}
    assert {skipped[f"main.0.item.{n}.0"] for n in range(3, 40)} == {"run_failed"}
    # A resume runs what was dropped and reuses what succeeded.
    (tmp_path / "ran").unlink()
    (tmp_path / "fixed").touch()
    plan = compile_pool(tmp_path, command, 40)
    outcome, events, _ = run_plan(plan, executor="local", jobs=2, resume=True)
    assert outcome.status is RunStatus.SUCCEEDED
    assert (tmp_path / "ran").read_text().split() == [f"i{n}" for n in range(2, 40)] + ["after"]


def test_a_copy_that_retries_keeps_the_items_in_order(run_plan: Any, tmp_path: Path,
                                                     lanes_opened: list[Any]) -> None:
    # `parallel: 1` is an order (migrate, then seed): i2's second attempt runs before i3. A
    # lane would queue the retry behind the items sent ahead, so such a pool gets none.
    command = "echo ${item} >> ran; test ${item} != i2 || test -e marker || (touch marker; exit 1)"
    plan = compile_pool(tmp_path, command, 6,
                        options="          retry: {attempts: 2, backoff: fixed, "
                                "initial_delay: 0}\n")
    outcome, events, _ = run_plan(plan, executor="local", jobs=3)
    assert outcome.status is RunStatus.SUCCEEDED and not lanes_opened
    assert (tmp_path / "ran").read_text().split() == [
        "i0", "i1", "i2", "i2", "i3", "i4", "i5", "after"]
    assert said(events) == (1, set())


@pytest.mark.parametrize("requeues", [2, 0])
def test_copies_lost_with_a_dead_spawner_run_again(run_plan: Any, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   requeues: int) -> None:
    # The spawner dies while one copy runs and the rest wait in its lane: each runs again on
    # a new spawner. Put back too often (here: never allowed), a copy fails saying why.
    monkeypatch.setattr(frame_pools, "REQUEUE_LIMIT", requeues)
    plan = compile_pool(tmp_path, "echo ${item} >> ran; touch started; sleep 0.1", 10)
    with spawner_killed_once(tmp_path / "started"):
        outcome, events, _ = run_plan(plan, executor="local", jobs=2)
    if not requeues:
        assert outcome.status is RunStatus.FAILED
        failed = [e for e in events if e["event"] == "node_finished"
                  and e.get("status") == "failed"]
        assert failed and all("starting commands died" in e["message"] for e in failed)
        return
    assert outcome.status is RunStatus.SUCCEEDED
    ran = (tmp_path / "ran").read_text().split()
    assert sorted(set(ran) - {"after"}) == sorted(f"i{n}" for n in range(10))
    assert len(ran) <= 12  # at most the one running when it died ran twice
    assert said(events)[1] == set()


@pytest.mark.parametrize("secret", [False, True], ids=["worker", "masked"])
def test_a_pool_run_by_workers_or_masked_keeps_its_limit(
        run_plan: Any, tmp_path: Path, lanes_opened: list[Any], secret: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A captured output makes the copies pool workers' tasks (the driver holds their lane);
    # a secret to mask keeps every output for the driver: no lane at all, the scheduler alone
    # keeps `parallel`.
    command = "mkdir lock || exit 9; sleep 0.02; echo ${item} >> ran; rmdir lock"
    plan = compile_pool(tmp_path, command, 6, options="          capture: said\n")
    if secret:
        monkeypatch.setenv("POOL_TOKEN", "hunter2")
        (tmp_path / "wf.yml").write_text((tmp_path / "wf.yml").read_text()
                                         + "secrets:\n  TOKEN: POOL_TOKEN\n")
        from prodigy.compiler.pipeline import compile_file

        plan = compile_file(str(tmp_path / "wf.yml"))
    outcome, events, _ = run_plan(plan, executor="local", jobs=3)
    assert outcome.status is RunStatus.SUCCEEDED
    assert bool(lanes_opened) is not secret
    assert said(events) == (1, set())


def test_a_pool_in_a_sub_plan_is_held_by_the_scheduler(run_plan: Any, tmp_path: Path,
                                                      lanes_opened: list[Any]) -> None:
    # A sub-plan's frames come and go an item at a time: their pools get no lane (one each
    # would pile up in the executor), and the limit still holds.
    from prodigy.compiler.pipeline import compile_file

    (tmp_path / "wf.yml").write_text("""\
name: nested
commands:
  - foreach:
      foreach: "printf 'a\\\\nb\\\\n'"
      do:
        - foreach:
            foreach: [x, y, z]
            do:
              - shell: "mkdir lock || exit 9; sleep 0.02; echo ${item} >> ran; rmdir lock"
""")
    plan = compile_file(str(tmp_path / "wf.yml"))
    assert plan.node("main.0").kind == "foreach"
    body = plan.subplans["main.0.do"]
    assert any(n.params.pool for n in body.nodes)
    outcome, _, _ = run_plan(plan, executor="local", jobs=3)
    assert outcome.status is RunStatus.SUCCEEDED and not lanes_opened
    assert (tmp_path / "ran").read_text().split() == ["x", "y", "z"] * 2


def test_a_pool_on_dask_keeps_its_limit(run_plan: Any, tmp_path: Path,
                                        lanes_opened: list[Any]) -> None:
    # Dask has no lanes: the scheduler alone holds `parallel`, with three workers free.
    pytest.importorskip("distributed")
    command = "mkdir lock || exit 9; sleep 0.05; echo ${item} >> ran; rmdir lock"
    outcome, events, _ = run_plan(compile_pool(tmp_path, command, 6), executor="dask", jobs=3)
    assert outcome.status is RunStatus.SUCCEEDED and not lanes_opened
    assert sorted((tmp_path / "ran").read_text().split()) == sorted(
        [f"i{n}" for n in range(6)] + ["after"])
    assert said(events) == (1, set())
