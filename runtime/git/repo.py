"""Running git, and what a directory's repository is."""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from prodigy.runtime.errors import ProdigyError

# Merge commits prodigy makes need an author; a machine without `user.email` must still work.
_IDENTITY = {"GIT_AUTHOR_NAME": "prodigy", "GIT_AUTHOR_EMAIL": "prodigy@localhost",
             "GIT_COMMITTER_NAME": "prodigy", "GIT_COMMITTER_EMAIL": "prodigy@localhost"}


class GitError(ProdigyError):
    """A git command failed; `output` is what it printed."""

    def __init__(self, args: tuple[str, ...], code: int, output: str) -> None:
        super().__init__(f"git {' '.join(args)} failed (exit {code}): {output.strip()[-500:]}")
        self.args_ = args
        self.code = code
        self.output = output


def _run(args: tuple[str, ...], cwd: Path | str,
         identity: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    # Set inside git hooks (prodigy runs as a pre-commit hook): they would point every
    # command at the hook's repository, whatever `cwd` is.
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR"):
        env.pop(name, None)
    if identity:
        for name, value in _IDENTITY.items():
            env.setdefault(name, value)
    return subprocess.run(["git", *args], cwd=str(cwd), env=env, capture_output=True,
                          text=True, errors="replace", stdin=subprocess.DEVNULL, check=False)


def git(*args: str, cwd: Path | str, check: bool = True, identity: bool = False) -> str:
    """Run `git ARGS` in `cwd`; its stdout (stripped of the last newline), or GitError."""
    proc = _run(args, cwd, identity)
    if check and proc.returncode != 0:
        raise GitError(args, proc.returncode, proc.stderr + proc.stdout)
    return proc.stdout[:-1] if proc.stdout.endswith("\n") else proc.stdout


@functools.lru_cache(maxsize=64)
def needs_identity(cwd: Path) -> bool:
    """True when git would refuse to commit here for want of a name or email (asked once
    per directory and process: a map merges hundreds of times into the same worktree)."""
    return not (git("config", "user.email", cwd=cwd, check=False)
                and git("config", "user.name", cwd=cwd, check=False))


@dataclass(frozen=True, slots=True)
class Repo:
    """A repository as seen from a directory in its main checkout or one of its worktrees."""

    toplevel: Path  # the checkout the directory is in
    common_dir: Path  # the shared .git directory (the same for every worktree)
    branch: str | None  # checked out in `toplevel`; None when HEAD is detached
    head: str | None  # None in a repository without commits
    subdir: str  # the directory relative to `toplevel` ("" at the top)

    @property
    def main_root(self) -> Path:
        """The main checkout (the parent of the common .git dir for a normal repository)."""
        return self.common_dir.parent if self.common_dir.name == ".git" else self.common_dir

    @property
    def home_name(self) -> str:
        """`<repo name>-<short hash of its path>`: its folder under $PRODIGY_HOME/worktrees."""
        root = self.main_root
        digest = hashlib.sha256(str(root).encode()).hexdigest()[:8]
        return f"{root.name or 'repo'}-{digest}"

    def dirty(self) -> bool:
        """Tracked files changed in the checkout (untracked files do not count)."""
        return bool(git("status", "--porcelain", "--untracked-files=no", cwd=self.toplevel))


def find_repo(path: Path) -> Repo | None:
    """The repository `path` is in, or None (not in git, or git is not installed)."""
    try:
        out = git("rev-parse", "--show-toplevel", "--git-common-dir", "--show-prefix",
                  cwd=path, check=True)
    except (GitError, OSError):
        return None
    lines = out.split("\n")
    if len(lines) < 2:
        return None
    toplevel = Path(lines[0]).resolve()
    common = Path(lines[1])
    common = (path / common).resolve() if not common.is_absolute() else common.resolve()
    subdir = lines[2].rstrip("/") if len(lines) > 2 else ""
    branch = git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=path, check=False) or None
    head = git("rev-parse", "--verify", "--quiet", "HEAD", cwd=path, check=False) or None
    return Repo(toplevel, common, branch, head, subdir)


def head_of(path: Path) -> str:
    return git("rev-parse", "HEAD", cwd=path)


def commits_between(base: str, tip: str, cwd: Path) -> list[str]:
    """The commits in `tip` not in `base`, oldest first."""
    out = git("rev-list", "--reverse", f"{base}..{tip}", cwd=cwd)
    return out.split() if out else []


def branch_exists(name: str, cwd: Path) -> bool:
    return bool(git("rev-parse", "--verify", "--quiet", f"refs/heads/{name}", cwd=cwd,
                    check=False))


def is_ancestor(commit: str, of: str, cwd: Path | str) -> bool:
    return _run(("merge-base", "--is-ancestor", commit, of), cwd).returncode == 0
