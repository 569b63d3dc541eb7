"""`prodigy batch PATTERN --command CMD` through the real CLI: one map item per matching file,
with what a map has (the DLQ and its retry, worktrees and merging back, claude agents), and
`prodigy clean` removing what a batch left in the state dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..claude_standin import FakeClaude
from .gitrepo import git, make_repo
from .test_run_cli import cli

pytestmark = pytest.mark.e2e


def tree(root: Path) -> Path:
    for name in ("src/a.txt", "src/sub/b.txt", "src/sub/c d.txt", "src/skip.md"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    return root


def test_runs_the_command_once_per_file_of_a_recursive_glob(tmp_path: Path) -> None:
    tree(tmp_path)
    run = cli(tmp_path, "batch", "src/**/*.txt", "--command", "echo ${item.path:sh} >> seen.txt",
              "--run-id", "b", "--parallel", "2")
    assert run.returncode == 0, run.stderr
    assert sorted((tmp_path / "seen.txt").read_text().splitlines()) == [
        "src/a.txt", "src/sub/b.txt", "src/sub/c d.txt"]
    assert "3 items (3 succeeded)" in run.stderr
    shown = json.loads(cli(tmp_path, "runs", "show", "b", "--json").stdout)
    assert shown["workflow"] == "batch" and shown["status"] == "succeeded"
    [loop] = shown["loops"].values()
    assert (loop["total"], loop["succeeded"]) == (3, 3)


def test_a_failing_file_goes_to_the_dlq_and_a_retry_runs_it_alone(tmp_path: Path) -> None:
    tree(tmp_path)
    command = ("shell: echo ${item.path:sh} >> seen.txt; "
               "test ${item.path:sh} != src/a.txt -o -f fixed")
    run = cli(tmp_path, "batch", "src/**/*.txt", "-c", command, "--run-id", "f", "--json")
    assert run.returncode == 0, run.stderr  # as any map: the others went on, the run finished
    end = json.loads(run.stdout.splitlines()[-1])
    assert (end["event"], end["items"]) == ("run_finished", {"succeeded": 2, "failed": 1})
    [entry] = json.loads(cli(tmp_path, "dlq", "list", "f", "--json").stdout)
    assert entry["item"] == {"path": "src/a.txt"}
    (tmp_path / "fixed").touch()
    retried = cli(tmp_path, "dlq", "retry", "f")
    assert retried.returncode == 0, retried.stderr
    assert sorted((tmp_path / "seen.txt").read_text().splitlines()) == [
        "src/a.txt", "src/a.txt", "src/sub/b.txt", "src/sub/c d.txt"]


def test_no_match_and_bad_options_are_diagnostics(tmp_path: Path) -> None:
    tree(tmp_path)
    none = cli(tmp_path, "batch", "nothing/**/*.py", "-c", "echo ${item.path:sh}")
    assert none.returncode == 2
    assert "error[P501]: batch 'nothing/**/*.py' matches no file" in none.stderr
    assert "Traceback" not in none.stderr
    for flags in (["--parallel", "0"], ["--jobs", "0"], ["--run-id", "no/slash"]):
        bad = cli(tmp_path, "batch", "src/*.txt", "-c", "true", *flags)
        assert bad.returncode == 2 and "error[P501]" in bad.stderr, flags
    empty = cli(tmp_path, "batch", "src/*.txt", "-c", "claude:")
    assert empty.returncode == 2 and "the command is empty" in empty.stderr
    assert cli(tmp_path, "batch", "src/*.txt", "-c", "true", "--run-id", "x").returncode == 0
    again = cli(tmp_path, "batch", "src/*.txt", "-c", "true", "--run-id", "x")
    assert again.returncode == 2 and "prodigy resume x" in again.stderr


def test_slash_commands_are_claude_agents_in_worktrees_merged_back_with_y(
        tmp_path: Path, fake_claude: FakeClaude) -> None:
    repo = make_repo(tmp_path / "repo", {"specs/1-a.md": "a", "specs/2-b.md": "b"})
    env = fake_claude.script(turns=[[{"text": "linted"}]])
    run = cli(repo, "batch", "specs/*.md", "-c", "/lint ${item.path}", "--run-id", "c", "-y",
              env=env)
    assert run.returncode == 0, run.stderr
    prompts = sorted(call["argv"][-1] for call in fake_claude.calls())
    assert prompts == ["/lint specs/1-a.md", "/lint specs/2-b.md"]
    # Each agent worked in a worktree of its own, not in the checkout.
    assert all(Path(call["cwd"]) != repo for call in fake_claude.calls())
    assert git(repo, "status", "--porcelain") == ""


def test_clean_removes_a_finished_batch_and_the_files_it_wrote(tmp_path: Path) -> None:
    tree(tmp_path)
    assert cli(tmp_path, "batch", "src/*.txt", "-c", "true", "--run-id", "gone").returncode == 0
    written = tmp_path / ".prodigy" / "batch"
    assert sorted(p.name for p in written.iterdir()) == ["gone.json", "gone.yml"]
    cleaned = cli(tmp_path, "clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout.startswith("removed gone ")
    assert list(written.iterdir()) == []
    assert cli(tmp_path, "runs", "show", "gone").returncode == 2
    assert cli(tmp_path, "dlq", "list", "gone").returncode == 2
