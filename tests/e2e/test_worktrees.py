"""Runs and map agents in git worktrees, through the real CLI, in scratch repositories."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .gitrepo import git, make_repo
from .test_run_cli import cli

pytestmark = pytest.mark.e2e

ISOLATED = """\
name: isolated
commands:
  - shell: |
      echo change > new.txt
      git add new.txt && git commit -q -m "add new.txt"
  - shell: |
      test ! -e "$ORIGIN/new.txt"
      git -C "$ORIGIN" rev-parse HEAD > "$ORIGIN/../head-during"
      pwd > "$ORIGIN/../where"
"""


def test_the_run_works_in_its_own_worktree_and_is_merged_on_request(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "wf.yml").write_text(ISOLATED)
    start = git(repo, "rev-parse", "HEAD")
    (repo / "README.md").write_text("dirty, not committed\n")  # not an error: not included
    run = cli(repo, "run", "wf.yml", "--run-id", "w1", env={"ORIGIN": str(repo)})
    assert run.returncode == 0, run.stderr
    assert "uncommitted changes in the checkout are not included" in run.stderr
    # The checkout was not touched: HEAD did not move, no file appeared.
    assert (tmp_path / "head-during").read_text().strip() == start
    assert git(repo, "rev-parse", "HEAD") == start and not (repo / "new.txt").exists()
    where = Path((tmp_path / "where").read_text().strip())
    assert where.name == "w1" and Path(os.environ["PRODIGY_HOME"]) in where.parents
    # Not a terminal and no -y: the branch is kept, and the user is told how to merge it.
    assert "prodigy worktree merge w1" in run.stderr
    assert git(repo, "log", "--format=%s", "prodigy/w1", "-1") == "add new.txt"
    assert git(repo, "status", "--porcelain") == "M README.md\n?? wf.yml"

    refused = cli(repo, "worktree", "merge", "w1", "-y")  # README.md is dirty
    assert refused.returncode == 1 and "uncommitted changes" in refused.stderr
    assert git(repo, "rev-parse", "HEAD") == start
    git(repo, "checkout", "README.md")
    merged = cli(repo, "worktree", "merge", "w1", "-y")
    assert merged.returncode == 0, merged.stderr
    assert (repo / "new.txt").read_text() == "change\n"
    assert git(repo, "branch", "--list", "prodigy/*") == "" and not where.exists()
    record = json.loads((repo / ".prodigy/runs/w1/run.json").read_text())
    assert record["merge"]["status"] == "merged"


def test_in_place_and_outside_git(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "wf.yml").write_text("commands:\n  - shell: pwd > where\n")
    run = cli(repo, "run", "wf.yml", "--in-place")
    assert run.returncode == 0, run.stderr
    assert (repo / "where").read_text().strip() == str(repo)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "wf.yml").write_text("commands:\n  - shell: pwd > where\n")
    run = cli(plain, "run", "wf.yml")
    assert run.returncode == 0 and "not a git repository: the run works in place" in run.stderr
    assert (plain / "where").read_text().strip() == str(plain)


MAP = """\
name: agents
mode: mapreduce
setup:
  - shell: "seq 0 19 > items.txt"
map:
  input: "cat items.txt"
  max_parallel: 4
  agent_template:
    - shell: |
        echo ${item} > f${item}.txt
        git add f${item}.txt && git commit -q -m "item ${item}"
      commit_required: true
reduce:
  - write_file:
      path: results.json
      content: "${map.results}"
  - shell: "ls f*.txt | wc -l > count.txt && git add -A . ':!items.txt' && git commit -qm reduce"
"""


def test_twenty_agents_each_in_a_worktree_all_merged_and_landed_with_yes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "wf.yml").write_text(MAP)
    run = cli(repo, "run", "wf.yml", "--run-id", "m20", "--jobs", "4", "-y")
    assert run.returncode == 0, run.stderr
    assert "merged: merged" in run.stderr
    assert sorted(p.name for p in repo.glob("f*.txt")) == sorted(f"f{i}.txt" for i in range(20))
    assert (repo / "count.txt").read_text().strip() == "20"
    results = json.loads((repo / "results.json").read_text())
    assert len(results) == 20
    for entry in results:
        assert entry["status"] == "succeeded" and len(entry["commits"]) == 1
        assert entry["branch"] == f"prodigy/m20.agents/{entry['item_id']}"
    # Every agent commit is on main exactly once; no branch or worktree is left behind.
    subjects = git(repo, "log", "--format=%s", "main").splitlines()
    assert sorted(s for s in subjects if s.startswith("item ")) == sorted(
        f"item {i}" for i in range(20))
    assert git(repo, "branch", "--list", "prodigy/*") == ""
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


CONFLICT = """\
name: conflict
mode: mapreduce
map:
  input: "printf 'a\\\\nb\\\\n'"
  max_parallel: 2
  agent_template:
    - shell: |
        echo ${item} >> shared.txt
        git commit -qam "${item} edits shared.txt"
