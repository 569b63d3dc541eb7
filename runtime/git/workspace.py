"""The run's workspace: a worktree of its own on `prodigy/<run id>`, or the checkout in place.

In a git repository a run works in a fresh worktree made from the current HEAD, so the user's
checkout is not touched until the run is merged back. `in_place` (the flag or the workflow
key) keeps the checkout; outside git the run is in place by necessity. The workspace is
recorded in the run's record, so a resume (or `dlq retry`, or `worktree merge`) finds it again,
and makes it again from its branch if the directory was deleted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from prodigy.runtime.git.repo import branch_exists, find_repo, git
from prodigy.runtime.git.worktrees import WorktreeHome, WorktreeInfo, run_branch


@dataclass(frozen=True, slots=True)
class Workspace:
    """Where a run's commands run, and (in a worktree) what it merges back into."""

    cwd: str  # where the run's steps run (the worktree, at the same subdirectory)
    origin: str  # the directory the run was started from
    worktree: str = ""  # the run's worktree; "" when in place
    branch: str = ""  # the run's branch
    target: str = ""  # the branch the run started from (merged into at the end)
    base: str = ""  # the commit the run started from
    repo: str = ""  # the repository's main checkout; "" outside git

    @property
    def isolated(self) -> bool:
        return bool(self.worktree)

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Workspace:
        return cls(**{k: str(v) for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class Opened:
    workspace: Workspace
    notes: tuple[str, ...]  # what the start line says about it


def open_workspace(origin: Path, run_id: str, in_place: bool, state_dir: Path,
                   previous: Workspace | None = None) -> Opened:
    """The workspace of `run_id`: made now, or found again (and remade) from `previous`."""
    if previous is not None and previous.isolated:
        return Opened(_reopen(previous, run_id, state_dir), ())
    repo = find_repo(origin)
    if in_place or repo is None or repo.head is None:
        why = () if in_place or previous is not None else (
            ("not a git repository: the run works in place",) if repo is None else
            ("the repository has no commit yet: the run works in place",))
        # In place in git, the base is still HEAD: `${workflow.*}` counts from it.
        return Opened(Workspace(str(origin), str(origin), base=(repo.head or "") if repo else "",
                                repo=str(repo.main_root) if repo else ""), why)
    home = WorktreeHome(repo)
    path = home.run_path(run_id)
    info = home.add(WorktreeInfo(str(path), run_branch(run_id), str(repo.main_root), run_id,
                                 "run", repo.head, target=repo.branch or "",
                                 state_dir=str(state_dir)))
    notes = [f"working in {path} on branch {info.branch}"]
    if repo.dirty():
        notes.append("uncommitted changes in the checkout are not included (the run starts "
                      "from HEAD)")
    cwd = path / repo.subdir if repo.subdir else path
    return Opened(Workspace(str(cwd), str(origin), str(path), info.branch, repo.branch or "",
                            repo.head, str(repo.main_root)), tuple(notes))


def _reopen(ws: Workspace, run_id: str, state_dir: Path) -> Workspace:
    """A recorded worktree, made again from its branch if it is gone (from the target if the
    branch is gone too: merged and cleaned, then a `dlq retry`); a merge a crash left half
    done in it is aborted (the run never leaves its worktree mid-merge)."""
    path = Path(ws.worktree)
    repo = find_repo(Path(ws.repo)) if ws.repo else None
    if repo is not None and not (path / ".git").exists():
        home = WorktreeHome(repo)
        info = home.load(path) or WorktreeInfo(ws.worktree, ws.branch, ws.repo, run_id, "run",
                                               ws.base, target=ws.target)
        info = replace(info, state="active", reason="", state_dir=str(state_dir))
        if branch_exists(ws.branch, repo.main_root):
            home.attach(info)
        else:
            start = ws.target if ws.target and branch_exists(ws.target, repo.main_root) \
                else ws.base
            home.add(replace(info, base=git("rev-parse", start, cwd=repo.main_root)))
    _drop_stale_index_lock(path)
    abort_merge(path)
    return ws


def _drop_stale_index_lock(path: Path) -> None:
    """A git command killed with its driver leaves `index.lock`, and every later git command
    in the worktree fails on it. The run's lock is held and its processes are gone: stale."""
    gitdir = git("rev-parse", "--absolute-git-dir", cwd=path, check=False)
    if gitdir:
        Path(gitdir, "index.lock").unlink(missing_ok=True)


def abort_merge(path: Path) -> None:
    if path.is_dir() and git("rev-parse", "-q", "--verify", "MERGE_HEAD", cwd=path,
                             check=False):
        git("merge", "--abort", cwd=path, check=False)
