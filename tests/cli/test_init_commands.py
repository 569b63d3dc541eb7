"""`prodigy init`: starter slash commands in `.claude/commands/`, never over a user's own file
without --force, in a repository's top directory or in any directory given."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from prodigy.cli.main import main
from prodigy.starter_commands import COMMANDS

REQUIRED = ("prodigy-implement-spec", "prodigy-lint", "prodigy-code-review",
            "prodigy-merge-worktree", "prodigy-cleanup-tech-debt", "prodigy-debug-test-failure")
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "prodigy" / "workflows"


def written(root: Path) -> set[str]:
    return {p.stem for p in (root / ".claude" / "commands").glob("*.md")}


def test_init_writes_every_starter_command_into_the_directory_given(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path)]) == 0  # not a git repository: fine
    assert written(tmp_path) == set(COMMANDS) >= set(REQUIRED)
    for name, text in COMMANDS.items():
        assert (tmp_path / ".claude" / "commands" / f"{name}.md").read_text() == text
    out = capsys.readouterr().out
    assert out.count("wrote ") == len(COMMANDS) and "kept  " not in out


def test_existing_files_are_kept_and_named_unless_force(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / ".claude" / "commands" / "prodigy-lint.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("my own lint command\n")
    assert main(["init", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert mine.read_text() == "my own lint command\n"
    assert f"kept  {mine}" in captured.out and "--force" in captured.out
    assert f"{len(COMMANDS) - 1} written, 1 kept" in captured.err
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert mine.read_text() == COMMANDS["prodigy-lint"]
    assert "kept  " not in capsys.readouterr().out


def test_list_prints_the_names_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--list"]) == 0
    assert capsys.readouterr().out.split() == [f".claude/commands/{n}.md" for n in COMMANDS]
    assert not (tmp_path / ".claude").exists()


def test_without_dir_it_writes_at_the_top_of_the_current_repository(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    deep = tmp_path / "repo" / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert main(["init"]) == 0
    assert written(tmp_path / "repo") == set(COMMANDS)
    outside = tmp_path / "plain"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert main(["init"]) == 0
    assert written(outside) == set(COMMANDS)


def test_a_dir_that_is_not_one_is_invalid_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "missing")]) == 2
    assert "P501" in capsys.readouterr().err
    (tmp_path / ".claude").write_text("a file where the folder belongs")
    assert main(["init", str(tmp_path)]) == 2
    assert "cannot write into" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_front_matter_and_takes_its_arguments(name: str) -> None:
    text = COMMANDS[name]
    front = re.match(r"---\ndescription: (.+)\nargument-hint: (.+)\n---\n", text)
    assert front is not None and len(front.group(1)) < 100, name
    assert text.count("$ARGUMENTS") == 1 and text.endswith("\n")
    assert name.startswith("prodigy-")


def test_merge_worktree_explains_a_merge_of_source_into_target() -> None:
    text = COMMANDS["prodigy-merge-worktree"]
    for words in ("SOURCE", "TARGET", "git worktree list", "git merge --no-ff",
                  "git merge --abort", "--diff-filter=U", "${merge.source_branch}"):
        assert words in text


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the upstream corpus is not on this machine")
def test_the_commands_upstream_workflows_call_most_are_covered() -> None:
    calls: dict[str, int] = {}
    for path in CORPUS.glob("*.yml"):
        for name in set(re.findall(r"/(prodigy-[A-Za-z0-9_-]+)", path.read_text())):
            calls[name] = calls.get(name, 0) + 1
    top = sorted(calls, key=lambda n: -calls[n])[:6]
    assert set(top) <= set(COMMANDS), top
