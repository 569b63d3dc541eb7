"""The crash test: SIGKILL the driver at several points of a real run (local process pool),
then `prodigy resume`. Every node that finished (its done record committed) ran exactly once,
the interrupted node ran again, and the checkpoint store passes diskcache's check().

Nodes append to counter files, so "ran" is what the filesystem says, not what prodigy says.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_run_cli import counts, wait_for, write_plan

pytestmark = pytest.mark.e2e

BLOCK = "while [ ! -f release.{0} ]; do sleep 0.05; done"
NODES = [
    ("a", "shell", {"command": "echo a >> a.count"}),
    ("b", "shell", {"command": "echo $$ >> b.pids; echo b >> b.count; " + BLOCK.format("b")}),
    ("c", "shell", {"command": "echo c >> c.count; " + BLOCK.format("c")}),
    ("d", "shell", {"command": "echo d >> d.count"}),
]
EDGES = [("a", "b", "sequence"), ("b", "c", "sequence"), ("c", "d", "sequence")]

# Crash between "b's command finished" and "b's done record committed".
KILL_BEFORE_COMMIT = """
import os, signal, sys
from prodigy.runtime import store
real = store.CheckpointStore.write
def write(self, run_id, records):
    records = list(records)
    if any(r.node_id == "b" and r.status is store.RecordStatus.DONE for r in records):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, run_id, records)
store.CheckpointStore.write = write
from prodigy.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def driver(cwd: Path, plan: Path, wrapper: str | None) -> subprocess.Popen[bytes]:
    args = ["exec", str(plan), "--run-id", "crash", "--jobs", "2", "--executor", "local"]
    prefix = ["-c", wrapper] if wrapper else ["-m", "prodigy"]
    return subprocess.Popen([sys.executable, *prefix, *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PRODIGY_KILL_GRACE_S": "1"})


def finished_in_log(cwd: Path, node: str) -> bool:
    log = cwd / ".prodigy" / "runs" / "crash" / "events.jsonl"
    if not log.exists():
        return False
    return any(json.loads(line).get("event") == "node_finished" and
               json.loads(line).get("node") == node
               for line in log.read_text().splitlines() if line.strip())


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def pids(cwd: Path) -> list[int]:
    path = cwd / "b.pids"
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.parametrize("point", ["while_b_runs", "after_b_committed", "before_b_committed"])
def test_sigkill_then_resume_runs_finished_nodes_exactly_once(tmp_path: Path, point: str) -> None:
    plan = write_plan(tmp_path / "plan.json", NODES, EDGES)
    proc = driver(tmp_path, plan, KILL_BEFORE_COMMIT if point == "before_b_committed" else None)
    try:
        wait_for(tmp_path / "b.pids")
        if point == "after_b_committed":
            (tmp_path / "release.b").touch()
            deadline = time.monotonic() + 20
            while not finished_in_log(tmp_path, "b"):
                assert time.monotonic() < deadline
                time.sleep(0.02)
        elif point == "before_b_committed":
            (tmp_path / "release.b").touch()  # b finishes; the driver dies committing it
            proc.wait(timeout=20)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        proc.kill()
    c_before = counts(tmp_path, "c")[0]  # c may have started right after b was committed
    orphan = pids(tmp_path)[0]
    resumed = subprocess.Popen([sys.executable, "-m", "prodigy", "resume", "crash"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "PRODIGY_KILL_GRACE_S": "1"})
    try:
        if point == "while_b_runs":
            # The resume stops what the dead driver left running before it runs b again.
            deadline = time.monotonic() + 20
            while len(pids(tmp_path)) < 2:
                assert time.monotonic() < deadline, "b was not run again"
                time.sleep(0.05)
            assert not alive(orphan), "the killed run's command was still running"
            (tmp_path / "release.b").touch()
        (tmp_path / "release.c").touch()
        _, err = resumed.communicate(timeout=40)
    finally:
        resumed.kill()
    assert resumed.returncode == 0, err
    a, b, c, d = counts(tmp_path, "a", "b", "c", "d")
    assert (a, d) == (1, 1)
    assert b == (1 if point == "after_b_committed" else 2)
    assert c == c_before + 1
    from prodigy.runtime.store import CheckpointStore

    store = CheckpointStore(tmp_path / ".prodigy" / "cache")
    try:
        assert store.check() == []
    finally:
        store.close()
