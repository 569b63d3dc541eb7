"""A command that cannot start names the culprit: a missing working_dir fails exactly as a
missing program does (ENOENT), and is reported as the directory, through either executor
path (`run_command` and the spawner), never as "cannot start 'sh'"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prodigy.runtime.executors import spawn
from prodigy.runtime.executors.pool import LocalExecutor
from prodigy.runtime.executors.process import run_command
from prodigy.runtime.executors.spawner import start_failure
from prodigy.runtime.masking import Masker

from .test_spawn import task


def test_the_directory_is_told_from_the_program() -> None:
    gone = FileNotFoundError(2, "No such file or directory", "/w/gone")
    assert start_failure("sh", "/w/gone", gone) == "working_dir /w/gone does not exist"
    missing = FileNotFoundError(2, "No such file or directory", "nosuchprog")
    assert start_failure("nosuchprog", "/w/gone", missing) == (
        "cannot start 'nosuchprog': No such file or directory")
    afile = NotADirectoryError(20, "Not a directory", "/w/f")
    assert start_failure("sh", "/w/f", afile) == "working_dir /w/f is not a directory"


@pytest.mark.process
def test_run_command_names_a_missing_directory(tmp_path: Path) -> None:
    result = run_command(["sh", "-c", "true"], env={"PATH": "/usr/bin:/bin"},
                         cwd=str(tmp_path / "gone"), log_path=tmp_path / "n.log",
                         masker=Masker())
    assert result.exit_code == 127
    assert result.error == f"working_dir {tmp_path / 'gone'} does not exist"
    assert "cannot start" not in (tmp_path / "n.log").read_text()


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    made = LocalExecutor(jobs=2)
    yield made
    made.shutdown()


@pytest.mark.process
@pytest.mark.skipif(not spawn.direct_spawn_available(), reason="no pidfd_open")
def test_the_spawner_names_a_missing_directory(tmp_path: Path, executor: LocalExecutor,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    failed = executor.submit(task(tmp_path / "gone", "true")).result(timeout=30)
    assert failed.exit_code == 127
    assert failed.message == f"working_dir {tmp_path / 'gone'} does not exist"
    program = executor.submit(task(tmp_path, "true", node="p", shell="nosuchshell"))
    assert "cannot start 'nosuchshell'" in program.result(timeout=30).message
