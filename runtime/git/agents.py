"""A map agent's worktree, and merging its commits into the run branch.

Each agent works on `prodigy/<run id>.agents/<item id>`, made from the run branch as it was when the
map started. When the agent succeeds, the driver's one merge queue (a single thread: merges
into one worktree cannot overlap) merges its branch into the run's worktree with `--no-ff`,
the message naming the item and carrying trailers:

    prodigy-run: <run id>
    prodigy-item: <map node id>#<index>

The trailers are how a resumed run knows an item whose record a crash lost was merged already
(`merged_items`): it is recorded from the merge commit instead of being run again, so no agent
commit is ever merged twice. A conflict aborts the merge (the run worktree is never left
mid-merge) and keeps the agent's branch and worktree for the user to look at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from prodigy.runtime.git.repo import GitError, commits_between, git, needs_identity
from prodigy.runtime.git.workspace import Workspace, abort_merge
from prodigy.runtime.git.worktrees import WorktreeHome, WorktreeInfo, agent_branch

_TRAILER = re.compile(r"^prodigy-item: (.+)#(\d+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class AgentWorktree:
    """An agent's own worktree (the `AgentDir` of a map item in an isolated run)."""

    info: WorktreeInfo
    home: WorktreeHome
    subdir: str = ""

    @property
    def path(self) -> Path:
        return Path(self.info.path) / self.subdir if self.subdir else Path(self.info.path)

    @property
    def exclusive(self) -> bool:
        return True

    def cleanup(self) -> None:
        return None  # what happens to it depends on the merge: `finish` decides


@dataclass(frozen=True, slots=True)
class AgentMerge:
    """What merging an agent's branch did."""

    commits: tuple[str, ...] = ()  # the agent's own commits, oldest first
    merge_commit: str = ""  # "" when there was nothing to merge
    conflicts: tuple[str, ...] = ()  # paths, when the merge conflicted
    error: str = ""  # why it did not merge ("" when it did, or had nothing to)
    kept: bool = False  # its worktree and branch were kept (a conflict, an error)

    @property
    def ok(self) -> bool:
        return not self.error


def create(ws: Workspace, home: WorktreeHome, run_id: str, item_id: str,
           base: str) -> AgentWorktree:
    """The agent's worktree from `base` (a half-made one of a killed run is replaced)."""
    path = home.agent_path(run_id, item_id)
    info = home.add(WorktreeInfo(str(path), agent_branch(run_id, item_id), ws.repo, run_id,
                                 "agent", base, item=item_id))
    subdir = str(Path(ws.cwd).relative_to(ws.worktree)) if ws.cwd != ws.worktree else ""
    return AgentWorktree(info, home, "" if subdir == "." else subdir)


def merge(ws: Workspace, agent: AgentWorktree, run_id: str, loop: str, index: int,
          label: str) -> AgentMerge:
    """Merge the agent's branch into the run worktree. Removing it is the caller's next step
    (`remove`): off the merge queue, which only the merges themselves should hold up."""
    info, home, target = agent.info, agent.home, Path(ws.worktree)
    try:
        commits = tuple(commits_between(info.base, info.branch, target))
    except GitError as exc:
        return _keep(home, info, AgentMerge(error=f"cannot read the agent's branch: {exc}"))
    if not commits:
        return AgentMerge()
    message = (f"Merge {label} ({info.branch})\n\nprodigy-run: {run_id}\n"
               f"prodigy-item: {loop}#{index}\n")
    try:
        git("merge", "--no-ff", "--no-edit", "-m", message, info.branch, cwd=target,
            identity=needs_identity(target))
    except GitError as exc:
        conflicts = tuple(git("diff", "--name-only", "--diff-filter=U", cwd=target,
                              check=False).split())
        abort_merge(target)
        why = (f"merge conflict in {', '.join(conflicts)}" if conflicts
               else f"merge failed: {exc.output.strip()[-300:]}")
        return _keep(home, info, AgentMerge(commits, conflicts=conflicts, error=why),
                     "conflict" if conflicts else "failed")
    return AgentMerge(commits, git("rev-parse", "HEAD", cwd=target))


def remove(agent: AgentWorktree) -> None:
    """A merged (or empty-handed) agent's worktree and branch go."""
    agent.home.remove(Path(agent.info.path), agent.info.branch, keep_meta=False)


def sweep(home: WorktreeHome, run_id: str) -> int:
    """Remove agent worktrees of `run_id` still marked active once its map is over: leftovers
    of a crash between an item's merge and its worktree's removal. Kept (failed) ones stay."""
    gone = 0
    for info in home.all():
        if info.run_id == run_id and info.kind == "agent" and info.state == "active":
            home.remove(Path(info.path), info.branch, keep_meta=False)
            gone += 1
    return gone


def _keep(home: WorktreeHome, info: WorktreeInfo, result: AgentMerge,
          state: str = "failed") -> AgentMerge:
    home.save(replace(info, state=state, reason=result.error))
    return replace(result, kept=True)


def keep_failed(agent: AgentWorktree, reason: str) -> None:
    """A failed agent's worktree stays for inspection until `prodigy worktree clean`."""
    agent.home.save(replace(agent.info, state="failed", reason=reason[:500]))


def merged_items(ws: Workspace, loop: str) -> dict[int, tuple[str, tuple[str, ...]]]:
    """Items of map `loop` merged into the run branch already: index -> (merge commit, the
    agent's commits). Read from the trailers of the run branch's merge commits."""
    out = git("log", "--merges", "--format=%H %P%n%B%x00", f"{ws.base}..HEAD",
              cwd=Path(ws.worktree), check=False)
    found: dict[int, tuple[str, tuple[str, ...]]] = {}
    for entry in out.split("\x00"):
        head, _, body = entry.strip().partition("\n")
        parts = head.split()
        if len(parts) < 3:
            continue
        for match in _TRAILER.finditer(body):
            if match.group(1) == loop:
                commits = commits_between(parts[1], parts[2], Path(ws.worktree))
                found[int(match.group(2))] = (parts[0], tuple(commits))
    return found
