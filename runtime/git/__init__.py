"""Git at run time: the run's own worktree, one worktree per map agent, merges back.

    repo.py       running git, and what a directory's repository is (`Repo`)
    worktrees.py  where prodigy's worktrees live and what each one is for (`WorktreeInfo`)
    workspace.py  the run's workspace: its worktree and branch, or the checkout in place
    agents.py     a map agent's worktree, and merging its commits into the run branch
    merge_back.py merging a finished run's branch into the branch it started from
    cleanup.py    which worktrees `prodigy worktree clean` removes, and which never
    changes.py    what a step (`${step.*}`) or the run so far (`${workflow.*}`) changed

All but `changes.py` (which a tracked step's wrapper also calls inside its task) is called
by the driver, through plain `git` commands:
no library wraps worktrees, merges and `--porcelain` listings better than the CLI itself, and
users can repeat any of these commands by hand.
"""

from __future__ import annotations

from prodigy.runtime.git.repo import GitError, Repo, find_repo, git

__all__ = ["GitError", "Repo", "find_repo", "git"]
