"""`runtime/git/changes.py`: what a step or the run changed, read from a real repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

from prodigy.runtime.git.changes import READS, RUN_BASE, Changes, bind, head, since


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "dev@example.com")
    git(path, "config", "user.name", "Dev")
    write(path, files)
    if files:
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "init")
    return path


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def test_commits_and_uncommitted_changes_since_a_commit(tmp_path: Path) -> None:
    root = repo(tmp_path / "r", {"keep.txt": "a\nb\n", "gone.txt": "x\n", "edit.md": "1\n"})
    base = head(root)
    assert base is not None
    write(root, {"docs/new guide.md": "one\ntwo\n", "edit.md": "1\n2\n3\n"})
    (root / "gone.txt").unlink()
    first = commit(root, "c1")
    write(root, {"keep.txt": "a\n"})  # not committed: modified in the working tree
    write(root, {"staged.rs": "fn main() {}\n"})
    git(root, "add", "staged.rs")  # staged, not committed
    write(root, {"loose.txt": "untracked\n"})  # untracked: added
    write(root, {".gitignore": "*.log\n", "noise.log": "ignored\n"})
    second = commit(root, "c2")  # commits .gitignore, staged.rs and loose.txt
    write(root, {"late.txt": "after the last commit\n"})

    found = since(base, root)
    assert found.commits == (first, second)
    assert found.commit_count == 2
    assert found.files_added == (".gitignore", "docs/new guide.md", "late.txt", "loose.txt",
                                 "staged.rs")
    assert found.files_modified == ("edit.md", "keep.txt")
    assert found.files_deleted == ("gone.txt",)
    assert found.files_changed == tuple(sorted(found.files_added + found.files_modified
                                               + found.files_deleted))
    # Lines: tracked files only (late.txt is untracked): .gitignore 1, guide 2, edit.md +2,
    # loose.txt 1, staged.rs 1; keep.txt -1, gone.txt -1.
    assert (found.insertions, found.deletions) == (7, 2)


def test_paths_are_from_the_top_whatever_the_directory(tmp_path: Path) -> None:
    root = repo(tmp_path / "r", {"sub/a.txt": "a\n"})
    base = head(root)
    write(root, {"sub/a.txt": "b\n", "top.txt": "t\n", "sub/inner/new.txt": "n\n"})
    found = since(base, root / "sub")
    assert found.files_added == ("sub/inner/new.txt", "top.txt")
    assert found.files_modified == ("sub/a.txt",)


def test_nothing_changed(tmp_path: Path) -> None:
    root = repo(tmp_path / "r", {"a.txt": "a\n"})
    assert since(head(root), root) == Changes()


def test_a_repository_without_commits_counts_everything_as_new(tmp_path: Path) -> None:
    root = repo(tmp_path / "r", {})
    assert head(root) is None
    write(root, {"a.txt": "a\n"})
    found = since(None, root)
    assert found.files_added == ("a.txt",) and found.commits == ()
    made = commit(root, "first")
    assert since(None, root).commits == (made,)


def test_outside_git_everything_is_empty(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("a\n")
    assert head(plain) is None
    assert since(None, plain) == Changes()
    assert since("0" * 40, plain) == Changes()


def test_an_unknown_base_is_empty_not_an_error(tmp_path: Path) -> None:
    root = repo(tmp_path / "r", {"a.txt": "a\n"})
    assert since("f" * 40, root) == Changes()


def test_variables_are_lists_and_counts() -> None:
    found = Changes(commits=("c1",), files_added=("b.md",), files_modified=("a.py",),
                    insertions=3, deletions=1)
    assert found.variables("step") == {
        "step.commits": ["c1"], "step.files_added": ["b.md"], "step.files_modified": ["a.py"],
        "step.files_deleted": [], "step.files_changed": ["a.py", "b.md"],
        "step.commit_count": 1, "step.insertions": 3, "step.deletions": 1}


def test_bind_measures_the_run_and_fills_in_missing_step_values(tmp_path: Path) -> None:
    root = repo(tmp_path / "r", {"a.txt": "a\n"})
    base = head(root)
    write(root, {"b.txt": "b\n"})
    made = commit(root, "b")
    scope = {RUN_BASE: base, "step.files_added": ["kept.txt"], READS: ["step", "workflow"]}
    bind(scope, ("step", "workflow"), root)
    assert scope["workflow.files_added"] == ["b.txt"] and scope["workflow.commits"] == [made]
    assert scope["step.files_added"] == ["kept.txt"]  # published by the step: left alone
    assert scope["step.files_changed"] == [] and scope["step.insertions"] == 0
    # Without a run base (outside git): empty values, no git at all.
    bare: dict[str, object] = {}
    bind(bare, ("workflow",), tmp_path / "nowhere")
    assert bare["workflow.files_changed"] == [] and bare["workflow.commit_count"] == 0
