"""Where prodigy's worktrees live and what each one is for.

    $PRODIGY_HOME/worktrees/<repo name>-<hash of its path>/
        <run id>/                   the run's worktree, on branch prodigy/<run id>
        <run id>.agents/<item id>/  a map agent's, on branch prodigy/<run id>.agents/<item id>
        .meta/<run id>.json         what each one is for (`WorktreeInfo`), so `prodigy
        .meta/<run id>.agents/<item id>.json    worktree ls` can say why it was kept

Outside the repository, so an agent's `git add -A` never sees another's files, and a run's
files never appear in the user's checkout. A metadata file is written before its worktree is
made and removed after it is gone: a crash in between leaves a record that `clean` acts on.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from prodigy.runtime.git.repo import GitError, Repo, branch_exists, git
from prodigy.runtime.store import atomic_write

# `git worktree prune` drops the entry of a worktree another thread is still adding (its
# admin folder has no `gitdir` yet): adds and prunes of this process never overlap.
_ADMIN = threading.Lock()


def prodigy_home() -> Path:
    return Path(os.environ.get("PRODIGY_HOME") or "~/.prodigy").expanduser().absolute()


def run_branch(run_id: str) -> str:
    return f"prodigy/{run_id}"


def agent_branch(run_id: str, item_id: str) -> str:
    # Not `prodigy/<run id>/<item id>`: git keeps refs as paths, so a branch cannot be both a
    # name (the run's) and a folder of others. The name mirrors the worktree's folder.
    return f"prodigy/{run_id}.agents/{item_id}"


@dataclass(frozen=True, slots=True)
class WorktreeInfo:
    """One worktree prodigy made: kept in `.meta/`, shown by `prodigy worktree ls`."""

    path: str
    branch: str
    repo: str  # the main checkout of the repository
    run_id: str
    kind: str  # "run" | "agent"
    base: str  # the commit it was made from
    item: str = ""  # the agent's item id
    target: str = ""  # a run's: the branch it merges back into
    state_dir: str = ""  # a run's: where its records are
    state: str = "active"  # active | failed | conflict | kept | merged
    reason: str = ""  # why it is kept
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorktreeInfo:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class WorktreeHome:
    """The folder of one repository's worktrees, and their metadata."""

    def __init__(self, repo: Repo, home: Path | None = None) -> None:
        self.repo = repo
        self.root = (home or prodigy_home()) / "worktrees" / repo.home_name
        self.meta = self.root / ".meta"

    def run_path(self, run_id: str) -> Path:
        return self.root / run_id

    def agent_path(self, run_id: str, item_id: str) -> Path:
        return self.root / f"{run_id}.agents" / item_id

    def _meta_path(self, path: Path) -> Path:
        relative = path.relative_to(self.root)  # ids may hold dots: append, never replace
        return self.meta / relative.parent / f"{relative.name}.json"

    def save(self, info: WorktreeInfo) -> WorktreeInfo:
        info = replace(info, updated_at=time.time())
        atomic_write(self._meta_path(Path(info.path)),
                     json.dumps(info.to_json(), indent=1, sort_keys=True) + "\n")
        return info

    def forget(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._meta_path(path).unlink()
        with contextlib.suppress(OSError):
            self._meta_path(path).parent.rmdir()  # an emptied `<run>.agents/`

    def load(self, path: Path) -> WorktreeInfo | None:
        try:
            return WorktreeInfo.from_json(json.loads(
                self._meta_path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def all(self) -> list[WorktreeInfo]:
        """Every worktree recorded for this repository, runs before their agents."""
        found = []
        for meta in sorted(self.meta.glob("*.json")) + sorted(self.meta.glob("*/*.json")):
            with contextlib.suppress(OSError, ValueError, TypeError):
                found.append(WorktreeInfo.from_json(json.loads(meta.read_text("utf-8"))))
        return found

    # --- making and removing -----------------------------------------------------------------

    def add(self, info: WorktreeInfo) -> WorktreeInfo:
        """Make `info`'s worktree on a new branch from `info.base`. Leftovers of a killed run
        (the same path or branch) are removed first: what they held was never merged."""
        info = self.save(info)
        path = Path(info.path)
        if path.exists() or branch_exists(info.branch, self.repo.main_root):
            self.remove(path, info.branch)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _ADMIN:
            git("worktree", "add", "--quiet", "-b", info.branch, str(path), info.base,
                cwd=self.repo.main_root)
        return info

    def attach(self, info: WorktreeInfo) -> None:
        """Check out an existing branch again where its worktree was (it was deleted)."""
        self.save(info)
        path = Path(info.path)
        if path.exists():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _ADMIN:
            git("worktree", "prune", cwd=self.repo.main_root)
            git("worktree", "add", "--quiet", str(path), info.branch, cwd=self.repo.main_root)

    def remove(self, path: Path, branch: str | None, keep_meta: bool = True) -> None:
        """Remove a worktree (whatever state it is in) and its branch; missing ones are fine."""
        cwd = self.repo.main_root
        # `worktree remove` and `branch -D` read every worktree's admin folder, and fail on
        # the half-written one of an add in progress: they take the same lock as adds.
        with _ADMIN:
            removed = False
            if path.exists():
                try:
                    git("worktree", "remove", "--force", "--force", str(path), cwd=cwd)
                    removed = True
                except GitError:
                    shutil.rmtree(path, ignore_errors=True)  # not registered: half made
            if branch:
                if not removed:  # a deleted worktree holds its branch until pruned
                    git("worktree", "prune", cwd=cwd, check=False)
                for _ in range(3):
                    if git("branch", "-D", branch, cwd=cwd, check=False) or \
                            not branch_exists(branch, cwd):
                        break
                    time.sleep(0.05)  # another git process held a lock: try again
        if not keep_meta:
            self.forget(path)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # an emptied `<run>.agents/`
