"""The `local` executor's direct path: shell nodes the spawner process starts (posix_spawn, or
Popen when the step runs in another directory), reaped by pidfd, output straight to the log."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from prodigy.runtime.executors import spawn
from prodigy.runtime.executors.pool import LocalExecutor
from prodigy.runtime.masking import Masker
from prodigy.runtime.ops import OPS, Task

from .conftest import TERM_IGNORING_CHILD, UNTIL_GO

# Real processes, signals and pipes: `make unit` leaves them to `make test`.
pytestmark = [pytest.mark.process,
              pytest.mark.skipif(not spawn.direct_spawn_available(), reason="no pidfd_open")]


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    made = LocalExecutor(jobs=2)
    yield made
    made.shutdown()


def task(where: Path, command: str, node: str = "n", env: dict[str, str] | None = None,
         masker: Masker | None = None, **inputs: object) -> Task:
    return Task("r1", node, "shell", f"shell: {command}", 1,
                {"command": command, "shell": "sh", "timeout": None, **inputs},
                {"PRODIGY_RUN_ID": "r1", **(env or {})}, str(where),
                str(where.parent / "logs" / f"{node}.log"), masker or Masker())


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def pid_from(path: Path, executor: LocalExecutor) -> int:
    """The pid a command writes to `path`, once it has (driving the executor meanwhile)."""
    deadline = time.monotonic() + 20
    while not path.exists() or not path.read_text().strip():
        assert time.monotonic() < deadline, f"{path} never got a pid"
        executor.poll()
        time.sleep(0.02)
    return int(path.read_text())


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_plain_shell_node_is_a_command_unless_someone_reads_or_masks_it(where: Path) -> None:
    command = OPS["shell"].command
    assert command is not None
    assert command(task(where, "true")) is not None
    assert command(task(where, "true", masker=Masker(["s3cret-value"]))) is None
    assert command(task(where, "true", capture="x")) is None
    assert command(task(where, "true", output_file="out.txt")) is None
    assert command(task(where, "true", commit_required=True)) is None
    from dataclasses import replace

    assert command(replace(task(where, "true"), read_output=True)) is None


def test_runs_in_the_driver_with_output_in_the_log_and_its_tail_in_the_result(
        where: Path, executor: LocalExecutor) -> None:
    result = executor.submit(task(where, "echo out; echo err >&2; pwd; echo $PPID; exit 3",
                                  env={"GREETING": "hi"})).result(timeout=30)
    assert not result.ok and result.exit_code == 3 and result.message == "exit code 3"
    lines = result.output.splitlines()
    assert lines[:3] == ["out", "err", str(where)]
    parent = int(lines[3])  # the spawner, a child of the driver (not a pool worker)
    assert parent != os.getpid() and parent_of(parent) == os.getpid()
    assert b"prodigy.runtime.executors.spawner" in Path(f"/proc/{parent}/cmdline").read_bytes()
    assert not executor._workers, "a plain shell node must not start the pool"
    assert result.variables["shell.exit_code"] == 3
    assert result.variables["shell.output"] == result.output
    log = (where.parent / "logs" / "n.log").read_text()
    assert log.startswith("$ echo out;") and "out\nerr\n" in log


def test_the_environment_overlay_wins_and_clear_env_clears(where: Path,
                                                           executor: LocalExecutor,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setenv("FROM_DRIVER", "driver")
    monkeypatch.setenv("OVERRIDDEN", "driver")
    fresh = LocalExecutor(jobs=1)  # the driver's environment is read when the run starts
    try:
        shown = fresh.submit(task(where, "echo $FROM_DRIVER $OVERRIDDEN",
                                  env={"OVERRIDDEN": "step"})).result(timeout=30)
        cleared = fresh.submit(task(where, "echo x${FROM_DRIVER}x", clear_env=True,
                                    env={"PATH": os.environ["PATH"]})).result(timeout=30)
    finally:
        fresh.shutdown()
    assert shown.output == "driver step\n"
    assert cleared.output == "xx\n"


def test_timeout_kills_the_whole_group_including_a_term_ignoring_grandchild(
        where: Path, executor: LocalExecutor) -> None:
    grandchild = TERM_IGNORING_CHILD
    started = time.monotonic()
    future = executor.submit(task(where, f"{grandchild} & sleep 60", timeout=1.0))
    result = future.result(timeout=30)
    assert result.timed_out and not result.ok and result.exit_code == -1
    assert result.message == "timed out after 1 seconds"
    assert time.monotonic() - started < 10
    assert not alive(int((where / "pid").read_text())), "the grandchild survived its step"
    assert "timed out after 1 seconds" in (where.parent / "logs" / "n.log").read_text()


def test_a_missing_shell_is_a_failed_node(where: Path, executor: LocalExecutor) -> None:
    result = executor.submit(task(where, "true", shell="no-such-shell-here")).result(timeout=30)
    assert not result.ok and result.exit_code == 127
    assert "cannot start" in result.message


def test_slots_are_shared_with_pool_tasks_and_started_in_order(where: Path) -> None:
    executor = LocalExecutor(jobs=1)
    try:
        first = executor.submit(task(where, "sleep 0.3; echo a >> order", node="a"))
        pooled = executor.submit(task(where, "echo b >> order", node="b", capture="x"))
        third = executor.submit(task(where, "echo c >> order", node="c"))
        assert all(f.result(timeout=60).ok for f in (first, pooled, third))
    finally:
        executor.shutdown()
    assert (where / "order").read_text() == "a\nb\nc\n"  # one slot: never two at once


def test_stop_queued_drops_direct_tasks_that_did_not_start(where: Path,
                                                           executor: LocalExecutor) -> None:
    from concurrent.futures import CancelledError

    running = [executor.submit(task(where, f"touch started{i}; sleep 0.3", node=f"r{i}"))
               for i in range(2)]
    queued = executor.submit(task(where, "touch ran", node="q"))
    deadline = time.monotonic() + 20  # the spawner starts them on its own time
    while not all((where / f"started{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline
        executor.poll()
        time.sleep(0.01)
    executor.stop_queued()
    assert all(f.result(timeout=30).ok for f in running)
    with pytest.raises(CancelledError):
        queued.result(timeout=30)
    assert not (where / "ran").exists()


def test_commands_get_default_signal_dispositions(where: Path, executor: LocalExecutor) -> None:
    # Python ignores SIGPIPE; a command must not inherit that (`yes | head` would never end).
    result = executor.submit(task(where, "yes | head -n 1; grep -E '^SigIgn' /proc/self/status")
                             ).result(timeout=30)
    assert result.ok and result.output.startswith("y\n")
    ignored = int(result.output.split()[-1], 16)
    assert not ignored & (1 << (13 - 1)), "SIGPIPE is ignored in the command"


def test_the_spawner_stops_its_commands_when_the_driver_goes(where: Path) -> None:
    executor = LocalExecutor(jobs=1)
    executor.submit(task(where, "echo $$ > pid; exec sleep 60"))
    command = pid_from(where / "pid", executor)
    assert alive(command)
    executor._spawner.close()  # what a SIGKILLed driver leaves: the spawner's input ends
    assert not alive(command), "the command outlived the driver's end"
    executor.shutdown()


def test_many_environment_overlays_are_forgotten_as_they_age(where: Path,
                                                             executor: LocalExecutor) -> None:
    futures = [executor.submit(task(where, "echo $N", node=f"n{i}", env={"N": str(i)}))
               for i in range(spawn.KEPT_ENVS + 10)]
    outputs = [f.result(timeout=60).output for f in futures]
    assert outputs == [f"{i}\n" for i in range(spawn.KEPT_ENVS + 10)]
    assert len(executor._spawner._envs) == spawn.KEPT_ENVS


def test_a_log_exists_once_there_is_output_or_a_failure(where: Path,
                                                        executor: LocalExecutor) -> None:
    logs = where.parent / "logs"
    quiet = executor.submit(task(where, "true", node="quiet"))
    loud = executor.submit(task(where, "echo hello", node="loud"))
    failed = executor.submit(task(where, "exit 4", node="failed"))
    assert quiet.result(timeout=30).ok and loud.result(timeout=30).ok
    assert failed.result(timeout=30).exit_code == 4
    assert not (logs / "quiet.log").exists(), "a silent step that succeeded needs no log"
    assert (logs / "loud.log").read_text() == "$ echo hello\nhello\n"
    assert (logs / "failed.log").read_text() == "$ exit 4\n"


def test_output_reaches_the_log_while_the_command_runs(where: Path,
                                                       executor: LocalExecutor) -> None:
    future = executor.submit(task(where, f"echo first; {UNTIL_GO}; echo second", node="s"))
    log = where.parent / "logs" / "s.log"
    deadline = time.monotonic() + 20
    while not (log.exists() and "first" in log.read_text()):
        assert time.monotonic() < deadline and not future.done()
        executor.poll()
        time.sleep(0.02)
    assert not future.done()
    (where / "go").touch()
    assert future.result(timeout=30).output == "first\nsecond\n"


def test_a_background_child_keeps_writing_to_the_log_after_its_step(
        where: Path, executor: LocalExecutor) -> None:
    result = executor.submit(task(where, "(sleep 0.5; echo late) & echo early", node="b")
                             ).result(timeout=30)
    assert result.ok and result.output == "early\n"  # the step ended: its result is in
    log = where.parent / "logs" / "b.log"
    deadline = time.monotonic() + 20
    while not log.read_text().endswith("late\n"):  # the spawner copies it in as it comes
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert log.read_text() == "$ (sleep 0.5; echo late) & echo early\nearly\nlate\n"


def test_a_dead_spawner_fails_its_commands_and_the_next_one_starts_a_new_one(
        where: Path, executor: LocalExecutor) -> None:
    import signal

    shared_env = {"PRODIGY_RUN_ID": "r1", "WHO": "again"}  # one overlay, as steps share it
    doomed = executor.submit(replace(task(where, "(sleep 30; echo late > late) & echo $! > bg;"
                                                 " sleep 30", node="doomed"), env=shared_env))
    background = pid_from(where / "bg", executor)
    spawner = executor._spawner._proc
    assert spawner is not None
    os.kill(spawner.pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match="starting commands died"):
        doomed.result(timeout=30)
    assert not alive(background), "the dead spawner's commands are stopped, children too"
    # Each waits (up to 5 s) to see the other started: they only both finish if they ran at
    # once, i.e. the new spawner was given both slots.
    wait_other = ("touch s{me}; for k in $(seq 100); do [ -e s{other} ] && break; sleep 0.05;"
                  " done; [ -e s{other} ] && echo $WHO {me}")
    after = [executor.submit(replace(task(where, wait_other.format(me=i, other=1 - i),
                                          node=f"a{i}"), env=shared_env)) for i in range(2)]
    assert [f.result(timeout=30).output for f in after] == ["again 0\n", "again 1\n"]
    assert executor._spawner._proc is not None and executor._spawner._proc.pid != spawner.pid


def test_output_larger_than_the_pipe_comes_whole_from_a_short_command(
        where: Path, executor: LocalExecutor) -> None:
    # The spawner reads a young command's pipe only when it ends (or once it has run a
    # while): one that fills the pipe first must still finish, with every byte in its log.
    command = ("i=0; while [ $i -lt 4000 ]; do echo line-$i-padding-padding-padding;"
               " i=$((i+1)); done")
    results = [executor.submit(task(where, command, node=f"big{n}")) for n in range(3)]
    for n, future in enumerate(results):
        result = future.result(timeout=60)
        assert result.ok
        body = (where.parent / "logs" / f"big{n}.log").read_text().splitlines()[1:]
        assert body == [f"line-{i}-padding-padding-padding" for i in range(4000)]
        assert result.output.endswith("line-3999-padding-padding-padding\n")


def test_warm_up_boots_the_spawner_only_for_kinds_it_may_start(where: Path) -> None:
    cold, warm = LocalExecutor(jobs=2), LocalExecutor(jobs=2)
    try:
        cold.warm_up({"write_file", "claude"})
        warm.warm_up({"write_file", "shell"})
        assert not cold._spawner.started
        assert warm._spawner.started
        spawner_pid = warm._spawner._proc.pid  # type: ignore[union-attr]
        assert warm.submit(task(where, "echo $PPID")).result(timeout=30).output == \
            f"{spawner_pid}\n", "the first command runs in the spawner booted ahead"
    finally:
        cold.shutdown()
        warm.shutdown()
