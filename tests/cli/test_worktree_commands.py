"""`prodigy worktree ls | clean` against real git repositories and real worktrees.

Each test makes a repository with one commit in `tmp_path`, points $PRODIGY_HOME at a folder of
its own, makes worktrees through `WorktreeHome.add` (as the runtime does) and sets their states
through `WorktreeHome.save`; `clean` is then checked against `git worktree list` and
`git branch`, not only against its own output.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prodigy.cli.main import build_parser, main
from prodigy.cli.worktree_commands import cmd_merge
from prodigy.runtime.git.repo import find_repo
from prodigy.runtime.git.worktrees import (
    WorktreeHome,
    WorktreeInfo,
    agent_branch,
    run_branch,
)
from prodigy.runtime.store import RunRecord, RunStatus, StateDir


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "test@example.com")
    _git(root, "config", "user.name", "Test")
    (root / "a.txt").write_text("a\n", encoding="utf-8")
    _git(root, "add", "a.txt")
    _git(root, "commit", "-q", "-m", "first")
    monkeypatch.setenv("PRODIGY_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def home(repo: Path) -> WorktreeHome:
    found = find_repo(repo)
    assert found is not None
    return WorktreeHome(found)


def _run(home: WorktreeHome, run_id: str, state: str = "active", reason: str = "",
         state_dir: str = "") -> WorktreeInfo:
    repo = home.repo
    assert repo.head is not None
    info = home.add(WorktreeInfo(str(home.run_path(run_id)), run_branch(run_id),
                                 str(repo.main_root), run_id, "run", repo.head, target="main",
                                 state_dir=state_dir))
    return home.save(dataclasses.replace(info, state=state, reason=reason))


def _agent(home: WorktreeHome, run: WorktreeInfo, item: str, state: str = "active",
           reason: str = "") -> WorktreeInfo:
    base = _git(Path(run.path), "rev-parse", "HEAD")
    info = home.add(WorktreeInfo(str(home.agent_path(run.run_id, item)),
                                 agent_branch(run.run_id, item), run.repo, run.run_id, "agent",
                                 base, item=item))
    return home.save(dataclasses.replace(info, state=state, reason=reason))


def _commit(info: WorktreeInfo, name: str) -> str:
    path = Path(info.path)
    (path / name).write_text(name + "\n", encoding="utf-8")
    _git(path, "add", name)
    _git(path, "commit", "-q", "-m", f"add {name}")
    return _git(path, "rev-parse", "HEAD")


def _age(home: WorktreeHome, info: WorktreeInfo, seconds: float) -> None:
    """`save` stamps updated_at with now: age a record by rewriting it."""
    meta = home._meta_path(Path(info.path))
    data = json.loads(meta.read_text(encoding="utf-8"))
    data["updated_at"] = time.time() - seconds
    meta.write_text(json.dumps(data), encoding="utf-8")


def _branches(repo: Path) -> set[str]:
    return set(_git(repo, "branch", "--format=%(refname:short)").split())


def _worktrees(repo: Path) -> set[str]:
    out = _git(repo, "worktree", "list", "--porcelain")
    return {line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")}


def _gone(repo: Path, *infos: WorktreeInfo) -> bool:
    """Neither directory, branch, git registration nor record is left of any of `infos`."""
    branches, worktrees = _branches(repo), _worktrees(repo)
    return all(i.branch not in branches and i.path not in worktrees and not Path(i.path).exists()
               for i in infos)


def _there(repo: Path, *infos: WorktreeInfo) -> bool:
    branches, worktrees = _branches(repo), _worktrees(repo)
    return all(i.branch in branches and i.path in worktrees for i in infos)


def _recorded(home: WorktreeHome) -> set[str]:
    return {i.path for i in home.all()}


# --- ls ----------------------------------------------------------------------------------------


def test_ls_prints_one_row_per_worktree_with_why_it_was_kept(
        home: WorktreeHome, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(home, "r1", state="kept", reason="merging into main conflicts in a.txt")
    _agent(home, run, "item_0", state="failed", reason="exit 1")
    gone = _agent(home, run, "item_1")
    home.remove(Path(gone.path), None)  # the directory vanished; the record and branch stay
    assert main(["worktree", "ls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KIND", "RUN_ID", "ITEM", "STATE", "AGE", "DIR", "BRANCH", "PATH"]
    assert lines[1].split() == ["run", "r1", "-", "kept", "0s", "present", "prodigy/r1",
                                run.path]
    assert lines[2].strip() == "why kept: merging into main conflicts in a.txt"
    assert lines[3].split()[:6] == ["agent", "r1", "item_0", "failed", "0s", "present"]
    assert lines[4].strip() == "why kept: exit 1"
    assert lines[5].split()[:6] == ["agent", "r1", "item_1", "active", "0s", "missing"]
    assert len(lines) == 6


def test_ls_json_is_a_list_of_objects(home: WorktreeHome,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(home, "r1")
    agent = _agent(home, run, "item_0", state="conflict", reason="merge conflict in a.txt")
    _age(home, agent, 3 * 86400)
    assert main(["worktree", "ls", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["run_id"], r["item"], r["branch"], r["path"], r["state"], r["reason"],
             r["exists"]) for r in rows] == [
        ("run", "r1", "", "prodigy/r1", run.path, "active", "", True),
        ("agent", "r1", "item_0", "prodigy/r1.agents/item_0", agent.path, "conflict",
         "merge conflict in a.txt", True)]
    assert rows[0]["age_seconds"] < 60 and rows[1]["age_seconds"] >= 3 * 86400
    assert rows[0]["target"] == "main"


def test_ls_without_worktrees_says_so(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worktree", "ls"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no prodigy worktrees" in captured.err
    assert main(["worktree", "ls", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_ls_and_clean_outside_git_are_invalid_input(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for argv in (["worktree", "ls"], ["worktree", "ls", "--json"], ["worktree", "clean"]):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert "P501" in captured.err and "not in a git repository" in captured.err
        assert "Traceback" not in captured.err and captured.out == ""


# --- clean: what it selects --------------------------------------------------------------------


def test_clean_by_default_removes_what_is_done_with_and_keeps_active_ones(
        repo: Path, home: WorktreeHome, capsys: pytest.CaptureFixture[str]) -> None:
    r1 = _run(home, "r1")
    failed = _agent(home, r1, "item_0", state="failed", reason="exit 1")
    conflict = _agent(home, r1, "item_1", state="conflict", reason="merge conflict in a.txt")
    active = _agent(home, r1, "item_2")
    merged = _run(home, "r2", state="merged")
    vanished = _run(home, "r3")
    home.remove(Path(vanished.path), None)  # its directory was deleted by hand
    assert main(["worktree", "clean"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5 and out[-1] == "removed 4 worktrees"
    assert all(line.startswith("removed ") for line in out)
    assert [line.endswith("(directory already gone)") for line in out[:-1]] == [
        vanished.path in line for line in out[:-1]]
    assert _gone(repo, failed, conflict, merged, vanished)
    assert _there(repo, r1, active)
    assert _recorded(home) == {r1.path, active.path}


def test_clean_run_id_removes_that_runs_worktrees_whatever_their_state(
        repo: Path, home: WorktreeHome, capsys: pytest.CaptureFixture[str]) -> None:
    r1 = _run(home, "r1")
    agents = [_agent(home, r1, "item_0"), _agent(home, r1, "item_1", state="failed")]
    r2 = _run(home, "r2", state="kept")
    r2_agent = _agent(home, r2, "item_0", state="failed")
    assert main(["worktree", "clean", "r1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "removed 3 worktrees"
    assert _gone(repo, r1, *agents)
    assert _there(repo, r2, r2_agent)
    assert not (home.root / "r1.agents").exists()


def test_clean_unknown_run_id_is_invalid_input(
        home: WorktreeHome, capsys: pytest.CaptureFixture[str]) -> None:
    _run(home, "r1", state="kept")
    assert main(["worktree", "clean", "nope"]) == 2
    captured = capsys.readouterr()
    assert "P505" in captured.err and "nope" in captured.err
    assert len(home.all()) == 1


def test_clean_all_removes_every_worktree(
        repo: Path, home: WorktreeHome, capsys: pytest.CaptureFixture[str]) -> None:
    r1 = _run(home, "r1")
    infos = [r1, _agent(home, r1, "item_0"), _run(home, "r2", state="kept")]
    assert main(["worktree", "clean", "--all"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "removed 3 worktrees"
    assert _gone(repo, *infos)
    assert home.all() == []
    assert _worktrees(repo) == {str(repo)} and _branches(repo) == {"main"}


def test_clean_merged_only_keeps_branches_with_commits_of_their_own(
        repo: Path, home: WorktreeHome, capsys: pytest.CaptureFixture[str]) -> None:
    into_main = _run(home, "r1", state="kept")
    _commit(into_main, "b.txt")
    _git(repo, "merge", "-q", "--no-ff", "-m", "merge r1", into_main.branch)
    unmerged = _run(home, "r2", state="kept")
    _commit(unmerged, "c.txt")
    run = _run(home, "r3")
    in_run = _agent(home, run, "item_0", state="failed")
    _commit(in_run, "d.txt")
    _git(Path(run.path), "merge", "-q", "--no-ff", "-m", "merge item_0", in_run.branch)
    own = _agent(home, run, "item_1", state="conflict")
    _commit(own, "e.txt")
    said_merged = _agent(home, run, "item_2", state="merged")
    _commit(said_merged, "f.txt")  # the state says merged: it is taken at its word
    assert main(["worktree", "clean", "--merged-only"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "removed 3 worktrees"
    assert _gone(repo, into_main, in_run, said_merged)
    assert _there(repo, unmerged, run, own)


def test_clean_older_than_compares_the_last_state_change(
        repo: Path, home: WorktreeHome, capsys: pytest.CaptureFixture[str]) -> None:
    old = _run(home, "r1", state="merged")
    _age(home, old, 8 * 86400)
    recent = _run(home, "r2", state="merged")
    _age(home, recent, 2 * 3600)
    assert main(["worktree", "clean", "--older-than", "7d"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "removed 1 worktree"
    assert _gone(repo, old) and _there(repo, recent)
    assert main(["worktree", "clean", "--older-than", "1h30m"]) == 0
    assert _gone(repo, recent)


@pytest.mark.parametrize("duration", ["7", "7x", "d", "-1d", "7 days", ""])
def test_clean_older_than_a_bad_duration_is_invalid_input(
        home: WorktreeHome, capsys: pytest.CaptureFixture[str], duration: str) -> None:
    _run(home, "r1", state="merged")
    assert main(["worktree", "clean", f"--older-than={duration}"]) == 2
    captured = capsys.readouterr()
    assert "P501" in captured.err and "--older-than" in captured.err
    assert "Traceback" not in captured.err
    assert len(home.all()) == 1


def test_clean_dry_run_removes_nothing(
        repo: Path, home: WorktreeHome, capsys: pytest.CaptureFixture[str]) -> None:
    r1 = _run(home, "r1", state="merged")
    agent = _agent(home, r1, "item_0", state="failed")
    before = (_branches(repo), _worktrees(repo), home.all())
    assert main(["worktree", "clean", "--all", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"would remove run worktree r1 (merged) {r1.path}")
    assert out[1].startswith(f"would remove agent worktree r1/item_0 (failed) {agent.path}")
    assert out[2] == "would remove 2 worktrees"
    assert (_branches(repo), _worktrees(repo), home.all()) == before


# --- clean: what it keeps ----------------------------------------------------------------------


def test_a_run_branch_with_unmerged_commits_needs_force(
        repo: Path, home: WorktreeHome, capsys: pytest.CaptureFixture[str]) -> None:
    kept = _run(home, "r1", state="kept", reason="declined")
    _commit(kept, "b.txt")
    for argv in (["worktree", "clean"], ["worktree", "clean", "r1"],
                 ["worktree", "clean", "--all"]):
        assert main(argv) == 0
        captured = capsys.readouterr()
        assert captured.out.splitlines()[-1] == "removed 0 worktrees, kept 1"
        assert "holds 1 commit that no other branch has" in captured.err
        assert "--force" in captured.err
        assert _there(repo, kept) and len(home.all()) == 1
    assert main(["worktree", "clean", "--force"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "removed 1 worktree"
    assert _gone(repo, kept) and home.all() == []


def test_a_run_in_progress_is_never_removed(
        repo: Path, home: WorktreeHome, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    state_dir = tmp_path / "state"
    live = StateDir(state_dir)
    now = time.time()
    live.write_run(RunRecord("r1", RunStatus.RUNNING, "wf", "wf.yml", str(repo), now, now,
                             os.getpid()))
    live.lock("r1")
    try:
        run = _run(home, "r1", state_dir=str(state_dir))
        agent = _agent(home, run, "item_0", state="failed")
        assert main(["worktree", "clean", "--all", "--force"]) == 0
        captured = capsys.readouterr()
        assert captured.out.splitlines()[-1] == "removed 0 worktrees, kept 2"
        assert captured.err.count("run r1 is in progress") == 2
        assert _there(repo, run, agent)
    finally:
        live.unlock()
    assert main(["worktree", "clean", "--all"]) == 0  # its driver is gone: interrupted
    assert _gone(repo, run, agent)


# --- the parser and the real entry point -------------------------------------------------------


def test_merge_is_registered_for_merge_commands() -> None:
    args = build_parser().parse_args(["worktree", "merge", "r1", "-y", "--state-dir", "s"])
    assert (args.run_id, args.yes, args.state_dir, args.handler) == ("r1", True, "s", cmd_merge)
    assert build_parser().parse_args(["worktree", "merge", "r1"]).yes is False


def test_worktree_without_an_action_is_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["worktree"])
    assert exc.value.code == 2


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PRODIGY_HOME": str(tmp_path / "home"),
           "GIT_CEILING_DIRECTORIES": str(tmp_path)}


def test_the_installed_command_lists_and_cleans(repo: Path, home: WorktreeHome,
                                                env: dict[str, str]) -> None:
    run = _run(home, "r1", state="merged")

    def prodigy(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "prodigy", "worktree", *argv], cwd=repo,
                              env=env, capture_output=True, text=True, check=False)

    listed = prodigy("ls", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["path"] for r in json.loads(listed.stdout)] == [run.path]
    cleaned = prodigy("clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout.splitlines()[-1] == "removed 1 worktree"
    assert _gone(repo, run)
    bad = prodigy("clean", "--older-than", "soon")
    assert bad.returncode == 2 and "P501" in bad.stderr and "Traceback" not in bad.stderr
