"""What the console says about a run, end to end from its real events: the run id first (on a
terminal too), a failing agent's stderr under its line, failed items in the summary with the
command that shows them (after a resume too), no lines for what is no news, counts in steps
and items, and reasons in words."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from prodigy.runtime.report import LiveReporter, PlainReporter
from prodigy.runtime.store import RunStatus


def replay(events: list[dict[str, Any]], outcome: Any, live: bool = False) -> list[str]:
    err = io.StringIO()
    reporter = LiveReporter(err) if live else PlainReporter(err)
    for event in events:
        reporter.on_event(event)
    reporter.summary(outcome)
    return err.getvalue().splitlines()


MAP = """\
name: m
mode: mapreduce
setup:
  - shell: "true"
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: "echo working; echo 'no such file: ${item}.cfg' >&2; test ${item} != bad"
      on_failure:
        shell: "echo cleaning up"
        fail_workflow: true
reduce:
  - shell: "test -f reduce-ok"
"""


def run_map(run_plan: Any, tmp_path: Path, **kw: Any) -> tuple[Any, list[dict[str, Any]]]:
    from prodigy.compiler.pipeline import compile_file

    (tmp_path / "items.json").write_text(json.dumps(["good", "bad"]))
    (tmp_path / "wf.yml").write_text(MAP)
    outcome, events, _ = run_plan(compile_file(str(tmp_path / "wf.yml")), **kw)
    return outcome, events


def test_a_failed_agent_shows_its_stderr_and_the_summary_its_dlq_command(
        run_plan: Any, tmp_path: Path) -> None:
    outcome, events = run_map(run_plan, tmp_path)
    assert outcome.status is RunStatus.FAILED  # reduce fails: there is a resume
    for live in (False, True):
        lines = replay(events, outcome, live)
        text = "\n".join(lines)
        failed = text.index("FAILED   map: items.json [bad]: exit code 1 in shell")
        # Under it (the live view wraps long lines at its width).
        assert text.index("sent to the DLQ\n         | no such file: bad.cfg\n") > failed
        assert "  1 failed item in the dead-letter queue (prodigy dlq list r1):" in text
        assert "  FAILED item bad of map: exit code 1 in shell: echo working" in text
        assert "    details: prodigy dlq show r1 item_1" in text

    (tmp_path / "reduce-ok").touch()
    resumed, events = run_map(run_plan, tmp_path, resume=True)
    assert resumed.status is RunStatus.SUCCEEDED
    start = next(i for i, e in enumerate(events) if e["event"] == "run_resumed")
    assert not any(e["event"] == "item_failed" for e in events[start:])  # none this time...
    text = "\n".join(replay(events[start:], resumed))
    # ...yet the summary still names the item the first attempt queued.
    assert "    details: prodigy dlq show r1 item_1" in text
    assert "3 items" not in text and "2 items (1 succeeded, 1 failed)" in text


def test_the_live_view_prints_the_run_id_first() -> None:
    err = io.StringIO()
    live = LiveReporter(err)
    live.on_event({"event": "run_started", "run_id": "run-1", "workflow": "w", "steps": 3,
                   "nodes": 5, "executor": "local", "jobs": 4})
    live.close()
    assert err.getvalue().splitlines()[0] == "running w as run-1 (3 steps, local executor, " \
        "4 jobs)"


FAILING = """\
name: f
commands:
  - shell: "echo fine"
    on_failure: "echo never needed"
  - shell: "echo nope >&2; exit 3"
    on_failure:
      shell: "echo fixing"
      max_attempts: 3
      fail_workflow: true
  - shell: "echo never"
"""


def test_no_news_is_left_out_and_the_rest_is_said_in_the_users_words(run_plan: Any,
                                                                     tmp_path: Path) -> None:
    from prodigy.compiler.pipeline import compile_file

    (tmp_path / "wf.yml").write_text(FAILING)
    outcome, events, _ = run_plan(compile_file(str(tmp_path / "wf.yml")))
    lines = replay(events, outcome)
    text = "\n".join(lines)
    for noise in ("not run", "on_failure [", "start    on_failure", "ok       on_failure",
                  "handler not needed", "after its on_failure handler"):
        assert noise not in text, noise
    assert "FAILED   shell: echo nope >&2; exit 3: exit code 3 (failed after 3 attempts)" \
        in lines
    assert "skipped  shell: echo never: an earlier step failed" in lines
    assert "attempts_exhausted" not in text and "upstream failed" not in text
    assert "main.1" not in "\n".join(line for line in lines  # node ids: in the summary only
                                     if not line.startswith(("  FAILED", "    log:")))
    # Steps, not plan nodes: the 3 commands and the one handler step that ran.
    [summary] = [line for line in lines if line.startswith("run r1 failed in ")]
    assert summary.endswith(": 4 steps (1 failed, 1 skipped, 2 succeeded)")
    assert "  FAILED shell: echo nope >&2; exit 3 [main.1]: exit code 3 (failed after 3 " \
        "attempts)" in lines


def test_a_mapreduce_says_nothing_of_its_barriers(run_plan: Any, tmp_path: Path) -> None:
    (tmp_path / "reduce-ok").touch()
    outcome, events = run_map(run_plan, tmp_path)
    text = "\n".join(replay(events, outcome))
    assert "end of setup" not in text and "end of map" not in text
    assert "run r1 succeeded in " in text and "3 steps (3 succeeded); 2 items (1 succeeded, " \
        "1 failed)" in text
