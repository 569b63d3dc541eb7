"""Which of prodigy's worktrees `prodigy worktree clean` removes, and why it keeps the others.

    survey(home)        every recorded worktree, with whether its directory still exists and
                        whether its run is in progress
    plan_clean(...)     the worktrees a clean asks for, each with why it stays ("" = remove it)
    unmerged_commits()  the commits of a worktree's branch that no other branch holds

What a clean selects, then filters:

    default             every worktree whose state is not `active` (failed or conflicting
                        agents, kept or merged runs), and every one whose directory is gone
    RUN_ID              every worktree of that run (its own and its agents'), any state
    --all               every worktree of the repository, any state
    --merged-only       of those, the ones whose state is `merged` or whose branch holds no
                        commit that is not on another branch as well
    --older-than D      of those, the ones whose state last changed more than D ago

and what it never removes: a worktree of a run in progress (its lock in the state dir is held),
even with --force; nor, without --force, a run's worktree whose branch holds commits that no
other branch holds (they would be lost with the branch). An agent's worktree is kept only while
its run is in progress: its commits either went into the run's branch or failed to.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prodigy.runtime.errors import CheckpointError
from prodigy.runtime.git.repo import branch_exists, git
from prodigy.runtime.git.worktrees import WorktreeHome, WorktreeInfo
from prodigy.runtime.store import RunStatus, StateDir

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(?:\d+[smhd])+")


def parse_duration(text: str) -> float | None:
    """Seconds in `90s`, `30m`, `12h`, `7d` or `1d12h`; None when `text` is not one."""
    spec = text.strip().lower()
    if not _DURATION.fullmatch(spec):
        return None
    return float(sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhd])", spec)))


@dataclass(frozen=True, slots=True)
class Found:
    """A recorded worktree, as a clean sees it."""

    info: WorktreeInfo
    exists: bool  # its directory is still there
    live: bool  # its run is in progress


@dataclass(frozen=True, slots=True)
class Decision:
    found: Found
    skip: str = ""  # why it stays; "" to remove it


def run_in_progress(state_dir: Path, run_id: str) -> bool:
    """A live process holds the run's lock (a `running` record without one is a dead run)."""
    state = StateDir(state_dir)
    try:
        try:
            record = state.read_run(run_id)
        except CheckpointError:  # an unreadable record: the lock alone tells
            record = None
        return ((record is not None and record.status is RunStatus.RUNNING)
                or state.is_locked(run_id))
    except OSError:
        return True  # cannot tell: never remove what may be in use


def survey(home: WorktreeHome) -> list[Found]:
    """Every worktree recorded for the repository. An agent is live when its run is; a run
    recorded without a state dir cannot be asked, and counts as not in progress."""
    infos = home.all()
    live = {i.run_id: run_in_progress(Path(i.state_dir), i.run_id)
            for i in infos if i.kind == "run" and i.state_dir}
    return [Found(i, Path(i.path).exists(), live.get(i.run_id, False)) for i in infos]


def unmerged_commits(info: WorktreeInfo, infos: Sequence[WorktreeInfo], root: Path) -> int:
    """The commits of `info.branch` that are not on its base, on any other local or
    remote-tracking branch (its target among them) or, for an agent, on the run's branch. The
    other branches of the same run do not count: an agent's branch holds the run's commits it
    was made from. 0 when the branch is gone."""
    if not branch_exists(info.branch, root):
        return 0
    same_run = {i.branch for i in infos
                if i.run_id == info.run_id and (info.kind == "run" or i.kind != "run")}
    excludes = [f"--exclude={branch}" for branch in sorted(same_run | {info.branch})]
    base = [info.base] if info.base and git("rev-parse", "--verify", "--quiet",
                                            f"{info.base}^{{commit}}", cwd=root,
                                            check=False) else []
    out = git("rev-list", "--count", f"refs/heads/{info.branch}", "--not", *base, *excludes,
              "--branches", "--remotes", cwd=root)
    return int(out or "0")


def plan_clean(found: Sequence[Found], root: Path, *, run_id: str | None = None,
               every: bool = False, merged_only: bool = False,
               older_than: float | None = None, force: bool = False,
               now: float) -> list[Decision]:
    """The worktrees a clean with these options selects, in `found`'s order (see the module's
    docstring), each with why it stays."""
    infos = [f.info for f in found]
    unmerged: dict[str, int] = {}

    def commits(info: WorktreeInfo) -> int:
        if info.path not in unmerged:
            unmerged[info.path] = unmerged_commits(info, infos, root)
        return unmerged[info.path]

    chosen = [f for f in found if (f.info.run_id == run_id if run_id is not None else
                                   every or f.info.state != "active" or not f.exists)]
    if older_than is not None:
        chosen = [f for f in chosen if now - f.info.updated_at >= older_than]
    if merged_only:
        chosen = [f for f in chosen if f.info.state == "merged" or commits(f.info) == 0]
    decisions = []
    for f in chosen:
        skip = ""
        if f.live:
            skip = f"run {f.info.run_id} is in progress"
        elif f.info.kind == "run" and not force and (count := commits(f.info)):
            skip = (f"branch {f.info.branch} holds {count} commit{'s' * (count != 1)} that no "
                    f"other branch has; merge it (prodigy worktree merge {f.info.run_id}) or "
                    "pass --force to delete them")
        decisions.append(Decision(f, skip))
    return decisions
