"""The map crash test: SIGKILL the driver in the middle of a map (local process pool), then
`prodigy resume`. Items that finished (succeeded, or failed into the DLQ) are not run again,
the ones in flight are, the rest run for the first time, and the DLQ is intact.

Agents append to per-item counter files, so "ran" is what the filesystem says.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .test_run_cli import cli, wait_for

pytestmark = pytest.mark.e2e

WORKFLOW = """\
name: map-crash
mode: mapreduce
setup:
  - shell: "printf '%s' '[1, 2, 3, 4, 5, 6]' > items.json"
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: "echo x >> ${item_id}.count"
    - shell: "test ${item} != 3"
    - shell: |
        if [ ${item} -ge 4 ] && [ ${item} -le 5 ]; then
          echo $$ > ${item_id}.pid
          while [ ! -f release ]; do sleep 0.05; done
        fi
reduce:
  - shell: "echo ${map.successful} ${map.failed} ${map.total} > reduce.txt"
"""


def count(root: Path, index: int) -> int:
    path = root / f"item_{index}.count"
    return len(path.read_text().split()) if path.exists() else 0


def start(tmp_path: Path, workflow: str, run_id: str,
          output: int = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """The driver of `prodigy run` on `workflow`, two at a time, a short kill grace."""
    (tmp_path / "wf.yml").write_text(workflow)
    env = {**os.environ, "PRODIGY_KILL_GRACE_S": "1"}
    return subprocess.Popen([sys.executable, "-m", "prodigy", "run", "wf.yml", "--run-id",
                             run_id, "--jobs", "2"], cwd=tmp_path, env=env, text=True,
                            stdout=output, stderr=output)


def test_sigkill_mid_map_then_resume(tmp_path: Path) -> None:
    driver = start(tmp_path, WORKFLOW, "crash")
    try:
        # Item 4 starts only after item 3 failed and its DLQ entry was committed (a task is
        # sent after the round's records are in); items 4 and 5 then block until released.
        wait_for(tmp_path / "item_3.pid", timeout=30)
        wait_for(tmp_path / "item_4.pid", timeout=30)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=20)
    finally:
        driver.kill()
    assert [count(tmp_path, i) for i in range(6)] == [1, 1, 1, 1, 1, 0]
    assert not (tmp_path / "reduce.txt").exists()
    listed = cli(tmp_path, "dlq", "list", "crash", "--json")
    assert [e["item_id"] for e in json.loads(listed.stdout)] == ["item_2"]

    (tmp_path / "release").touch()
    resumed = cli(tmp_path, "resume", "crash", "--jobs", "2", timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    # Finished items (0, 1, and 2 which failed) ran once; in-flight 3 and 4 again; 5 once.
    assert [count(tmp_path, i) for i in range(6)] == [1, 1, 1, 2, 2, 1]
    assert (tmp_path / "reduce.txt").read_text() == "5 1 6\n"
    [entry] = json.loads(cli(tmp_path, "dlq", "list", "crash", "--json").stdout)
    assert entry["item_id"] == "item_2" and entry["failure_count"] == 1
    from prodigy.runtime.store import CheckpointStore

    store = CheckpointStore(tmp_path / ".prodigy" / "cache")
    try:
        assert store.check() == []
    finally:
        store.close()


def test_ctrl_c_mid_map_exits_130_and_resume_finishes(tmp_path: Path) -> None:
    driver = start(tmp_path, WORKFLOW, "int", output=subprocess.PIPE)
    try:
        wait_for(tmp_path / "item_4.pid", timeout=30)
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=30)
    finally:
        driver.kill()
    assert driver.returncode == 130, err
    assert "resume with: prodigy resume int" in err
    (tmp_path / "release").touch()
    resumed = cli(tmp_path, "resume", "int", "--jobs", "2", timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert [count(tmp_path, i) for i in range(6)] == [1, 1, 1, 2, 2, 1]
    assert (tmp_path / "reduce.txt").read_text() == "5 1 6\n"


def stop_while_blocked_then_resume(tmp_path: Path, workflow: str, run_id: str, stop: str,
                                   committed: Callable[[], bool]) -> None:
    """Items 3 and 4 block and 5 waits in the lane behind them when the driver gets `stop`
    (once `committed()` says 0-2 are recorded): 5 must not have started; the resume runs it
    once, 3 and 4 again (in flight), 0-2 not at all."""
    driver = start(tmp_path, workflow, run_id)
    try:
        wait_for(tmp_path / "item_3.pid", timeout=30)
        wait_for(tmp_path / "item_4.pid", timeout=30)
        for _ in range(200):
            if committed():
                break
        driver.send_signal(getattr(signal, stop))
        driver.wait(timeout=30)
    finally:
        driver.kill()
    assert driver.returncode == (-9 if stop == "SIGKILL" else 130)
    assert [count(tmp_path, i) for i in range(6)] == [1, 1, 1, 1, 1, 0]
    (tmp_path / "release").touch()
    resumed = cli(tmp_path, "resume", run_id, "--jobs", "2", timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert [count(tmp_path, i) for i in range(6)] == [1, 1, 1, 2, 2, 1]


# One command an item: the map sends items ahead into the spawner's lane (runtime/loops/items.py).
SENT_AHEAD = WORKFLOW.replace('''    - shell: "echo x >> ${item_id}.count"
    - shell: "test ${item} != 3"
    - shell: |
        if [ ${item} -ge 4 ] && [ ${item} -le 5 ]; then
          echo $$ > ${item_id}.pid
          while [ ! -f release ]; do sleep 0.05; done
        fi
''', '''    - shell: |
        echo x >> ${item_id}.count
        if [ ${item} -ge 4 ] && [ ${item} -le 5 ]; then
          echo $$ > ${item_id}.pid
          while [ ! -f release ]; do sleep 0.05; done
        fi
        test ${item} != 3
''')


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGINT"])
def test_items_sent_ahead_survive_a_kill_or_ctrl_c(tmp_path: Path, stop: str) -> None:
    # Item 6 waits in the spawner's lane behind the blocked 4 and 5 when the driver goes: it
    # must not have started, and the resume runs it once; 4 and 5 run again (in flight).
    assert SENT_AHEAD != WORKFLOW

    def committed() -> bool:  # item 3's failure is in the DLQ (read-only safe)
        listed = cli(tmp_path, "dlq", "list", "ahead", "--json")
        return listed.returncode == 0 and bool(json.loads(listed.stdout or "[]"))

    stop_while_blocked_then_resume(tmp_path, SENT_AHEAD, "ahead", stop, committed)
    assert (tmp_path / "reduce.txt").read_text() == "5 1 6\n"


# A literal foreach of one step: its copies are a pool sent ahead into a lane (frame_pools.py).
POOL = """\
name: pool-crash
commands:
  - foreach:
      foreach: ["0", "1", "2", "3", "4", "5"]
      parallel: 2
      do:
        - shell: |
            echo x >> item_${item}.count
            if [ ${item} -ge 3 ] && [ ${item} -le 4 ]; then
              echo $$ > item_${item}.pid
              while [ ! -f release ]; do sleep 0.05; done
            fi
  - shell: "echo done > after.txt"
"""


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGINT"])
def test_a_foreach_pool_sent_ahead_survives_a_kill_or_ctrl_c(tmp_path: Path, stop: str) -> None:
    # Copy 5 waits in the lane behind the blocked 3 and 4 when the driver goes: it never
    # started, and the resume runs it once; 3 and 4 run again (in flight), 0-2 not at all.
    def committed() -> bool:
        # The lane started 3 and 4 without waiting for the driver: 0-2 must be committed (a
        # copy that ended but is not recorded yet would rightly run again).
        shown = cli(tmp_path, "runs", "show", "pool", "--json")
        nodes = json.loads(shown.stdout).get("nodes", {}) if shown.returncode == 0 else {}
        return all(nodes.get(f"main.0.item.{k}.0") == "succeeded" for k in range(3))

    stop_while_blocked_then_resume(tmp_path, POOL, "pool", stop, committed)
    assert (tmp_path / "after.txt").read_text() == "done\n"
