"""Every variable `validate` accepts is bound by `prodigy run` (issue 17): each case runs a
workflow through the CLI and reads what its last shell step wrote, so a variable that reaches
the shell as literal text (`Bad substitution`) fails here."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from .test_run_cli import cli, start, wait_for

pytestmark = pytest.mark.e2e

# name -> (the workflow, what its steps leave in out.txt)
CASES: dict[str, tuple[str, str]] = {
    "env from the process": ('- shell: "printf %s ${env.PRODIGY_T_PROC} > out.txt"\n',
                             "from-process"),
    "env from the workflow": ('env: {GREETING: hi}\ncommands:\n'
                              '  - shell: "printf %s ${env.GREETING} > out.txt"\n', "hi"),
    "id.exit_code and id.success": (
        '- shell: "exit 3"\n  id: build\n  on_failure: "true"\n'
        '- shell: "printf %s/%s ${build.exit_code} ${build.success} > out.txt"\n', "3/false"),
    "id.output": ('- shell: "printf built"\n  id: build\n'
                  '- shell: "printf %s ${build.output} > out.txt"\n', "built"),
    "test.* in a test: handler": (
        '- test:\n    command: "printf boom; exit 4"\n    on_failure:\n'
        '      shell: "printf %s/%s/%s ${test.attempt} ${test.exit_code} '
        '\'${test.output}\' > out.txt"\n', "1/4/boom"),
    "workflow.name and workflow.id": (
        'name: vardemo\ncommands:\n'
        '  - shell: "printf %s/%s ${workflow.name} ${workflow.id} > out.txt"\n',
        "vardemo/r1"),
    "step.name and step.index": (
        '- shell: "true"\n- shell: "printf %s ${step.index} > out.txt"\n'
        '- shell: "printf /%s \'${step.name}\' >> out.txt"\n  name: the third\n',
        "1/the third"),
    "last.output and last.exit_code": (
        '- shell: "printf previous"\n'
        '- shell: "printf %s/%s ${last.output} ${last.exit_code} > out.txt"\n',
        "previous/0"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_variable_is_bound_at_run_time(tmp_path: Path, case: str) -> None:
    workflow, expected = CASES[case]
    (tmp_path / "wf.yml").write_text(workflow)
    checked = cli(tmp_path, "validate", "--strict", "wf.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    done = cli(tmp_path, "run", "wf.yml", "--executor", "inline", "--run-id", "r1", "-y",
               env={"PRODIGY_T_PROC": "from-process"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.txt").read_text() == expected


def test_a_claude_prompt_keeps_an_unbound_bare_variable_as_written(tmp_path: Path) -> None:
    """`$ARG` without --args reaches Claude as `$ARG`, not rewritten to `${ARG}`; with it, the
    value. A stand-in CLI records the prompt (its last argument)."""
    standin = tmp_path / "claude.py"
    standin.write_text(
        "import json, sys\n"
        "open('prompts.txt', 'a').write(sys.argv[-1] + '\\n')\n"
        "print(json.dumps({'type': 'result', 'subtype': 'success', 'is_error': False,\n"
        "                  'result': 'ok', 'session_id': 's', 'num_turns': 1}))\n")
    (tmp_path / "wf.yml").write_text('- claude: "/implement $ARG and ${ARG} and $HOME_DIR"\n')
    env = {"PRODIGY_CLAUDE_BIN": f"{sys.executable} {standin}"}
    bare = cli(tmp_path, "run", "wf.yml", "--executor", "inline", "--run-id", "r1", env=env)
    assert bare.returncode == 0, bare.stderr
    given = cli(tmp_path, "run", "wf.yml", "--executor", "inline", "--run-id", "r2",
                "--args", "65", env=env)
    assert given.returncode == 0, given.stderr
    assert (tmp_path / "prompts.txt").read_text().splitlines() == [
        "/implement $ARG and ${ARG} and $HOME_DIR", "/implement 65 and 65 and $HOME_DIR"]


def test_sigterm_exits_143_and_the_run_resumes(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text('- shell: "touch started; test -f go || sleep 30"\n'
                                     '- shell: "touch second"\n')
    proc = start(tmp_path, "run", "wf.yml", "--executor", "inline", "--run-id", "r1")
    wait_for(tmp_path / "started")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    shown = json.loads(cli(tmp_path, "runs", "show", "r1", "--json").stdout)
    assert shown["status"] == "interrupted"
    (tmp_path / "go").touch()
    resumed = cli(tmp_path, "resume", "r1", "--executor", "inline", timeout=90)
    assert resumed.returncode == 0 and (tmp_path / "second").exists(), resumed.stderr
