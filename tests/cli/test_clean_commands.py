"""`prodigy clean` and `checkpoints list|show|clean`, over a state dir laid out by hand as the
runtime lays it out: run records, checkpoint, item and DLQ records, input groups."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from prodigy.cli.main import main
from prodigy.runtime.run_inputs import RunGroup, RunInput, group_dir, write_group
from prodigy.runtime.store import (
    CheckpointStore,
    DlqPut,
    ItemRecord,
    ItemStatus,
    NodeRecord,
    RecordStatus,
    RunRecord,
    RunStatus,
    StateDir,
)

DAY = 86400.0


def add_run(state: StateDir, run_id: str, status: RunStatus, *, ended_ago: float = 0.0,
            worktree: str = "") -> None:
    """A run record and its records: a node, a failed item and that item's DLQ entry."""
    now = time.time()
    finished = None if status is RunStatus.RUNNING else now - ended_ago
    state.write_run(RunRecord(run_id, status, "wf", "wf.yml", "/w", now - ended_ago - 1,
                              now, 1, finished_at=finished,
                              workspace={"worktree": worktree} if worktree else {}))
    store = CheckpointStore(state.cache_dir)
    try:
        store.open_run(run_id, resuming=False)  # the store's marker of the run, as a run leaves
        store.write(run_id, [
            NodeRecord("map", "k" * 64, "f" * 64, {}, RecordStatus.DONE),
            ItemRecord("map", 0, "i" * 64, ItemStatus.FAILED),
            DlqPut("map", 0, {"item_id": "item_0", "error": "boom"})])
    finally:
        store.close()


def records_of(state: StateDir, run_id: str) -> list[str]:
    store = CheckpointStore(state.cache_dir)
    try:
        return sorted(k for k in store if isinstance(k, str) and f"\x1f{run_id}" in k)
    finally:
        store.close()


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    return StateDir(tmp_path / "state")


def clean(state: StateDir, *args: str) -> int:
    return main(["clean", "--state-dir", str(state.root), *args])


def test_finished_runs_go_with_their_records_and_dlq_a_live_one_stays(
        state: StateDir, capsys: pytest.CaptureFixture[str]) -> None:
    add_run(state, "ok", RunStatus.SUCCEEDED)
    add_run(state, "bad", RunStatus.FAILED)
    add_run(state, "died", RunStatus.RUNNING)  # no lock held: its driver is gone
    add_run(state, "live", RunStatus.RUNNING)
    holder = StateDir(state.root)
    holder.lock("live")
    (state.root / "exec").mkdir()
    (state.root / "exec" / "ok.yml").write_text("name: exec\n")
    assert len(records_of(state, "ok")) == 6  # node, item, entry, shard, meta, run marker
    try:
        assert clean(state) == 0
    finally:
        holder.unlock()
    out = capsys.readouterr()
    assert sorted(line.split()[1] for line in out.out.splitlines()) == ["bad", "died", "ok"]
    assert "removed 3 runs" in out.err
    assert [r.run_id for r in state.list_runs()] == ["live"]
    assert records_of(state, "ok") == records_of(state, "bad") == records_of(state, "died") == []
    assert len(records_of(state, "live")) == 6  # another run's records are untouched
    assert not (state.root / "exec" / "ok.yml").exists()
    store = CheckpointStore(state.cache_dir)
    try:
        assert store.dlq_entries("ok") == [] and store.check() == []
        assert store.dlq_entries("live") == [{"item_id": "item_0", "error": "boom"}]
    finally:
        store.close()


def test_dry_run_lists_and_older_than_picks_by_end_time(
        state: StateDir, capsys: pytest.CaptureFixture[str]) -> None:
    add_run(state, "old", RunStatus.SUCCEEDED, ended_ago=8 * DAY)
    add_run(state, "new", RunStatus.FAILED, ended_ago=DAY)
    assert clean(state, "--older-than", "7d", "--dry-run", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["dry_run"] is True
    assert [r["run_id"] for r in listed["runs"]] == ["old"]
    assert listed["runs"][0]["records"] == 0  # nothing deleted yet
    assert {r.run_id for r in state.list_runs()} == {"old", "new"}
    assert len(records_of(state, "old")) == 6

    assert clean(state, "--older-than", "7d") == 0
    assert [r.run_id for r in state.list_runs()] == ["new"]
    assert clean(state, "--older-than", "12h") == 0
    assert state.list_runs() == []


def test_a_bad_duration_is_a_diagnostic(state: StateDir,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert clean(state, "--older-than", "7 days") == 2
    err = capsys.readouterr().err
    assert "error[P501]" in err and "30m, 12h, 7d" in err and "Traceback" not in err


def test_groups_go_when_no_run_of_theirs_is_left(state: StateDir) -> None:
    inputs = [RunInput(1, 2, "a"), RunInput(2, 2, "b")]
    write_group(state, RunGroup("g", "wf.yml", "/w", inputs), ["{}", "{}"])
    write_group(state, RunGroup("h", "wf.yml", "/w", inputs), ["{}", "{}"])
    add_run(state, "g-1", RunStatus.SUCCEEDED)  # g-2 never started
    add_run(state, "h-1", RunStatus.SUCCEEDED)
    add_run(state, "h-2", RunStatus.RUNNING)
    holder = StateDir(state.root)
    holder.lock("h-2")
    try:
        assert clean(state) == 0
    finally:
        holder.unlock()
    assert not group_dir(state, "g").exists()
    assert group_dir(state, "h").is_dir()  # its second input is still running
    assert [r.run_id for r in state.list_runs()] == ["h-2"]


def test_a_removed_runs_worktree_is_named_not_touched(
        state: StateDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "wt"
    tree.mkdir()
    add_run(state, "wt-run", RunStatus.SUCCEEDED, worktree=str(tree))
    assert clean(state) == 0
    out = capsys.readouterr().out
    assert f"its worktree {tree} stays: `prodigy worktree clean wt-run` removes it" in out
    assert tree.is_dir() and state.list_runs() == []


def test_checkpoints_are_runs_and_clean_by_upstreams_name(
        state: StateDir, capsys: pytest.CaptureFixture[str]) -> None:
    add_run(state, "r1", RunStatus.SUCCEEDED)
    where = ["--state-dir", str(state.root)]
    for alias, runs in ((["checkpoints", "list"], ["runs", "list"]),
                        (["checkpoints", "ls"], ["runs"]),
                        (["checkpoints", "show", "r1", "--json"],
                         ["runs", "show", "r1", "--json"])):
        assert main([*alias, *where]) == 0
        ours = capsys.readouterr().out
        assert main([*runs, *where]) == 0
        assert ours == capsys.readouterr().out and "r1" in ours
    assert main(["checkpoints", "show", "nope", *where]) == 2
    assert main(["checkpoints", "clean", "--dry-run", *where]) == 0
    assert "would remove r1" in capsys.readouterr().out
    assert main(["checkpoints", "clean", *where]) == 0
    assert state.list_runs() == []


def test_an_unreadable_run_record_stops_clean_before_anything_goes(
        state: StateDir, capsys: pytest.CaptureFixture[str]) -> None:
    add_run(state, "ok", RunStatus.SUCCEEDED)
    (state.run_dir("torn")).mkdir(parents=True)
    (state.run_dir("torn") / "run.json").write_text("{")
    assert clean(state) == 2
    err = capsys.readouterr().err
    assert "error[P501]" in err and "torn/run.json is damaged" in err
    assert len(records_of(state, "ok")) == 6 and state.read_run("ok") is not None