"""


def test_two_agents_editing_one_line_one_merges_the_other_goes_to_the_dlq(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"shared.txt": "base\n"})
    (repo / "wf.yml").write_text(CONFLICT)
    run = cli(repo, "run", "wf.yml", "--run-id", "c1", "--jobs", "2")
    assert run.returncode == 0, run.stderr
    [entry] = json.loads(cli(repo, "dlq", "list", "c1", "--json").stdout)
    assert entry["error_type"] == "merge_conflict" and "shared.txt" in entry["error"]
    run_tree = Path(json.loads((repo / ".prodigy/runs/c1/run.json").read_text())
                    ["workspace"]["worktree"])
    # The run's worktree is not left mid-merge, and it holds exactly one agent's line.
    assert git(run_tree, "status", "--porcelain") == ""
    assert (run_tree / "shared.txt").read_text() in ("base\na\n", "base\nb\n")
    loser = entry["item_id"]
    assert git(repo, "branch", "--list", f"prodigy/c1.agents/{loser}") != ""
    listed = json.loads(cli(repo, "worktree", "ls", "--json").stdout)
    kept = [w for w in listed if w.get("item") == loser]
    assert kept and kept[0]["state"] == "conflict"
    assert [w["state"] for w in listed if w["kind"] == "run"] == ["kept"]  # not merged yet

    # Retried from the run branch as it is now, the item merges; -y lands both on main.
    retried = cli(repo, "dlq", "retry", "c1", "-y")
    assert retried.returncode == 0, retried.stderr
    assert sorted((repo / "shared.txt").read_text().split()) == ["a", "b", "base"]
    assert git(repo, "branch", "--list", "prodigy/*") == ""
    assert json.loads(cli(repo, "worktree", "ls", "--json").stdout) == []


def test_commit_required_fails_an_agent_that_made_no_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "wf.yml").write_text("""\
mode: mapreduce
map:
  input: "printf '1\\\\n2\\\\n'"
  agent_template:
    - shell: "test ${item} = 2 || (echo x > f${item} && git add f${item} && git commit -qm c)"
      commit_required: true
""")
    run = cli(repo, "run", "wf.yml", "--run-id", "cr", "-y")
    assert run.returncode == 0, run.stderr
    [entry] = json.loads(cli(repo, "dlq", "list", "cr", "--json").stdout)
    assert entry["item"] == 2 and entry["error_type"] == "commit_required"
    assert (repo / "f1").exists()


def test_a_merge_block_replaces_the_default_merge(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "wf.yml").write_text("""\
name: custom-merge
commands:
  - shell: "echo x > x.txt && git add x.txt && git commit -qm x"
merge:
  - shell: |
      echo "${merge.source_branch} ${merge.target_branch} ${merge.session_id}" > "$ORIGIN/../vars"
      test "$(pwd)" = "${merge.worktree}"
      git -C "$ORIGIN" merge -q --no-ff -m "custom merge" "${merge.source_branch}"
""")
    run = cli(repo, "run", "wf.yml", "--run-id", "cm", "-y", env={"ORIGIN": str(repo)})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "vars").read_text().split() == ["prodigy/cm", "main", "cm"]
    assert git(repo, "log", "-1", "--format=%s") == "custom merge"
    assert (repo / "x.txt").exists() and git(repo, "branch", "--list", "prodigy/*") == ""


CRASH = """\
name: crash
mode: mapreduce
map:
  input: "seq 0 8"
  max_parallel: 3
  agent_template:
    - shell: |
        echo x >> "$COUNTS/${item}"
        echo ${item} > f${item}.txt
        git add f${item}.txt && git commit -q -m "item ${item}"
        if [ ${item} -ge 5 ]; then
          touch "$COUNTS/started-${item}"
          while [ ! -f "$COUNTS/release" ]; do sleep 0.05; done
        fi
