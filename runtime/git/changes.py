"""What a step, or the run so far, changed in git: the `${step.*}` and `${workflow.*}` values.

    commits          the commits made, full SHAs, oldest first (`git rev-list BASE..HEAD`)
    files_added      paths (from the repository's top) that differ between BASE and the
    files_modified   working tree: what the commits changed plus what is not committed yet,
    files_deleted    untracked files counting as added (ignored files do not count)
    files_changed    the three together, sorted
    commit_count     how many commits
    insertions       lines added and removed between BASE and the working tree
    deletions        (`git diff --numstat`: tracked and staged files; binary files count 0)

`step.*` is measured from HEAD as it was when the step began (the step wrapper reads it when
the compiler marked the step `track_changes`, because a later step refers to its changes);
`workflow.*` from the run's base commit (`@run_base` in the scope), when a node that refers to
them is prepared. Outside git, or when git fails, every list is empty and every count 0: never
an error. Unlike the rest of `runtime/git/`, this also runs inside tasks (the step wrapper, in
a worker process): it only reads, with plain `git` commands.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.runtime.git.repo import GitError, git

LISTS = ("commits", "files_added", "files_modified", "files_deleted", "files_changed")
COUNTS = ("commit_count", "insertions", "deletions")
FIELDS = LISTS + COUNTS
ROOTS = ("step", "workflow")
# The binding the compiler gives a node that refers to change values: the roots it reads.
READS = "@changes"
RUN_BASE = "@run_base"  # the commit the run started from, in the run's scope (absent outside git)


@dataclass(frozen=True, slots=True)
class Changes:
    commits: tuple[str, ...] = ()
    files_added: tuple[str, ...] = ()
    files_modified: tuple[str, ...] = ()
    files_deleted: tuple[str, ...] = ()
    insertions: int = 0
    deletions: int = 0

    @property
    def files_changed(self) -> tuple[str, ...]:
        return tuple(sorted({*self.files_added, *self.files_modified, *self.files_deleted}))

    @property
    def commit_count(self) -> int:
        return len(self.commits)

    def variables(self, root: str) -> dict[str, Any]:
        """The values as `root.<field>` variables: lists (JSON-shaped) and ints."""
        out: dict[str, Any] = {f"{root}.{name}": list(getattr(self, name)) for name in LISTS}
        out.update({f"{root}.{name}": getattr(self, name) for name in COUNTS})
        return out


def head(cwd: Path | str) -> str | None:
    """HEAD's commit; None outside git or in a repository without commits."""
    try:
        return git("rev-parse", "--verify", "--quiet", "HEAD", cwd=cwd, check=False) or None
    except OSError:
        return None


def since(base: str | None, cwd: Path | str) -> Changes:
    """What changed from the commit `base` to the working tree of `cwd`'s repository. `base`
    None: the repository had no commit yet (everything in it is new), or it is not one."""
    try:
        if base is None:
            if git("rev-parse", "--is-inside-work-tree", cwd=cwd, check=False) != "true":
                return Changes()
            base = git("hash-object", "-t", "tree", "--stdin", cwd=cwd)  # the empty tree
            tip = head(cwd)
            commits = git("rev-list", "--reverse", tip, cwd=cwd) if tip else ""
        else:
            commits = git("rev-list", "--reverse", f"{base}..HEAD", cwd=cwd)
        diff = git("diff", "--no-renames", "--no-ext-diff", "--raw", "--numstat", "-z", base,
                   cwd=cwd)
        untracked = git("ls-files", "--others", "--exclude-standard", "--full-name", "-z",
                        "--", ":/", cwd=cwd)
    except (GitError, OSError):
        return Changes()
    return _parse(commits.split(), diff, untracked)


def _parse(commits: list[str], diff: str, untracked: str) -> Changes:
    """`git diff --raw --numstat -z` output: each raw entry (`:modes shas STATUS`, then the
    path) and then each numstat entry (`added<TAB>deleted<TAB>path`), NUL-terminated."""
    by_status: dict[str, set[str]] = {"A": set(), "M": set(), "D": set()}
    insertions = deletions = 0
    tokens = iter(diff.split("\0"))
    for token in tokens:
        if token.startswith(":"):
            status, path = token.rsplit(" ", 1)[-1][:1], next(tokens, "")
            by_status.get(status, by_status["M"]).add(path)  # T(ype), U(nmerged): modified
        elif token:
            added, deleted, _ = token.split("\t", 2)
            insertions += int(added) if added.isdigit() else 0  # `-`: a binary file
            deletions += int(deleted) if deleted.isdigit() else 0
    by_status["A"].update(p for p in untracked.split("\0") if p)
    return Changes(tuple(commits), tuple(sorted(by_status["A"])), tuple(sorted(by_status["M"])),
                   tuple(sorted(by_status["D"])), insertions, deletions)


def bind(scope: MutableMapping[str, Any], roots: Iterable[str], cwd: Path | str) -> None:
    """Put the change values a node refers to into its scope: `workflow.*` measured now from
    the run's base commit, and `step.*` as empty values where no step published them (the
    node is the first step, or the step before it was skipped or is a loop)."""
    for root in roots:
        if root == "workflow":
            base = scope.get(RUN_BASE)
            found = since(str(base), cwd) if base else Changes()
            scope.update(found.variables("workflow"))
        elif root == "step":
            for name, value in Changes().variables("step").items():
                scope.setdefault(name, value)
