"""Executor contract: every executor runs a task somewhere and hands back plain results."""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prodigy.runtime.executors import Executor, ExecutorUnavailable, make_executor, run_task
from prodigy.runtime.masking import Masker
from prodigy.runtime.ops import NodeResult, Task

# Real processes, signals and pipes: `make unit` leaves them to `make test`.
pytestmark = pytest.mark.process

EXECUTORS = ["inline", "local", "dask"]


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    """One real local Dask cluster (two worker processes) for the module: starting one takes
    seconds, connecting a client to it does not."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def executor(request: pytest.FixtureRequest) -> Iterator[Executor]:
    address = request.getfixturevalue("dask_scheduler") if request.param == "dask" else None
    made = make_executor(request.param, jobs=2, dask_scheduler=address)
    yield made
    made.shutdown()


def task(tmp_path: Path, command: str, node: str = "n", **inputs: object) -> Task:
    return Task("r1", node, "shell", f"shell: {command}", 1,
                {"command": command, "shell": "sh", "timeout": None, **inputs},
                {"PRODIGY_RUN_ID": "r1", "GREETING": "hi"}, str(tmp_path),
                str(tmp_path / f"{node}.log"), Masker(["topsecret"]))


@pytest.mark.parametrize("executor", EXECUTORS, indirect=True)
def test_runs_tasks_and_returns_plain_results(tmp_path: Path, executor: Executor) -> None:
    futures = [executor.submit(task(tmp_path, f"echo $GREETING {i}; exit {i % 2}", node=f"n{i}",
                                    capture="out"))
               for i in range(4)]
    results = [f.result(timeout=30) for f in futures]
    assert [r.ok for r in results] == [True, False, True, False]
    assert [r.exit_code for r in results] == [0, 1, 0, 1]
    assert results[2].variables["out"] == "hi 2"  # capture_format string: trailing newline dropped
    assert results[1].message == "exit code 1"
    for result in results:
        assert pickle.loads(pickle.dumps(result)) == result
    assert (tmp_path / "n3.log").read_text().startswith("$ echo $GREETING 3")


@pytest.mark.parametrize("executor", EXECUTORS, indirect=True)
def test_secrets_are_masked_in_what_comes_back(tmp_path: Path, executor: Executor) -> None:
    result = executor.submit(task(tmp_path, "echo topsecret; echo topsecret >&2; exit 1",
                                  capture="x")).result(timeout=30)
    assert "topsecret" not in repr(result)
    assert "topsecret" not in (tmp_path / "n.log").read_text()


@pytest.mark.parametrize("executor", EXECUTORS, indirect=True)
def test_a_crashing_op_is_a_failed_result_not_an_exception(tmp_path: Path,
                                                           executor: Executor) -> None:
    broken = Task("r1", "n", "shell", "x", 1, {}, {}, str(tmp_path), str(tmp_path / "n.log"),
                  Masker())
    result = executor.submit(broken).result(timeout=30)
    assert isinstance(result, NodeResult) and not result.ok
    assert "internal error" in result.message
    assert "this is a bug" in (tmp_path / "n.log").read_text()


@pytest.mark.parametrize("executor", ["local"], indirect=True)
def test_local_workers_are_other_processes(tmp_path: Path, executor: Executor) -> None:
    local = executor.submit(task(tmp_path, "echo $PPID", capture="p"))
    inline = run_task(task(tmp_path, "echo $PPID", capture="p"))
    assert local.result(timeout=30).variables["p"] != inline.variables["p"]
    assert inline.variables["p"].strip() == str(os.getpid())


@pytest.mark.parametrize("executor", ["local"], indirect=True)
def test_stop_queued_drops_tasks_that_did_not_start(tmp_path: Path, executor: Executor) -> None:
    from concurrent.futures import CancelledError

    first = [executor.submit(task(tmp_path, f"touch s{i}; sleep 0.5", node=f"a{i}"))
             for i in range(2)]
    deadline = time.monotonic() + 20
    while not ((tmp_path / "s0").exists() and (tmp_path / "s1").exists()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    queued = [executor.submit(task(tmp_path, "touch ran", node=f"b{i}")) for i in range(2)]
    executor.stop_queued()
    assert all(f.result(timeout=30).ok for f in first)
    for future in queued:
        with pytest.raises(CancelledError):
            future.result(timeout=30)
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("executor", ["local"], indirect=True)
def test_a_killed_worker_fails_its_tasks_and_the_pool_recovers(tmp_path: Path,
                                                                executor: Executor) -> None:
    victim = executor.submit(task(tmp_path, "kill -9 $PPID; sleep 5", node="victim"))
    with pytest.raises(RuntimeError, match="the pool worker running it died"):
        victim.result(timeout=30)
    again = executor.submit(task(tmp_path, "echo fine", node="after", capture="x"))
    assert again.result(timeout=60).variables["x"] == "fine"


@pytest.mark.parametrize("executor", ["dask"], indirect=True)
def test_dask_runs_tasks_in_its_worker_processes(tmp_path: Path, executor: Executor) -> None:
    futures = [executor.submit(task(tmp_path, "echo $PPID", node=f"n{i}", capture="p"))
               for i in range(4)]
    parents = {f.result(timeout=60).variables["p"].strip() for f in futures}
    assert str(os.getpid()) not in parents  # ran by the cluster's workers, not the driver
    assert executor.wait(futures, timeout=0) == set(futures)


def test_a_worker_task_queued_when_its_pool_died_runs_on_a_new_one(tmp_path: Path) -> None:
    executor = make_executor("local", jobs=1)
    try:
        victim = executor.submit(task(tmp_path, "kill -9 $PPID; sleep 5", node="victim",
                                      capture="x"))
        queued = executor.submit(task(tmp_path, "echo fine", node="queued", capture="x"))
        with pytest.raises(RuntimeError, match="the pool worker running it died"):
            victim.result(timeout=30)
        assert queued.result(timeout=60).variables["x"] == "fine"
    finally:
        executor.shutdown()


class _BrokenPool:
    """What loky can hand out just before it notices its worker was killed: a pool whose
    `submit` raises (the race behind a rare TerminatedWorkerError escaping `wait`)."""

    def submit(self, *args: object, **kwargs: object) -> None:
        from loky.process_executor import TerminatedWorkerError

        raise TerminatedWorkerError("A worker process managed by the executor was terminated")


def _refusing_pools(monkeypatch: pytest.MonkeyPatch, refusals: int,
                    resize_fails: bool = False) -> list[object]:
    """From now on the first `refusals` pools loky hands out refuse work (or, with
    `resize_fails`, asking for them fails as resizing a pool that lost a worker can); the
    reuse arguments of every request are recorded."""
    import loky

    real, asked = loky.get_reusable_executor, []

    def get(*args: object, **kwargs: object) -> object:
        asked.append(kwargs.get("reuse"))
        if len(asked) > refusals:
            return real(*args, **kwargs)
        if resize_fails:
            raise OSError("handle is closed")
        return _BrokenPool()

    monkeypatch.setattr(loky, "get_reusable_executor", get)
    return asked


@pytest.mark.parametrize("resize_fails", [False, True])
def test_a_pool_refusing_work_after_a_worker_died_is_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resize_fails: bool) -> None:
    executor = make_executor("local", jobs=1)
    try:
        victim = executor.submit(task(tmp_path, "kill -9 $PPID; sleep 5", node="victim",
                                      capture="x"))
        asked = _refusing_pools(monkeypatch, refusals=1, resize_fails=resize_fails)
        queued = executor.submit(task(tmp_path, "echo fine", node="queued", capture="x"))
        with pytest.raises(RuntimeError, match="the pool worker running it died"):
            victim.result(timeout=30)
        assert queued.result(timeout=60).variables["x"] == "fine"
        assert asked == ["auto", False]  # the broken pool, then a fresh one
    finally:
        executor.shutdown()


def test_no_usable_pool_fails_the_waiting_tasks_not_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executor = make_executor("local", jobs=1)
    try:
        victim = executor.submit(task(tmp_path, "kill -9 $PPID; sleep 5", node="victim",
                                      capture="x"))
        _refusing_pools(monkeypatch, refusals=2)
        queued = executor.submit(task(tmp_path, "echo fine", node="queued", capture="x"))
        with pytest.raises(RuntimeError, match="the pool worker running it died"):
            victim.result(timeout=30)
        with pytest.raises(ExecutorUnavailable, match="TerminatedWorkerError"):
            queued.result(timeout=60)
    finally:
        executor.shutdown()


def test_dask_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    with pytest.raises(ExecutorUnavailable, match=r"prodigy-workflows\[dask\]"):
        make_executor("dask", jobs=1)


@pytest.mark.parametrize("executor", ["local"], indirect=True)
def test_a_short_task_never_waits_behind_a_long_one(tmp_path: Path, executor: Executor) -> None:
    long = executor.submit(task(tmp_path, "while [ ! -f go ]; do sleep 0.02; done", node="long"))
    short = [executor.submit(task(tmp_path, "true", node=f"s{i}")) for i in range(3)]
    for future in short:  # all run on the other worker while `long` holds the first one
        assert future.result(timeout=30).ok
    assert not long.done()
    (tmp_path / "go").touch()
    assert long.result(timeout=30).ok


@pytest.mark.parametrize("executor", ["inline", "local"], indirect=True)
def test_undeclared_tokens_are_scrubbed_from_a_direct_log(tmp_path: Path,
                                                          executor: Executor) -> None:
    token = "AKIAIOSFODNN7EXAMPLE"
    plain = Task("r1", "n", "shell", "shell: leak", 1,
                 {"command": f"echo key={token}", "shell": "sh", "timeout": None},
                 {"PRODIGY_RUN_ID": "r1"}, str(tmp_path), str(tmp_path / "n.log"), Masker())
    result = executor.submit(plain).result(timeout=30)
    assert result.ok
    assert (tmp_path / "n.log").read_text().endswith("key=***\n")
