"""Damaged or unusable run state is exit 2 with a message naming the file, never a traceback
(issue 18, items 6 and 8); one damaged run never hides the others."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from prodigy.cli.main import main
from prodigy.runtime.errors import CheckpointError
from prodigy.runtime.store import CheckpointStore, DlqPut, StateDir, StoreLost

WORKFLOW = "name: w\ncommands:\n  - shell: echo abc123\n    capture: v\n" \
           "  - shell: test \"${v}\" = abc123\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRODIGY_STATE_DIR", raising=False)
    (tmp_path / "w.yml").write_text(WORKFLOW)
    return tmp_path


def _run(project: Path, run_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "w.yml", "--run-id", run_id]) == 0  # string capture: `abc123`, no \n
    capsys.readouterr()


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


@pytest.mark.e2e
def test_a_truncated_run_record_is_named_and_hides_no_other_run(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(project, "good", capsys)
    _run(project, "bad", capsys)
    record = project / ".prodigy" / "runs" / "bad" / "run.json"
    record.write_text('{"run_id": "ba')
    code, out, err = _cli(["runs", "list"], capsys)
    assert code == 2
    assert "good" in out and str(record) in err
    code, _, err = _cli(["runs", "show", "bad"], capsys)
    assert code == 2 and str(record) in err


@pytest.mark.e2e
def test_an_emptied_store_is_reported_not_taken_for_empty(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(project, "r", capsys)
    (project / ".prodigy" / "cache" / "cache.db").write_bytes(b"")
    for argv in (["dlq", "list", "r"], ["runs", "show", "r"]):
        code, _, err = _cli(argv, capsys)
        assert code == 2, argv
        assert "holds no records of run r" in err and "restore" in err


def test_a_resume_with_lost_records_stops_instead_of_rerunning(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "cache")
    store.open_run("r", resuming=False)
    store.open_run("r", resuming=True)  # found: goes on
    with pytest.raises(StoreLost, match="every finished step would run again"):
        store.open_run("other", resuming=True)
    store.close()


@pytest.mark.e2e
def test_a_lock_that_is_a_directory_and_a_state_dir_that_is_a_file(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".prodigy" / "runs" / "r" / "lock").mkdir(parents=True)
    code, _, err = _cli(["run", "w.yml", "--run-id", "r"], capsys)
    assert code == 2 and "runs/r/lock: Is a directory" in err
    (project / "afile").write_text("")
    code, _, err = _cli(["run", "w.yml", "--state-dir", "afile"], capsys)
    assert code == 2 and "afile" in err and "Not a directory" in err


@pytest.mark.e2e
def test_invalid_utf8_in_the_event_log_is_named(project: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _run(project, "r", capsys)
    events = project / ".prodigy" / "runs" / "r" / "events.jsonl"
    with events.open("ab") as handle:
        handle.write(b'{"event": "\xff"}\n')
    for argv in (["events", "r"], ["runs", "show", "r"]):
        code, _, err = _cli(argv, capsys)
        assert code == 2 and str(events) in err and "not UTF-8" in err


def test_damaged_node_and_dlq_records_are_checkpoint_errors(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "cache")
    store.write("r", [DlqPut("map", 3, {"item_id": "item-3"})])
    store.cache.set("node\x1fr\x1fn1", "{not json")
    store.cache.set("dlq\x1fr\x1fmap\x1f3", "[1, 2]")
    with pytest.raises(CheckpointError, match="node 'n1' of run r is damaged"):
        store.get("r", "n1")
    with pytest.raises(CheckpointError, match="a node record of run r is damaged"):
        store.load("r", ["n1"])
    with pytest.raises(CheckpointError, match="DLQ entry 3 of 'map' of run r is damaged"):
        store.dlq_entries("r")
    store.close()


def test_a_full_disk_while_writing_is_a_checkpoint_error(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store = CheckpointStore(tmp_path / "cache")

    def full(*_: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "_commit", full)
    with pytest.raises(CheckpointError, match=r"cannot write the checkpoint store .*disk is full"):
        store.write("r", [DlqPut("map", 0, {})])
    store.close()
    state = StateDir(tmp_path / "state")

    def no_space(*_: object, **__: object) -> None:
        raise OSError(28, os.strerror(28))

    monkeypatch.setattr("prodigy.runtime.store.atomic_write", no_space)
    from prodigy.runtime.store import RunRecord, RunStatus

    with pytest.raises(CheckpointError, match=r"run\.json: No space left on device"):
        state.write_run(RunRecord("r", RunStatus.RUNNING, "w", "w.yml", ".", 0, 0, 1))
