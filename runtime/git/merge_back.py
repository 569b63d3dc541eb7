"""Merging a finished run's branch into the branch it started from.

Where the target branch is checked out (usually the user's own checkout) the merge happens
there, refused while that checkout has uncommitted changes to tracked files; a target checked
out nowhere is merged in a temporary worktree. A conflict is aborted at once: the checkout is
left exactly as it was, and the run's branch and worktree stay, with a message saying how to
finish. A workflow's `merge:` block replaces the `git merge`: it runs in the run's worktree
(`${merge.*}`), and the merge counts as done when the run's branch is in the target after it.
After a merge the run's worktree and branch are removed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from prodigy.runtime.git.repo import (
    GitError,
    branch_exists,
    commits_between,
    find_repo,
    git,
    is_ancestor,
    needs_identity,
)
from prodigy.runtime.git.workspace import Workspace, abort_merge
from prodigy.runtime.git.worktrees import WorktreeHome


class MergeStatus(enum.StrEnum):
    MERGED = "merged"
    NOTHING = "nothing"  # no new commits: nothing to merge, the worktree was removed
    KEPT = "kept"  # not merged (declined, not asked, refused, conflict): the branch stays
    FAILED = "failed"  # a `merge:` block failed or did not merge


@dataclass(frozen=True, slots=True)
class MergeBack:
    status: MergeStatus
    message: str
    commits: int = 0


def pending_commits(ws: Workspace) -> list[str]:
    """The run branch's commits not in its target yet (all since `base` without a target)."""
    root = Path(ws.repo)
    since = ws.target if ws.target and branch_exists(ws.target, root) else ws.base
    if not branch_exists(ws.branch, root):
        return []
    return commits_between(since, ws.branch, root)


def merge_vars(ws: Workspace, run_id: str) -> dict[str, str]:
    """`${merge.*}` of a `merge:` block."""
    return {"merge.worktree": ws.worktree, "merge.source_branch": ws.branch,
            "merge.target_branch": ws.target, "merge.session_id": run_id}


def merge_run(ws: Workspace, run_id: str, label: str,
              custom: Callable[[Mapping[str, str]], bool] | None = None) -> MergeBack:
    """Merge the run's branch into its target (or run `custom`, the workflow's `merge:`)."""
    home = _home(ws)
    commits = pending_commits(ws)
    if not commits:
        if home is not None:
            home.remove(Path(ws.worktree), ws.branch, keep_meta=False)
        return MergeBack(MergeStatus.NOTHING, "no new commits: nothing to merge")
    count = len(commits)
    if not ws.target:
        return _kept(ws, "the run started on a detached HEAD: merge branch "
                         f"{ws.branch} yourself", count)
    if custom is not None:
        if not custom(merge_vars(ws, run_id)):
            return MergeBack(MergeStatus.FAILED, f"the workflow's merge: block failed; "
                             f"{ws.branch} is kept", count)
        if not is_ancestor(ws.branch, ws.target, ws.repo):
            return MergeBack(MergeStatus.FAILED, f"the merge: block finished but {ws.branch} "
                             f"is not in {ws.target}; the branch is kept", count)
    else:
        where = checked_out_at(ws)
        message = f"Merge {ws.branch} ({label or run_id})\n\nprodigy-run: {run_id}\n"
        result = (_merge_in(where, ws, message) if where is not None
                  else _merge_detached(ws, message, home))
        if result is not None:
            return _kept(ws, result, count)
    if home is not None:
        home.remove(Path(ws.worktree), ws.branch, keep_meta=False)
    return MergeBack(MergeStatus.MERGED, f"merged {count} commit{'s' * (count != 1)} of "
                     f"{ws.branch} into {ws.target}", count)


def checked_out_at(ws: Workspace) -> Path | None:
    """The worktree where the target branch is checked out, if any."""
    out = git("worktree", "list", "--porcelain", cwd=ws.repo)
    path: str | None = None
    for line in out.splitlines():
        if line.startswith("worktree "):
            path = line[len("worktree "):]
        elif line == f"branch refs/heads/{ws.target}" and path is not None:
            return Path(path)
    return None


def _merge_in(where: Path, ws: Workspace, message: str) -> str | None:
    """Merge in the checkout `where`; None when merged, else why not (nothing changed)."""
    if git("status", "--porcelain", "--untracked-files=no", cwd=where):
        return (f"{where} has uncommitted changes: commit or stash them, then run "
                "`prodigy worktree merge` again")
    try:
        git("merge", "--no-ff", "--no-edit", "-m", message, ws.branch, cwd=where,
            identity=needs_identity(where))
    except GitError as exc:
        conflicts = git("diff", "--name-only", "--diff-filter=U", cwd=where, check=False)
        abort_merge(where)
        if conflicts:
            return (f"merging into {ws.target} conflicts in {', '.join(conflicts.split())}; "
                    f"nothing was changed. Resolve it by hand (git merge {ws.branch}) or "
                    "rebase the branch, then `prodigy worktree clean`")
        return f"git merge refused ({exc.output.strip()[-300:]}); nothing was changed"
    return None


def _merge_detached(ws: Workspace, message: str, home: WorktreeHome | None) -> str | None:
    """The target is checked out nowhere: merge it in a temporary worktree."""
    if home is None:
        return "the repository is not reachable"
    temp = home.root / f"{Path(ws.worktree).name}.merge"
    home.remove(temp, None)
    git("worktree", "add", "--quiet", str(temp), ws.target, cwd=ws.repo)
    try:
        return _merge_in(temp, ws, message)
    finally:
        home.remove(temp, None)


def _kept(ws: Workspace, why: str, count: int) -> MergeBack:
    keep_run_worktree(ws, why)
    return MergeBack(MergeStatus.KEPT, why, count)


def keep_run_worktree(ws: Workspace, why: str) -> None:
    """Record that the run's worktree stays, and why (`prodigy worktree ls` shows it)."""
    home = _home(ws)
    info = home.load(Path(ws.worktree)) if home is not None else None
    if home is not None and info is not None:
        home.save(replace(info, state="kept", reason=why))


def _home(ws: Workspace) -> WorktreeHome | None:
    repo = find_repo(Path(ws.repo)) if ws.repo else None
    return WorktreeHome(repo) if repo is not None else None
