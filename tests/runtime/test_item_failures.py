"""A failed map item carries its real failure (exit code, failed step, stderr tail, log) in
`${map.results}`, the DLQ and its `item_failed` event, whichever path made it a failure: no
handler, an on_failure handler with fail_workflow, a handler that fails, a step's `retry:`,
the error policy's retry, the agent's time limit (handled or not, queued or skipped), and an
interrupt. And `${error.message}` is the failing command's stderr, as upstream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prodigy.runtime.store import CheckpointStore, RunStatus

STEP = 'echo out-${item}; echo err-${item} >&2; test ${item} != bad'
WF = """\
name: f
mode: mapreduce
map:
  input: items.json
  max_parallel: 2
{map_extra}  agent_template:
    - shell: "{step}"
{step_extra}{policy}reduce:
  - shell: "cp ${{map.results_file}} results.json"
"""


def run_wf(run_plan: Any, tmp_path: Path, step_extra: str = "", map_extra: str = "",
           policy: str = "", items: tuple[str, ...] = ("fine", "bad"), step: str = STEP,
           **kw: Any) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]],
                               list[dict[str, Any]]]:
    from prodigy.compiler.pipeline import compile_file

    (tmp_path / "items.json").write_text(json.dumps(list(items)))
    (tmp_path / "wf.yml").write_text(WF.format(step=step, step_extra=step_extra,
                                               map_extra=map_extra, policy=policy))
    outcome, events, state = run_plan(compile_file(str(tmp_path / "wf.yml")), **kw)
    results = json.loads((tmp_path / "results.json").read_text()) \
        if (tmp_path / "results.json").exists() else []
    store = CheckpointStore(state.cache_dir)
    try:
        entries = store.dlq_entries("r1")
    finally:
        store.close()
    return outcome, events, results, entries


def assert_real_failure(events: list[dict[str, Any]], results: list[dict[str, Any]],
                        entries: list[dict[str, Any]], exit_code: int = 1) -> None:
    """The `bad` item's failure, the same in the results, the DLQ and the final event."""
    [entry] = entries
    result = next(r for r in results if r["item"] == "bad")
    event = [e for e in events if e["event"] == "item_failed" and e.get("dlq")][-1]
    assert entry["error"] == result["error"] == event["message"] == f"exit code {exit_code}"
    assert entry["exit_code"] == result["exit_code"] == event["exit_code"] == exit_code
    assert entry["error_type"] == "command_failed"
    assert entry["failed_node"] == result["failed_node"] == event["failed_node"]
    assert entry["failed_step"] == result["failed_step"] == event["failed_step"]
    assert entry["failed_step"].startswith("shell: echo out-")
    # Its stderr tail: interleaved with stdout when the command wrote straight to its log
    # (a step nobody reads), stderr alone when prodigy kept the streams apart (a handler).
    assert entry["stderr"] == result["stderr"] == event["stderr"]
    assert entry["stderr"].endswith("err-bad") and "err-fine" not in entry["stderr"]
    assert entry["log"] == result["log"] == event["log"]
    assert "err-bad" in Path(entry["log"]).read_text()
    assert entry["item_label"] == result["label"] == event["item_label"] == "bad"


def test_without_a_handler(run_plan: Any, tmp_path: Path) -> None:
    outcome, events, results, entries = run_wf(run_plan, tmp_path)
    assert outcome.status is RunStatus.SUCCEEDED
    assert_real_failure(events, results, entries)


def test_with_an_on_failure_handler_that_fails_the_workflow(run_plan: Any,
                                                            tmp_path: Path) -> None:
    handler = ('      on_failure:\n        shell: "echo saw ${error.message} ${error.exit_code}'
               ' > seen-${item}.txt"\n        max_attempts: 2\n        fail_workflow: true\n')
    _, events, results, entries = run_wf(run_plan, tmp_path, handler)
    assert_real_failure(events, results, entries)
    assert entries[0]["stderr"] == "err-bad"  # a handler reads it: kept apart from stdout
    # The handler saw the command's stderr as `${error.message}`, its code apart.
    assert (tmp_path / "seen-bad.txt").read_text() == "saw err-bad 1\n"
    done = [e for e in events if e["event"] == "node_finished" and e.get("item") == "item_1"
            and e.get("reason") == "attempts_exhausted"]
    assert done and done[-1]["attempts"] == 2 and done[-1]["exit_code"] == 1


def test_with_a_handler_that_fails_too(run_plan: Any, tmp_path: Path) -> None:
    handler = ('      on_failure:\n        shell: "exit 7"\n'
               '        handler_failure_fatal: true\n')
    _, events, results, entries = run_wf(run_plan, tmp_path, handler)
    assert_real_failure(events, results, entries)  # the step's failure, not the handler's


def test_with_a_step_retry(run_plan: Any, tmp_path: Path) -> None:
    retry = ("      retry:\n        attempts: 2\n        backoff: fixed\n"
             "        initial_delay: 10ms\n")
    _, events, results, entries = run_wf(run_plan, tmp_path, retry)
    assert_real_failure(events, results, entries)
    assert Path(entries[0]["log"]).read_text().splitlines().count("err-bad") == 2


