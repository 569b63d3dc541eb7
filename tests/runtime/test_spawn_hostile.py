"""No task can take the spawner down for the others: an environment no process can be given
(`A=B`, an empty name, a NUL) fails that task alone, as a command that could not start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prodigy.runtime.executors import spawn
from prodigy.runtime.executors.pool import LocalExecutor

from .test_spawn import task

pytestmark = [pytest.mark.process,
              pytest.mark.skipif(not spawn.direct_spawn_available(), reason="no pidfd_open")]


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    made = LocalExecutor(jobs=4)
    yield made
    made.shutdown()


BAD = {"equals": ({"A=B": "1"}, "'A=B'"), "empty": ({"": "1"}, "''"),
       "nul_name": ({"A\0B": "1"}, "name"), "nul_value": ({"OK": "a\0b"}, "null"),
       "surrogate": ({"OK": "\ud800"}, "environment")}


@pytest.mark.parametrize("bad", sorted(BAD))
def test_a_bad_environment_fails_its_task_alone(where: Path, executor: LocalExecutor,
                                                bad: str) -> None:
    env, named = BAD[bad]
    running = executor.submit(task(where, "sleep 0.3; echo before", node="running"))
    hostile = executor.submit(task(where, "touch ran", node="hostile", env=env))
    beside = executor.submit(task(where, "echo beside", node="beside"))
    failed = hostile.result(timeout=30)
    assert not failed.ok and failed.exit_code == 127
    assert "cannot start" in failed.message and named in failed.message
    assert not (where / "ran").exists()
    assert running.result(timeout=30).output == "before\n"
    assert beside.result(timeout=30).output == "beside\n"
    after = executor.submit(task(where, "echo after", node="after")).result(timeout=30)
    assert after.ok and after.output == "after\n"
