"""Executor contract: every executor runs a task somewhere and hands back plain results."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from prodigy.runtime.executors import ExecutorUnavailable, make_executor, run_task
from prodigy.runtime.masking import Masker
from prodigy.runtime.ops import NodeResult, Task

EXECUTORS = ["inline", "local"]


def task(tmp_path: Path, command: str, node: str = "n", **inputs: object) -> Task:
    return Task("r1", node, "shell", f"shell: {command}", 1,
                {"command": command, "shell": "sh", "timeout": None, **inputs},
                {"PRODIGY_RUN_ID": "r1", "GREETING": "hi"}, str(tmp_path),
                str(tmp_path / f"{node}.log"), Masker(["topsecret"]))


@pytest.mark.parametrize("name", EXECUTORS)
def test_runs_tasks_and_returns_plain_results(tmp_path: Path, name: str) -> None:
    executor = make_executor(name, jobs=2)
    futures = [executor.submit(task(tmp_path, f"echo $GREETING {i}; exit {i % 2}", node=f"n{i}",
                                    capture="out"))
               for i in range(4)]
    results = [f.result(timeout=30) for f in futures]
    executor.shutdown()
    assert [r.ok for r in results] == [True, False, True, False]
    assert [r.exit_code for r in results] == [0, 1, 0, 1]
    assert results[2].variables["out"] == "hi 2\n"
    assert results[1].message == "exit code 1"
    for result in results:
        assert pickle.loads(pickle.dumps(result)) == result
    assert (tmp_path / "n3.log").read_text().startswith("$ echo $GREETING 3")


@pytest.mark.parametrize("name", EXECUTORS)
def test_secrets_are_masked_in_what_comes_back(tmp_path: Path, name: str) -> None:
    executor = make_executor(name, jobs=1)
    result = executor.submit(task(tmp_path, "echo topsecret; echo topsecret >&2; exit 1",
                                  capture="x")).result(timeout=30)
    assert "topsecret" not in repr(result)
    assert "topsecret" not in (tmp_path / "n.log").read_text()


@pytest.mark.parametrize("name", EXECUTORS)
def test_a_crashing_op_is_a_failed_result_not_an_exception(tmp_path: Path, name: str) -> None:
    broken = Task("r1", "n", "shell", "x", 1, {}, {}, str(tmp_path), str(tmp_path / "n.log"),
                  Masker())
    result = make_executor(name, jobs=1).submit(broken).result(timeout=30)
    assert isinstance(result, NodeResult) and not result.ok
    assert "internal error" in result.message
    assert "this is a bug" in (tmp_path / "n.log").read_text()


def test_local_workers_are_other_processes(tmp_path: Path) -> None:
    local = make_executor("local", jobs=1).submit(task(tmp_path, "echo $PPID", capture="p"))
    inline = run_task(task(tmp_path, "echo $PPID", capture="p"))
    assert local.result(timeout=30).variables["p"] != inline.variables["p"]
    assert inline.variables["p"].strip() == str(os.getpid())


def test_dask_says_what_to_install() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("dask is installed here")
    with pytest.raises(ExecutorUnavailable, match=r"prodigy-workflows\[dask\]"):
        make_executor("dask", jobs=1)
