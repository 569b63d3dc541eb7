"""A run's status told truthfully through the CLI: resuming a run that already succeeded says
so and touches nothing; a driver killed with SIGKILL leaves a run shown `interrupted`, whose
time stops growing, and no warning of loky's on the terminal; items named by content in
`dlq list` and `runs show`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_run_cli import cli, wait_for

pytestmark = pytest.mark.e2e


def test_resuming_a_run_that_succeeded_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text('commands:\n  - shell: "echo a >> a.count"\n')
    assert cli(tmp_path, "run", "wf.yml", "--run-id", "r1").returncode == 0
    run_dir = tmp_path / ".prodigy" / "runs" / "r1"
    before = {p.name: p.read_bytes() for p in (run_dir / "run.json", run_dir / "events.jsonl")}

    again = cli(tmp_path, "resume", "r1")
    assert again.returncode == 0, again.stderr
    assert "run r1 already succeeded: nothing to resume" in again.stderr
    as_json = cli(tmp_path, "resume", "r1", "--json")
    assert as_json.returncode == 0
    [record] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert (record["event"], record["status"], record["unchanged"]) == (
        "run_finished", "succeeded", True)
    same = cli(tmp_path, "run", "wf.yml", "--resume", "r1")  # the same workflow: the same
    assert same.returncode == 0 and "already succeeded" in same.stderr
    assert {p.name: p.read_bytes() for p in (run_dir / "run.json",
                                             run_dir / "events.jsonl")} == before
    assert (tmp_path / "a.count").read_text() == "a\n"


def _children(pid: int, word: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = next(int(line.split()[1]) for line in status.splitlines()
                    if line.startswith("PPid:"))
        if ppid == pid and word in cmdline:
            found.append(int(entry.name))
    return found


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "State:\tZ" in status


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_run_killed_with_sigkill_shows_interrupted_and_no_semlock_warning(
        tmp_path: Path) -> None:
    # A captured step runs on a loky pool worker: the pool, its resource tracker and all.
    (tmp_path / "wf.yml").write_text(
        'commands:\n  - shell: "touch started; sleep 30"\n    capture: out\n')
    with (tmp_path / "stderr.txt").open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "prodigy", "run", "wf.yml", "--run-id",
                                 "k9", "--executor", "local"], cwd=tmp_path, text=True,
                                stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, "PRODIGY_KILL_GRACE_S": "1"})
    try:
        wait_for(tmp_path / "started", timeout=30)
        trackers = _children(proc.pid, "resource_tracker")
        assert trackers, "the pool's resource tracker is not running"
        running = json.loads(cli(tmp_path, "runs", "--json").stdout)
        assert [r["status"] for r in running] == ["running"]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    runs = json.loads(cli(tmp_path, "runs", "--json").stdout)
    assert [r["status"] for r in runs] == ["interrupted"]  # its pid is gone
    listed = [cli(tmp_path, "runs").stdout.splitlines()[1].split() for _ in range(2)
              if time.sleep(0.6) is None]
    assert listed[0][1] == "interrupted" and listed[0][4] == listed[1][4]  # time stands still
    shown = cli(tmp_path, "runs", "show", "k9").stdout
    assert "status:    interrupted" in shown and f"its process {proc.pid} is gone" in shown

    deadline = time.monotonic() + 30
    while not all(_gone(pid) for pid in trackers):  # it cleans up once the pool is gone
        assert time.monotonic() < deadline, "the resource tracker never finished"
        time.sleep(0.1)
    text = (tmp_path / "stderr.txt").read_text()
    assert "running" in text and "leaked" not in text and "semlock" not in text, text


def test_items_are_named_by_content_in_the_dlq_and_runs_show(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text(json.dumps([{"path": "src/ok.py"},
                                                     {"path": "src/bad.py"}]))
    (tmp_path / "wf.yml").write_text("""\
name: labels
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: "echo 'cannot parse ${item.path}' >&2; test ${item.path} = src/ok.py"
""")
    run = cli(tmp_path, "run", "wf.yml", "--run-id", "m1")
    assert run.returncode == 0, run.stderr
    assert "FAILED   map: items.json [src/bad.py]: exit code 1 in shell: " in run.stderr
    assert "         | cannot parse src/bad.py" in run.stderr
    assert "    details: prodigy dlq show m1 item_1" in run.stderr

    listed = cli(tmp_path, "dlq", "list", "m1").stdout.splitlines()
    assert listed[0].split()[:3] == ["ITEM", "LABEL", "TYPE"]
    assert listed[1].split()[:3] == ["item_1", "src/bad.py", "command_failed"]
    shown = cli(tmp_path, "dlq", "show", "m1", "src/bad.py")  # by its label, too
    assert shown.returncode == 0, shown.stderr
    assert "item_label:          src/bad.py" in shown.stdout
    assert "stderr (tail):\n  | cannot parse src/bad.py" in shown.stdout

    show = cli(tmp_path, "runs", "show", "m1").stdout
    assert "items:     map: items.json: 2 items, 1 succeeded, 1 failed" in show
    assert "  failed       src/bad.py (item_1 of map): exit code 1 in shell: " in show
    assert "details: prodigy dlq show m1 item_1" in show
    assert "end of" not in show  # the plan's barriers are no steps of the user's
    as_json = json.loads(cli(tmp_path, "runs", "show", "m1", "--json").stdout)
    assert [i["item_label"] for i in as_json["failed_items"]] == ["src/bad.py"]
