"""Shared step options are applied by the runtime to every step kind, not by each op.

Compiled from YAML and run with the inline executor: what a user writes is what is checked
(`write_file` with `capture:` used to validate, run, and leave `${x}` empty).
"""

from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

from prodigy.compiler.pipeline import compile_file
from prodigy.runtime.execute import execute
from prodigy.runtime.masking import Masker
from prodigy.runtime.nodes import ShellParams
from prodigy.runtime.ops.base import Task
from prodigy.runtime.ops.capture import Outcome
from prodigy.runtime.ops.step import step_op
from prodigy.runtime.run import RunOptions
from prodigy.runtime.store import RunStatus, StateDir


def _run(tmp_path: Path, workflow: str) -> Any:
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(workflow), encoding="utf-8")
    plan = compile_file(str(path))
    return execute(plan, state=StateDir(tmp_path / "state"), run_id="r1", cwd=tmp_path,
                   options=RunOptions(executor="inline"), source="test", resume=False)


def test_write_file_capture_output_file_and_outputs(tmp_path: Path) -> None:
    outcome = _run(tmp_path, """
        - write_file: {path: notes.txt, content: "hello"}
          id: notes
          capture: report
          output_file: report.txt
          outputs: {written: {file_pattern: "*.txt"}}
        - shell: "echo '${report}|${notes.written}' > got.txt"
    """)
    assert outcome.status is RunStatus.SUCCEEDED
    # output_file is written before the `outputs` globs are read: the report is listed too.
    assert (tmp_path / "got.txt").read_text() == (
        "Wrote 5 bytes to notes.txt|notes.txt, report.txt\n")
    assert (tmp_path / "report.txt").read_text() == "Wrote 5 bytes to notes.txt"


def test_write_file_commit_required_fails_without_a_commit(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    outcome = _run(tmp_path, """
        - write_file: {path: a.txt, content: "x"}
          commit_required: true
    """)
    assert outcome.status is RunStatus.FAILED


def test_analyze_capture_stores_the_result_object(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("x = 1\n")
    outcome = _run(tmp_path, """
        - analyze: {save: false}
          capture: facts
        - shell: "echo '${facts.files}' > files.txt"
    """)
    assert outcome.status is RunStatus.SUCCEEDED
    assert int((tmp_path / "files.txt").read_text()) >= 1


def _task(tmp_path: Path, timeout: float | None) -> Task:
    return Task("r1", "n", "shell", "n", 1, {"timeout": timeout}, {}, str(tmp_path),
                str(tmp_path / "n.log"), Masker(()))


def test_in_process_work_is_bounded_by_the_step_timeout(tmp_path: Path) -> None:
    def slow(task: Task) -> Outcome:
        time.sleep(5)
        return Outcome(0, 5, 0)

    op = step_op(lambda params, ctx: {}, slow)
    started = time.monotonic()
    result = op.run(_task(tmp_path, 0.2))
    assert time.monotonic() - started < 2
    assert not result.ok and result.timed_out and "timed out" in result.message


def test_in_process_work_within_its_timeout_is_unaffected(tmp_path: Path) -> None:
    op = step_op(lambda params, ctx: {}, lambda task: Outcome(0, 0, 0, stdout="fine"))
    result = op.run(_task(tmp_path, 5))
    assert result.ok and result.variables["shell.output"] == "fine"
    assert ShellParams.kind == "shell"


def test_a_tracked_step_publishes_what_it_changed_in_git(tmp_path: Path) -> None:
    from prodigy.runtime.ops import OPS

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    op = OPS["shell"]
    inputs = {"command": "echo x > new.txt", "shell": "sh", "timeout": None}
    plain = Task("r1", "n", "shell", "n", 1, inputs, {}, str(repo),
                 str(tmp_path / "n.log"), Masker(()))
    assert op.command is not None and op.command(plain) is not None  # a plain process
    assert not any(k.startswith("step.") for k in op.run(plain).variables)
    tracked = Task("r1", "n", "shell", "n", 1, {**inputs, "command": "echo y > more.txt",
                                                "track_changes": True}, {}, str(repo),
                   str(tmp_path / "n.log"), Masker(()))
    assert op.command(tracked) is None  # git is read around it: never the spawner's
    found = op.run(tracked).variables
    # No commit yet: everything in the repository is new, the untracked files included.
    assert found["step.files_added"] == ["more.txt", "new.txt"]
    assert found["step.commits"] == [] and found["step.insertions"] == 0
