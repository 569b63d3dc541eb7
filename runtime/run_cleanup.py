"""`prodigy clean`: delete the state of runs that are over, and of input groups left empty.

A run is over when its record says succeeded or failed, or says running while no process holds
its lock (`StateDir.read_run` reports that as interrupted: its driver died). A live run is
never touched: each run is removed under its own lock, so one that a `prodigy resume` took up
since the survey is skipped, not pulled from under it. What goes: the run's checkpoint records
and DLQ (`CheckpointStore.forget`, first: a crash half-way leaves a run dir a second clean
finds, never records nothing points at), then its run dir, then the workflow files `exec` and
`batch` wrote for it in the state dir. Worktrees are not state-dir state: `prodigy worktree
clean` removes them, so a removed run's worktree is only named.

An input group (`run_inputs.py`) goes when none of its inputs' runs is left.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from prodigy.runtime.errors import CheckpointError
from prodigy.runtime.run_inputs import group_dir, list_groups
from prodigy.runtime.store import (
    CheckpointStore,
    RunRecord,
    RunStatus,
    StateDir,
    StateLocked,
)


@dataclass(frozen=True, slots=True)
class Cleaned:
    """A run removed (or, in a dry run, that would be)."""

    run_id: str
    status: str
    ended: float  # when it finished, or its last sign of life
    worktree: str  # its own worktree, while that directory is still there; else ""
    records: int  # checkpoint and DLQ records deleted (0 in a dry run)


@dataclass(frozen=True, slots=True)
class CleanResult:
    runs: tuple[Cleaned, ...]
    groups: tuple[str, ...]  # input groups removed
    kept: tuple[tuple[str, str], ...]  # (run id, why) runs found over, then found live


def batch_paths(state: StateDir, run_id: str) -> tuple[Path, Path]:
    """The workflow and the item list `prodigy batch` writes for a run."""
    return state.root / "batch" / f"{run_id}.yml", state.root / "batch" / f"{run_id}.json"


def _written_for(state: StateDir, run_id: str) -> tuple[Path, ...]:
    # `exec "shell: CMD"` writes its one-step workflow as exec/RUN_ID.yml (run_commands.py).
    return (state.root / "exec" / f"{run_id}.yml", *batch_paths(state, run_id))


def ended(state: StateDir, record: RunRecord) -> float:
    """When a run that is over ended: as recorded; for one whose driver died (kill -9), its
    event log's last write, the last sign of life."""
    if record.finished_at:
        return record.finished_at
    try:
        return max(record.updated_at, state.events_path(record.run_id).stat().st_mtime)
    except OSError:
        return record.updated_at


def clean(state: StateDir, *, older_than: float | None, dry_run: bool,
          now: float) -> CleanResult:
    """Remove every run that is over (and ended more than `older_than` seconds before `now`),
    then every group none of whose runs is left (created that long ago too)."""
    records, damaged = state.scan_runs()
    if damaged:  # say so before anything goes: the user may want to look at it first
        raise CheckpointError(damaged[0])
    over = [r for r in records if r.status is not RunStatus.RUNNING
            and (older_than is None or now - ended(state, r) >= older_than)]
    done: list[Cleaned] = []
    kept: list[tuple[str, str]] = []
    store = CheckpointStore(state.cache_dir) if over and not dry_run else None
    try:
        for record in over:
            worktree = str(record.workspace.get("worktree") or "")
            cleaned = Cleaned(record.run_id, str(record.status), ended(state, record),
                              worktree if worktree and Path(worktree).is_dir() else "", 0)
            if store is not None:
                try:
                    state.lock(record.run_id)
                except StateLocked:
                    kept.append((record.run_id, "a prodigy process took it up meanwhile"))
                    continue
                try:
                    cleaned = _remove(state, store, cleaned)
                finally:
                    state.unlock(record.run_id)
            done.append(cleaned)
    finally:
        if store is not None:
            store.close()
    gone = {c.run_id for c in done}
    groups = []
    for group in list_groups(state):
        if older_than is not None and now - group.created_at < older_than:
            continue
        if all(group.run_id(item) in gone or state.read_run(group.run_id(item)) is None
               for item in group.inputs):
            groups.append(group.group_id)
            if not dry_run:
                shutil.rmtree(group_dir(state, group.group_id), ignore_errors=True)
    return CleanResult(tuple(done), tuple(groups), tuple(kept))


def _remove(state: StateDir, store: CheckpointStore, cleaned: Cleaned) -> Cleaned:
    records = store.forget(cleaned.run_id)
    state.remove_run(cleaned.run_id)
    for path in _written_for(state, cleaned.run_id):
        path.unlink(missing_ok=True)
    return Cleaned(cleaned.run_id, cleaned.status, cleaned.ended, cleaned.worktree, records)
