"""MapReduce, the DLQ commands and the loop kinds through the real CLI, in subprocesses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .test_run_cli import cli

pytestmark = pytest.mark.e2e

MAPREDUCE = """\
name: e2e-map
mode: mapreduce
env:
  OUT: out
setup:
  - shell: |
      mkdir -p $OUT
      printf '%s' '{"rows": [{"n": 1}, {"n": 2}, {"n": 3}]}' > work.json
  - shell: "echo from-setup"
    capture: tag
map:
  input: work.json
  json_path: "$.rows[*]"
  max_parallel: 2
  agent_template:
    - shell: "echo agent ${item.n} ${tag}"
    - shell: "test ${item.n} != 2 || test -f fixed"
    - shell: "echo ${item.n} > $OUT/${item_id}.txt"
reduce:
  - shell: "echo '${map.successful}/${map.total} ok, ${map.failed} failed' >> reduce.txt"
"""


def test_failing_item_dlq_list_show_then_retry_after_the_fix(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text(MAPREDUCE)
    run = cli(tmp_path, "run", "wf.yml", "--run-id", "m1", "--jobs", "2")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "reduce.txt").read_text() == "2/3 ok, 1 failed\n"
    assert "1 failed item in the dead-letter queue (prodigy dlq list m1):" in run.stderr
    assert "    details: prodigy dlq show m1 item_1" in run.stderr

    listed = cli(tmp_path, "dlq", "list", "m1", "--json")
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert (entry["item_id"], entry["item"], entry["exit_code"]) == ("item_1", {"n": 2}, 1)
    shown = cli(tmp_path, "dlq", "show", "m1", "item_1", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["failed_node"] == "map.agent.1"
    assert cli(tmp_path, "dlq", "show", "m1", "item_0").returncode == 2
    assert cli(tmp_path, "dlq", "list", "nope").returncode == 2
    bad = cli(tmp_path, "dlq", "retry", "m1", "--filter", "exit_code ==")
    assert bad.returncode == 2 and "--filter" in bad.stderr
    none = cli(tmp_path, "dlq", "retry", "m1", "--filter", "exit_code == 9", "--json")
    assert none.returncode == 0 and json.loads(none.stdout)["retried"] == []

    still = cli(tmp_path, "dlq", "retry", "m1", "--json", "--jobs", "2")
    assert still.returncode == 1
    assert json.loads(still.stdout)["still_failing"] == ["item_1"]
    again = json.loads(cli(tmp_path, "dlq", "list", "m1", "--json").stdout)
    assert again[0]["failure_count"] == 2 and len(again[0]["history"]) == 2

    (tmp_path / "fixed").touch()
    retried = cli(tmp_path, "dlq", "retry", "m1", "--filter", "item.n == 2")
    assert retried.returncode == 0, retried.stderr
    assert "1 now succeed (removed from the queue), 0 still fail" in retried.stderr
    assert json.loads(cli(tmp_path, "dlq", "list", "m1", "--json").stdout) == []
    # Reduce ran again over the merged results; items 0 and 2 were not run again.
    assert (tmp_path / "reduce.txt").read_text().splitlines()[-1] == "3/3 ok, 0 failed"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "item_0.txt", "item_1.txt", "item_2.txt"]
    events = [json.loads(line) for line in
              (tmp_path / ".prodigy/runs/m1/events.jsonl").read_text().splitlines()]
    runs_of_item_0 = [e for e in events if e["event"] == "node_started"
                      and e.get("item") == "item_0"]
    assert len(runs_of_item_0) == 3  # its three steps, once: never rerun
    purge = cli(tmp_path, "dlq", "purge", "m1", "--json")
    assert purge.returncode == 0 and json.loads(purge.stdout)["purged"] == 0


LOOPS = """\
name: e2e-loops
commands:
  - shell: "printf 'one\\\\ntwo\\\\nbad\\\\nfour\\\\n'"
  - foreach:
      foreach: "printf 'one\\\\ntwo\\\\nbad\\\\nfour\\\\n'"
      parallel: 2
      continue_on_error: true
      do:
        - claude: "/touch ${item}"
        - shell: "test ${item} != bad && echo ${index} >> done.txt"
  - shell: "echo draft > spec.txt"
    validate:
      shell: |
        grep -q better spec.txt && echo '{"completion_percentage": 100}' ||
          echo '{"completion_percentage": 30, "missing": ["x"]}'
      threshold: 90
      on_incomplete:
        shell: "echo better >> spec.txt"
        max_attempts: 2
  - goal_seek:
      goal: "steady"
      shell: "echo step >> steps.txt"
      validate: "echo 'score: 70'"
      threshold: 95
      max_attempts: 6
  - analyze:
      format: summary
  - shell: |
      echo '${foreach.output}|${validation.completion}|${goal_seek.status}|${analysis.files}' \\
        > out.txt
"""


def test_foreach_validate_goal_seek_and_analyze_through_the_cli(tmp_path: Path) -> None:
    fake = tmp_path / "fake_claude.py"
    fake.write_text("import sys\nopen('claude.txt', 'a').write(sys.argv[-1] + '\\n')\n"
                    "print('{\"type\": \"result\", \"subtype\": \"success\", "
                    "\"result\": \"ok\"}')\n")
    (tmp_path / "wf.yml").write_text(LOOPS)
    out = cli(tmp_path, "run", "wf.yml", "--jobs", "2",
              env={"PRODIGY_CLAUDE_BIN": f"{sys.executable} {fake}"})
    assert out.returncode == 0, out.stderr
    summary, completion, status, files = (tmp_path / "out.txt").read_text().strip().split("|")
    assert summary == "Foreach completed: 4 total, 3 successful, 1 failed"
    assert (completion, status) == ("100", "converged") and int(files) >= 3
    assert sorted((tmp_path / "done.txt").read_text().split()) == ["0", "1", "3"]
    assert sorted((tmp_path / "claude.txt").read_text().splitlines()) == [
        "/touch bad", "/touch four", "/touch one", "/touch two"]
    assert (tmp_path / "spec.txt").read_text() == "draft\nbetter\n"  # 2nd measurement passed
    assert (tmp_path / "steps.txt").read_text() == "step\n" * 3  # 70, 70, 70: converged
    assert "4/4 items (3 ok, 1 failed), 0 running" in out.stderr
    assert "main.2.validate attempt 2: 100% complete (complete), threshold 90" in out.stderr


def test_a_map_input_that_names_a_missing_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text(
        "mode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n"
        "    - shell: echo ${item}\n")
    run = cli(tmp_path, "run", "wf.yml", "--run-id", "nofile")
    assert run.returncode == 1
    assert "map input file items.json does not exist in the run's directory" in run.stderr
    assert "127" not in run.stderr