def test_with_the_error_policy_retrying_the_agent(run_plan: Any, tmp_path: Path) -> None:
    policy = ("error_policy:\n  on_item_failure: retry\n  retry_config:\n    attempts: 2\n"
              "    backoff: fixed\n    initial_delay: 10ms\n")
    _, events, results, entries = run_wf(run_plan, tmp_path, policy=policy)
    assert_real_failure(events, results, entries)
    assert entries[0]["attempts"] == 2
    retrying = [e for e in events if e["event"] == "item_failed" and "retrying" in e]
    assert retrying and retrying[0]["stderr"].endswith("err-bad")


def test_an_agent_out_of_time_whose_handler_ran(run_plan: Any, tmp_path: Path) -> None:
    # The time limit ends the step; its handler (no fail_workflow) would have handled it.
    slow = 'echo err-${item} >&2; test ${item} != bad || sleep 5'
    handler = '      on_failure:\n        shell: "true"\n'
    outcome, _, results, entries = run_wf(
        run_plan, tmp_path, handler, map_extra="  agent_timeout_secs: 1\n", step=slow)
    assert outcome.duration < 4
    [entry] = entries
    result = next(r for r in results if r["item"] == "bad")
    assert entry["error_type"] == "timeout" and entry["exit_code"] == result["exit_code"] == -1
    assert entry["error"].startswith("timed out after") and result["error"] == entry["error"]
    assert entry["failed_step"].startswith("shell: echo err-") and result["failed_step"]
    assert entry["stderr"].startswith("err-bad") and "timed out" in entry["stderr"]
    assert Path(entry["log"]).exists()


def test_an_agent_out_of_time_that_the_policy_skips(run_plan: Any, tmp_path: Path) -> None:
    slow = 'echo err-${item} >&2; test ${item} != bad || sleep 5'
    limits = "  agent_timeout_secs: 1\n  timeout_config:\n    timeout_action: skip\n"
    _, _, results, entries = run_wf(run_plan, tmp_path, map_extra=limits, step=slow)
    assert entries == []  # skipped: not in the DLQ, yet its result says what happened
    result = next(r for r in results if r["item"] == "bad")
    assert result["status"] == "skipped" and result["exit_code"] == -1
    assert result["failed_step"].startswith("shell: echo err-")
    assert result["stderr"].startswith("err-bad") and result["log"]


def test_a_frame_cut_short_by_an_interrupt_is_no_failure(tmp_path: Path) -> None:
    """Cancelled (Ctrl-C, a spend limit): the item is not finished, so it is not recorded as
    a failure with a made-up reason; resume runs it (see `ItemLoop.frame_finished`)."""
    from types import SimpleNamespace

    from prodigy.runtime.frame import Frame, FrameSpec, Template
    from prodigy.runtime.loops.base import outcome_of
    from prodigy.runtime.ops import NodeResult

    from .conftest import build_plan, chain, sh

    tpl = Template.of(build_plan([sh("a", "true"), sh("b", "true")], chain("a", "b")))
    host = SimpleNamespace(interrupted=True, log_dir=str(tmp_path))
    frame = Frame(host, tpl, FrameSpec("x/", {}, {}, tmp_path, "", checkpoint=False))  # type: ignore[arg-type]
    [first] = frame.sched.pop_ready()
    frame.results[first] = NodeResult(ok=False, exit_code=-15, message="killed by signal 15")
    frame.sched.interrupt(first)
    outcome = outcome_of(frame)
    assert outcome.interrupted and not outcome.ok and outcome.node == ""


def test_error_message_is_the_failing_commands_stderr(run_plan: Any, tmp_path: Path) -> None:
    from prodigy.compiler.pipeline import compile_file

    (tmp_path / "wf.yml").write_text("""\
commands:
  - shell: "echo progress; echo 'first problem' >&2; echo 'boom: disk full' >&2; exit 3"
    on_failure:
      shell: "printf '%s|%s' '${error.message}' '${error.exit_code}' > seen.txt"
  - shell: "exit 4"
    on_failure:
      shell: "printf '%s|%s' '${error.message}' '${error.exit_code}' > quiet.txt"
""")
    outcome, _, _ = run_plan(compile_file(str(tmp_path / "wf.yml")))
    assert outcome.status is RunStatus.SUCCEEDED  # both handled
    assert (tmp_path / "seen.txt").read_text() == "first problem\nboom: disk full|3"
    # Nothing on stderr: the one-line reason stands in.
    assert (tmp_path / "quiet.txt").read_text() == "exit code 4|4"


def test_error_message_keeps_a_claude_nodes_own_words_and_a_results_reason() -> None:
    from prodigy.runtime.frame import error_message
    from prodigy.runtime.ops import NodeResult

    cli = NodeResult(ok=False, exit_code=1, message="Claude CLI: not logged in",
                     variables={"claude.stderr": "some debug noise"})
    assert error_message("claude", cli) == "Claude CLI: not logged in"
    capture = NodeResult(ok=False, exit_code=0, message="capture 'x': stdout is not JSON",
                         variables={"shell.stderr": "a warning"})
    assert error_message("shell", capture) == "capture 'x': stdout is not JSON"
    long = NodeResult(ok=False, exit_code=2, message="exit code 2",
                      variables={"shell.stderr": "\n".join(f"l{n}" for n in range(50))})
    assert error_message("shell", long).splitlines() == [f"l{n}" for n in range(30, 50)]