"""


def test_kill_9_mid_map_then_resume_merges_every_agent_commit_exactly_once(
        tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from prodigy.runtime.store import CheckpointStore

    from .test_run_cli import wait_for

    repo = make_repo(tmp_path / "repo")
    counts = tmp_path / "counts"
    counts.mkdir()
    (repo / "wf.yml").write_text(CRASH)
    env = {**os.environ, "PRODIGY_KILL_GRACE_S": "1", "COUNTS": str(counts)}
    driver = subprocess.Popen([sys.executable, "-m", "prodigy", "run", "wf.yml", "--run-id",
                               "k9", "--jobs", "3"], cwd=repo, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for item in (5, 6, 7):  # 5-7 hang in their worktrees
            wait_for(counts / f"started-{item}", timeout=30)
        deadline = time.monotonic() + 30
        while git(repo, "rev-list", "--merges", "--count", "prodigy/k9") != "5":
            assert time.monotonic() < deadline, "items 0-4 were never merged"
            time.sleep(0.05)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=20)
    finally:
        driver.kill()
    # A crash between an agent's merge and its record: the record of item 1 is lost.
    store = CheckpointStore(repo / ".prodigy" / "cache")
    try:
        assert store.get_item("k9", "map", 1) is not None
        store.cache.delete(CheckpointStore._item_key("k9", "map", 1))
    finally:
        store.close()
    (counts / "release").touch()
    resumed = cli(repo, "resume", "k9", "--jobs", "3", "-y", env={"COUNTS": str(counts)},
                  timeout=90)
    assert resumed.returncode == 0, resumed.stderr
    ran = {int(p.name): len(p.read_text().split()) for p in counts.iterdir()
           if p.name.isdigit()}
    # Merged items ran once (item 1 was recovered from its merge commit, not run again);
    # the three killed in flight ran again; item 8 ran once.
    assert ran == {0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 2, 6: 2, 7: 2, 8: 1}
    subjects = git(repo, "log", "--format=%s", "main").splitlines()
    assert sorted(s for s in subjects if s.startswith("item ")) == [f"item {i}" for i in range(9)]
    assert sorted(p.name for p in repo.glob("f*.txt")) == [f"f{i}.txt" for i in range(9)]
    # Nothing left behind: the half-done agents' worktrees were replaced, then removed.
    assert git(repo, "branch", "--list", "prodigy/*") == ""
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_two_runs_of_one_project_at_once_and_resuming_a_live_run_is_exit_4(
        tmp_path: Path) -> None:
    import subprocess
    import sys

    from .test_run_cli import wait_for

    repo = make_repo(tmp_path / "repo")
    (repo / "slow.yml").write_text(
        "commands:\n  - shell: 'touch \"$FLAGS/started\"; while [ ! -f \"$FLAGS/go\" ]; do "
        "sleep 0.05; done'\n")
    (repo / "quick.yml").write_text("commands:\n  - shell: 'echo quick'\n")
    flags = tmp_path / "flags"
    flags.mkdir()
    env = {**os.environ, "FLAGS": str(flags)}
    slow = subprocess.Popen([sys.executable, "-m", "prodigy", "run", "slow.yml", "--run-id",
                             "slow"], cwd=repo, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(flags / "started", timeout=30)
        quick = cli(repo, "run", "quick.yml", "--run-id", "quick")
        assert quick.returncode == 0, quick.stderr
        locked = cli(repo, "resume", "slow")
        assert locked.returncode == 4 and "in use" in locked.stderr
        (flags / "go").touch()
        assert slow.wait(timeout=60) == 0, slow.stderr.read() if slow.stderr else ""
    finally:
        slow.kill()
    assert (repo / ".prodigy" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert git(repo, "status", "--porcelain") == "?? quick.yml\n?? slow.yml"


def test_iterations_stop_after_one_that_made_no_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"n": "0\n"})
    (repo / "wf.yml").write_text("""\
commands:
  - shell: |
      n=$(cat n); echo "${ITERATION} $ITERATION" >> "$ORIGIN/../seen"
      if [ $n -lt 2 ]; then echo $((n+1)) > n; git commit -qam "bump to $((n+1))"; fi
""")
    run = cli(repo, "run", "wf.yml", "-n", "5", "-y", env={"ORIGIN": str(repo)})
    assert run.returncode == 0, run.stderr
    # Iterations 1 and 2 committed, 3 did not: no 4th.
    assert (tmp_path / "seen").read_text().split("\n")[:-1] == ["1 1", "2 2", "3 3"]
    assert "iteration 3 made no commits" in run.stderr
    assert (repo / "n").read_text() == "2\n"
    bad = cli(repo, "run", "wf.yml", "-n", "0")
    assert bad.returncode == 2 and "--max-iterations" in bad.stderr


CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "prodigy"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not available")
def test_upstreams_minimal_mapreduce_merges_every_agent(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "wf.yml").write_text((CORPUS / "workflows/tests/minimal-mapreduce.yml").read_text())
    run = cli(repo, "run", "wf.yml", "--run-id", "mm", "--jobs", "3", "-y")
    assert run.returncode == 0, run.stderr
    assert "All 3 items were processed successfully" in run.stderr
    assert sorted(p.name for p in repo.glob("output-*.txt")) == [
        "output-item-one.txt", "output-item-three.txt", "output-item-two.txt"]
    assert len(git(repo, "log", "--merges", "--format=%s", "main").splitlines()) == 4


def test_merging_back_over_a_conflicting_checkout_changes_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"f.txt": "base\n"})
    (repo / "wf.yml").write_text(
        "commands:\n  - shell: 'echo run > f.txt && git commit -qam run'\n")
    run = cli(repo, "run", "wf.yml", "--run-id", "mc")
    assert run.returncode == 0, run.stderr
    (repo / "f.txt").write_text("user\n")  # meanwhile, the user changed the same line
    git(repo, "commit", "-qam", "user")
    before = git(repo, "rev-parse", "HEAD")
    merged = cli(repo, "worktree", "merge", "mc", "-y")
    assert merged.returncode == 1 and "conflicts in f.txt" in merged.stderr
    assert git(repo, "rev-parse", "HEAD") == before and git(repo, "status", "--porcelain") == \
        "?? wf.yml"
    assert (repo / "f.txt").read_text() == "user\n"
    assert git(repo, "branch", "--list", "prodigy/mc") != ""  # kept, to finish by hand
