"""Spawning: process groups, timeouts that leave no survivor, logs streamed as they arrive."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from prodigy.runtime.executors import process
from prodigy.runtime.executors.process import run_command
from prodigy.runtime.masking import Masker

from .conftest import TERM_IGNORING_CHILD, UNTIL_GO

# Real processes, signals and pipes: `make unit` leaves them to `make test`.
pytestmark = pytest.mark.process


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.fixture(autouse=True)
def short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "KILL_GRACE_S", 0.5)


def run(tmp_path: Path, command: str, **kwargs: object) -> process.ProcessResult:
    return run_command(["sh", "-c", command], env=dict(os.environ), cwd=str(tmp_path),
                       log_path=tmp_path / "node.log", masker=kwargs.pop("masker", Masker()),
                       **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("masked", [False, True], ids=["direct", "piped"])
def test_timeout_kills_the_whole_group_including_a_term_ignoring_grandchild(
        tmp_path: Path, masked: bool) -> None:
    grandchild = TERM_IGNORING_CHILD
    started = time.monotonic()
    result = run(tmp_path, f"{grandchild} & sleep 60", timeout=1.0,
                 masker=Masker(["unused-secret"]) if masked else Masker())
    assert result.timed_out and result.exit_code < 0
    assert time.monotonic() - started < 10
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 2
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "the TERM-ignoring grandchild survived its step"
    assert "timed out after 1 seconds" in (tmp_path / "node.log").read_text()


def test_log_is_written_while_the_command_runs(tmp_path: Path) -> None:
    seen: list[str] = []
    thread = threading.Thread(target=lambda: seen.append(
        run(tmp_path, f"echo first; {UNTIL_GO}; echo second", timeout=20).stdout))
    thread.start()
    log = tmp_path / "node.log"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "first" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.05)
    assert "first" in log.read_text() and "second" not in log.read_text()
    (tmp_path / "go").touch()
    thread.join()
    assert "second" in log.read_text()


def test_piped_streams_are_separated_masked_and_only_tails_kept(tmp_path: Path) -> None:
    masker = Masker(["hunter2!"])
    size = process.TAIL_BYTES * 2
    big = f"head -c {size} /dev/zero | tr '\\0' x"
    result = run(tmp_path, f"echo out hunter2!; echo err hunter2! >&2; {big}",
                 masker=masker, split_streams=True)
    assert result.exit_code == 0
    assert "hunter2!" not in (tmp_path / "node.log").read_text()
    assert result.stderr == "err ***\n"
    assert len(result.stdout) == process.TAIL_BYTES  # a tail, not the whole output
    full = run(tmp_path, big, capture_stdout=True)
    assert full.stdout == "x" * size


def test_exit_codes_signals_and_a_missing_program(tmp_path: Path) -> None:
    assert run(tmp_path, "exit 3").exit_code == 3
    assert run(tmp_path, "kill -TERM $$").exit_code == -15
    missing = run_command(["/no/such/program"], env={}, cwd=str(tmp_path), timeout=None,
                          log_path=tmp_path / "m.log", masker=Masker())
    assert missing.exit_code == 127 and "cannot start" in missing.error


def test_a_background_child_holding_the_pipe_does_not_hang_the_step(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run(tmp_path, "sleep 30 & echo started", split_streams=True)
    assert result.exit_code == 0 and "started" in result.stdout
    assert time.monotonic() - started < 5
