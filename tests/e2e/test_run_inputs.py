"""`prodigy run --args/--map`: one run per input under one group id, resumable as a whole."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ECHO = ('commands:\n'
        '  - shell: "echo ${ARG} $PRODIGY_ARG ${INDEX}/${TOTAL} ${ARG_PATH} >> seen.txt"\n')


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "prodigy", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=60,
                          env={**os.environ, "PRODIGY_KILL_GRACE_S": "1"})


def specs(root: Path) -> None:
    (root / "specs").mkdir()
    for name in ("65-foo", "66-bar", "67-baz"):
        (root / "specs" / f"{name}.md").write_text(name)


def test_map_binds_the_stem_the_path_the_index_and_the_environment(tmp_path: Path) -> None:
    specs(tmp_path)
    (tmp_path / "wf.yml").write_text(ECHO)
    out = cli(tmp_path, "run", "wf.yml", "--map", "specs/*.md", "--executor", "inline",
              "--run-id", "g")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "seen.txt").read_text().splitlines() == [
        "65 65 1/3 specs/65-foo.md", "66 66 2/3 specs/66-bar.md", "67 67 3/3 specs/67-baz.md"]
    assert "inputs of run g: 3 of 3 succeeded" in out.stderr
    runs = {r["run_id"]: r["status"] for r in json.loads(cli(tmp_path, "runs", "--json").stdout)}
    assert runs == {"g-1": "succeeded", "g-2": "succeeded", "g-3": "succeeded"}


def test_each_args_value_is_a_run_and_every_value_is_arg_n(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text(
        'commands:\n  - shell: "echo ${ARG} ${INDEX} ${ARG_1} ${ARG_2} >> seen.txt"\n')
    out = cli(tmp_path, "run", "wf.yml", "--args", "a", "--args", "b", "--executor", "inline")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "seen.txt").read_text().splitlines() == ["a 1 a b", "b 2 a b"]


FAIL_ON_A = 'commands:\n  - shell: "echo ${ARG} >> seen.txt; test ${ARG} != a"\n'


def test_a_failed_input_stops_the_loop_and_the_exit_code_is_the_worst(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text(FAIL_ON_A)
    out = cli(tmp_path, "run", "wf.yml", "--args", "a", "--args", "b", "--executor", "inline",
              "--run-id", "s")
    assert out.returncode == 1
    assert (tmp_path / "seen.txt").read_text().split() == ["a"]
    assert "inputs of run s: 0 of 2 succeeded" in out.stderr
    assert "not run" in out.stderr and "prodigy resume s" in out.stderr


def test_keep_going_runs_the_rest_and_still_exits_with_the_failure(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text(FAIL_ON_A)
    out = cli(tmp_path, "run", "wf.yml", "--args", "a", "--args", "b", "--keep-going",
              "--executor", "inline", "--json")
    assert out.returncode == 1  # the last input succeeded; the first did not
    assert (tmp_path / "seen.txt").read_text().split() == ["a", "b"]
    summary = json.loads(out.stdout.splitlines()[-1])
    assert [i["status"] for i in summary["inputs"]] == ["failed", "succeeded"]


def test_a_map_loop_resumes_after_kill_9_in_its_second_input(tmp_path: Path) -> None:
    specs(tmp_path)
    (tmp_path / "wf.yml").write_text(
        # The first attempt at 66 hangs (until the resume stops what the killed driver left);
        # the resumed one finds its mark and goes on.
        'commands:\n  - shell: "if [ ${ARG} = 66 ] && [ ! -f started-66 ]; then touch '
        'started-66; sleep 60; fi; echo ${ARG} >> seen.txt"\n')
    run = subprocess.Popen([sys.executable, "-m", "prodigy", "run", "wf.yml", "--map",
                            "specs/*.md", "--executor", "inline", "--run-id", "k"],
                           cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "PRODIGY_KILL_GRACE_S": "1"})
    deadline = time.monotonic() + 30
    while not (tmp_path / "started-66").exists():
        assert time.monotonic() < deadline and run.poll() is None
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=10)
    assert (tmp_path / "seen.txt").read_text().split() == ["65"]
    resumed = cli(tmp_path, "resume", "k", "--executor", "inline")
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "seen.txt").read_text().split() == ["65", "66", "67"]
    assert "inputs of run k: 3 of 3 succeeded" in resumed.stderr
    assert "input 1/3" not in resumed.stderr  # finished before the kill: not run again
    again = cli(tmp_path, "resume-job", "k", "--executor", "inline")
    assert again.returncode == 0 and "3 of 3 succeeded" in again.stderr
    assert (tmp_path / "seen.txt").read_text().split() == ["65", "66", "67"]


def test_dry_run_of_several_inputs_records_nothing(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text(ECHO)
    out = cli(tmp_path, "run", "wf.yml", "--args", "a", "--args", "b", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "input 1/2: a" in out.stdout and "input 2/2: b" in out.stdout
    assert not (tmp_path / "seen.txt").exists()
    assert not (tmp_path / ".prodigy" / "groups").exists()


def test_path_param_and_param_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "wf.yml").write_text(
        'parameters:\n  n: {type: integer, required: true}\n  on: {type: boolean}\n'
        '  who: {type: string}\n'
        'commands:\n  - shell: "echo ${n} ${on} ${who} > out.txt"\n')
    (tmp_path / "params.json").write_text('{"n": 3, "on": true, "who": "file"}')
    out = cli(tmp_path, "run", "wf.yml", "-p", "project", "--param-file",
              str(tmp_path / "params.json"), "--param", "who=cli", "--executor", "inline")
    assert out.returncode == 0, out.stderr
    assert (project / "out.txt").read_text().split() == ["3", "true", "cli"]
    (tmp_path / "params.yml").write_text("n: many\n")
    bad = cli(tmp_path, "run", "wf.yml", "-p", "project", "--param-file", "../params.yml")
    assert bad.returncode == 2 and "P504" in bad.stderr and "Traceback" not in bad.stderr
    nowhere = cli(tmp_path, "run", "wf.yml", "-p", "missing")
    assert nowhere.returncode == 2 and "error[P501]" in nowhere.stderr


def test_exec_runs_a_command_as_a_one_step_workflow(tmp_path: Path) -> None:
    out = cli(tmp_path, "exec", "shell: echo hi > hi.txt", "--executor", "inline",
              "--timeout", "30", "--run-id", "e1")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "hi.txt").read_text() == "hi\n"
    flaky = cli(tmp_path, "exec", "shell: test -f once || { touch once; false; }", "--retry",
                "2", "--executor", "inline")
    assert flaky.returncode == 0, flaky.stderr
    once = cli(tmp_path, "exec", "shell: false", "--executor", "inline")
    assert once.returncode == 1
    neither = cli(tmp_path, "exec", "make test")
    assert neither.returncode == 2 and "error[P501]" in neither.stderr
    assert '"shell: CMD"' in neither.stderr and "PLAN.json" in neither.stderr
    shown = json.loads(cli(tmp_path, "runs", "show", "e1", "--json").stdout)
    assert shown["status"] == "succeeded" and shown["source"].endswith("e1.yml")
