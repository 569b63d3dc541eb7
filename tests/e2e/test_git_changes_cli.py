"""`${step.*}` and `${workflow.*}` through the real CLI, in a scratch repository and outside
git: the values the steps see, their modifiers, and conditions on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from .gitrepo import git, make_repo
from .test_run_cli import cli

pytestmark = pytest.mark.e2e

WORKFLOW = """\
name: changes
commands:
  - shell: |
      echo "# notes" > notes.md
      echo more >> README.md
      git rm -q old.txt
      git add -A && git commit -q -m "notes"
      echo scratch > scratch.txt
  - shell: |
      {
        echo "changed=${step.files_changed}"
        echo 'added=${step.files_added:json}'
        echo "md=${step.files_changed:*.md:csv}"
        echo "deleted=${step.files_deleted}"
        echo "count=${step.commit_count} +${step.insertions} -${step.deletions}"
        echo "commits=${step.commits}"
      } > "$OUT/step.txt"
  - shell: "touch \\"$OUT/rust\\""
    when: "${step.files_modified:*.rs}"
  - shell: |
      echo lib > lib.rs
      git add lib.rs && git commit -q -m "lib"
  - shell: |
      printf '%s\\n' '${step.files_added}' '${workflow.files_added:lines}' \\
        '${workflow.commit_count}' > "$OUT/run.txt"
"""


def test_step_and_workflow_changes_in_a_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"old.txt": "old\n"})
    (repo / "wf.yml").write_text(WORKFLOW)
    git(repo, "add", "wf.yml")
    git(repo, "commit", "-q", "-m", "workflow")
    out = tmp_path / "out"
    out.mkdir()
    run = cli(repo, "run", "wf.yml", "--run-id", "c1", env={"OUT": str(out)})
    assert run.returncode == 0, run.stderr
    lines = dict(line.split("=", 1) for line in (out / "step.txt").read_text().splitlines())
    commit = git(repo, "log", "-1", "--format=%H", "prodigy/c1~1")  # "notes"
    assert lines == {
        "changed": "README.md notes.md old.txt scratch.txt",
        "added": '["notes.md","scratch.txt"]',
        "md": "README.md,notes.md",
        "deleted": "old.txt",
        "count": "1 +2 -1",
        "commits": commit,
    }
    assert not (out / "rust").exists()  # the condition read an empty filtered list
    # The last step's `step.*` is the lib.rs step's, plus what is still uncommitted (as
    # upstream: scratch.txt); `workflow.*` all of the run so far.
    assert (out / "run.txt").read_text() == (
        "lib.rs scratch.txt\nlib.rs\nnotes.md\nscratch.txt\n2\n")


def test_outside_git_the_values_are_empty(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "wf.yml").write_text(
        "- shell: echo hi > a.txt\n"
        "- shell: \"echo '[${step.files_changed}] [${workflow.commits:json}] "
        "${step.insertions}' > got.txt\"\n")
    run = cli(plain, "run", "wf.yml")
    assert run.returncode == 0, run.stderr
    assert (plain / "got.txt").read_text() == "[] [[]] 0\n"
