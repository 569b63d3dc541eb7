"""`prodigy exec | run | resume | runs | events` through the real CLI, in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


WORKFLOW_META: dict[str, Any] = {
    "name": "test", "mode": "standard", "source": "test.yml", "source_sha256": "0" * 64,
    "env": {}, "secrets": {}, "env_files": [], "profiles": {}, "profile": None, "args": {}}


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "prodigy", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout,
                          env={**os.environ, "PRODIGY_KILL_GRACE_S": "1", **(env or {})})


def start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "prodigy", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PRODIGY_KILL_GRACE_S": "1"})


def wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def write_plan(path: Path, nodes: list[tuple[str, str, dict[str, Any]]],
               edges: list[tuple[str, str, str]] = (), **workflow: Any) -> Path:  # type: ignore[assignment]
    from prodigy.runtime.nodes import params_from_json, params_to_json
    from prodigy.runtime.plan import FORMAT_VERSION, fingerprint

    full = [(i, k, params_from_json(k, p)) for i, k, p in nodes]  # defaults filled in
    plan = {"format_version": FORMAT_VERSION, "workflow": {**WORKFLOW_META, **workflow},
            "subplans": {},
            "nodes": [{"id": i, "kind": k, "phase": "main", "label": f"{k}: {i}", "span": None,
                       "fingerprint": fingerprint(p), "params": params_to_json(p)}
                      for i, k, p in full],
            "edges": [{"from": s, "to": d, "kind": k} for s, d, k in edges]}
    path.write_text(json.dumps(plan))
    return path


def counts(root: Path, *names: str) -> tuple[int, ...]:
    return tuple(len((root / f"{n}.count").read_text().split())
                 if (root / f"{n}.count").exists() else 0 for n in names)


WORKFLOW = """\
name: e2e-demo
env:
  GREETING: hello
commands:
  - shell: "echo $GREETING >> a.count; echo 21"
    capture: half
    capture_format: number
  - shell: "echo b >> b.count; test -f fixed"
  - shell: "echo ${half} >> c.count"
"""


@pytest.mark.parametrize("executor", ["inline", "dask"])
def test_run_fails_then_resume_finishes_without_rerunning(tmp_path: Path, executor: str) -> None:
    if executor == "dask":
        pytest.importorskip("distributed")  # the CLI starts a local cluster of its own
    (tmp_path / "wf.yml").write_text(WORKFLOW)
    first = cli(tmp_path, "run", "wf.yml", "--executor", executor, "--run-id", "r1")
    assert first.returncode == 1, first.stderr
    assert "resume with: prodigy resume r1" in first.stderr
    assert "FAILED" in first.stderr and "exit code 1" in first.stderr
    (tmp_path / "fixed").touch()
    second = cli(tmp_path, "resume", "r1", "--executor", executor)
    assert second.returncode == 0, second.stderr
    assert counts(tmp_path, "a", "b", "c") == (1, 2, 1)
    assert (tmp_path / "c.count").read_text() == "21\n"  # the capture was restored, not rerun
    listed = cli(tmp_path, "runs")
    assert "r1" in listed.stdout and "succeeded" in listed.stdout
    shown = json.loads(cli(tmp_path, "runs", "show", "r1", "--json").stdout)
    assert shown["status"] == "succeeded" and shown["attempts"] == 2
    events = [json.loads(line) for line in
              cli(tmp_path, "events", "r1", "--json").stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("run_started") == 1 and kinds.count("run_resumed") == 1
    assert {"node_reused", "node_skipped", "node_finished"} <= set(kinds)
    assert "reused" in cli(tmp_path, "events", "r1").stdout


def test_edited_workflow_reruns_only_what_changed_and_dry_run_says_why(tmp_path: Path) -> None:
    (tmp_path / "fixed").touch()
    (tmp_path / "wf.yml").write_text(WORKFLOW)
    assert cli(tmp_path, "run", "wf.yml", "--executor", "inline", "--run-id", "r1").returncode == 0
    (tmp_path / "wf.yml").write_text(WORKFLOW.replace("echo b >>", "echo B >>"))
    dry = cli(tmp_path, "run", "wf.yml", "--resume", "r1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    lines = {line.split()[1]: line for line in dry.stdout.splitlines()}
    assert lines["main.0"].startswith("reuse")
    assert lines["main.1"].startswith("run") and "fingerprint changed" in lines["main.1"]
    assert "upstream changed: main.1" in lines["main.2"]
    assert counts(tmp_path, "a", "b", "c") == (1, 1, 1)  # a dry run runs nothing
    again = cli(tmp_path, "run", "wf.yml", "--resume", "r1", "--executor", "inline")
    assert again.returncode == 0, again.stderr
    assert counts(tmp_path, "a", "b", "c") == (1, 2, 2)


def test_bad_input_exits_2_with_a_message_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"format_version": 1, "nodes": [')
    bad = cli(tmp_path, "exec", "broken.json")
    assert bad.returncode == 2 and "broken.json" in bad.stderr and "Traceback" not in bad.stderr
    missing = cli(tmp_path, "exec", "nope.json")
    assert missing.returncode == 2 and "nope.json" in missing.stderr
    plan = write_plan(tmp_path / "map.json", [("first", "shell", {"command": "touch ran"}),
                                              ("m", "map", {"input": "x.json", "agent": "a"})])
    refused = cli(tmp_path, "exec", str(plan))
    assert refused.returncode == 2 and "no sub-plan 'a' (of node m)" in refused.stderr
    assert not (tmp_path / "ran").exists()
    (tmp_path / "bad.yml").write_text("commands:\n  - shell: echo ${nope.x}\n    timout: 5\n")
    compile_error = cli(tmp_path, "run", "bad.yml")
    assert compile_error.returncode == 2 and "bad.yml:" in compile_error.stderr
    # Where dask is installed, a package shadowing it plays its absence.
    shadow = tmp_path / "no-dask" / "distributed"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no dask here')\n")
    dask = cli(tmp_path, "exec", str(write_plan(tmp_path / "p.json", [])), "--executor", "dask",
               env={"PYTHONPATH": str(shadow.parent)})
    assert dask.returncode == 2 and "prodigy-workflows[dask]" in dask.stderr


def test_json_events_on_stdout_with_secrets_masked(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p.json",
                      [("n", "shell", {"command": "echo token=$API; exit 3"})],
                      secrets={"API": {"provider": "env", "key": "E2E_SECRET"}})
    out = cli(tmp_path, "exec", str(plan), "--json", "--executor", "inline",
              env={"E2E_SECRET": "sekrit-value-42"})
    assert out.returncode == 1
    events = [json.loads(line) for line in out.stdout.splitlines()]  # nothing else on stdout
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "run_finished"
    everything = out.stdout + out.stderr + "".join(
        p.read_text(errors="replace") for p in (tmp_path / ".prodigy").rglob("*") if p.is_file()
        and p.suffix != ".db")
    assert "sekrit-value-42" not in everything
    log = next((tmp_path / ".prodigy" / "runs").glob("*/logs/n.log")).read_text()
    assert "token=***" in log


def test_claude_steps_call_the_cli_with_the_prompt_as_one_argument(tmp_path: Path) -> None:
    fake = tmp_path / "fake_claude.py"
    fake.write_text(
        "import json, os, sys\n"
        "open('claude_calls.jsonl', 'a').write(json.dumps({'argv': sys.argv[1:], "
        "'automation': os.environ.get('PRODIGY_AUTOMATION')}) + '\\n')\n"
        "prompt = sys.argv[-1]\n"
        "print(json.dumps({'type': 'system', 'subtype': 'init', 'session_id': 's1'}))\n"
        "print('a warning that is not JSON')\n"
        "print(json.dumps({'type': 'result', 'subtype': 'success', 'is_error': 'fail' in prompt,"
        " 'result': 'answer to: ' + prompt, 'num_turns': 1, 'total_cost_usd': 0.25,"
        " 'session_id': 's1'}))\n")
    (tmp_path / "wf.yml").write_text(
        'commands:\n'
        '  - claude: "/plan the ${GOAL} feature"\n'
        '  - shell: "echo \'${claude.output}\' > answer.txt"\n'
        '  - claude: "/please fail"\n'
        '    on_failure:\n'
        '      shell: "echo handled ${error.exit_code} > handled.txt"\n')
    out = cli(tmp_path, "run", "wf.yml", "--arg", "GOAL=login", "--executor", "inline",
              env={"PRODIGY_CLAUDE_BIN": f"{sys.executable} {fake}"})
    assert out.returncode == 0, out.stderr
    calls = [json.loads(line)
             for line in (tmp_path / "claude_calls.jsonl").read_text().splitlines()]
    assert calls[0]["argv"] == ["-p", "--output-format", "stream-json", "--verbose",
                                "--permission-mode", "bypassPermissions",
                                "/plan the login feature"]
    assert calls[0]["automation"] == "true"
    # ${claude.output} is the session's final result text; a line that is not JSON is skipped.
    assert (tmp_path / "answer.txt").read_text() == "answer to: /plan the login feature\n"
    # `is_error: true` with exit 0 is a failure, the CLI's words its message.
    assert (tmp_path / "handled.txt").read_text() == "handled 1\n"


def test_locked_state_dir_then_ctrl_c_then_resume(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p.json", [
        ("a", "shell", {"command": "echo a >> a.count"}),
        ("slow", "shell", {"command": "echo $$ > slow.pid; while [ ! -f go ]; do sleep 0.05; "
                                      "done; echo s >> slow.count"}),
        ("z", "shell", {"command": "echo z >> z.count"})],
        [("a", "slow", "sequence"), ("slow", "z", "sequence")])
    first = start(tmp_path, "exec", str(plan), "--run-id", "r1", "--jobs", "2")
    try:
        wait_for(tmp_path / "slow.pid")
        second = cli(tmp_path, "resume", "r1")  # the lock guards a run, not the state dir
        assert second.returncode == 4
        assert f"in use by a running prodigy (pid {first.pid} run r1)" in second.stderr
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=20)
    finally:
        first.kill()
    assert first.returncode == 130, err
    assert "resume with: prodigy resume r1" in err
    slow_pid = int((tmp_path / "slow.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(slow_pid, 0)  # Ctrl-C stopped the running command's process group
    assert json.loads(cli(tmp_path, "runs", "show", "r1", "--json").stdout)["status"] == \
        "interrupted"
    (tmp_path / "go").touch()
    resumed = cli(tmp_path, "resume", "r1")
    assert resumed.returncode == 0, resumed.stderr
    assert counts(tmp_path, "a", "slow", "z") == (1, 1, 1)


def test_runtime_never_loads_the_compiler_for_exec(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p.json", [("n", "shell", {"command": "true"})])
    code = ("import sys; from prodigy.cli.main import main; "
            f"rc = main(['exec', {str(plan)!r}, '--executor', 'inline']); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('lark', 'networkx') "
            "or m.startswith('prodigy.compiler')]; print(rc, bad)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "0 []", out.stderr


def test_map_runs_the_workflow_once_per_file(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for name in ("a.txt", "b.txt"):
        (tmp_path / "in" / name).write_text(name)
    (tmp_path / "wf.yml").write_text('commands:\n  - shell: "echo ${ARG} >> seen.txt"\n')
    out = cli(tmp_path, "run", "wf.yml", "--map", "in/*.txt", "--executor", "inline")
    assert out.returncode == 0, out.stderr
    assert sorted((tmp_path / "seen.txt").read_text().split()) == ["a", "b"]  # the stems
    runs = json.loads(cli(tmp_path, "runs", "--json").stdout)
    assert sorted(r["args"]["ARG_PATH"] for r in runs) == ["in/a.txt", "in/b.txt"]


def test_events_follow_streams_until_the_run_ends(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p.json", [
        ("slow", "shell", {"command": "touch started; while [ ! -f go ]; do sleep 0.05; done"}),
        ("after", "shell", {"command": "true"})], [("slow", "after", "sequence")])
    run = start(tmp_path, "exec", str(plan), "--run-id", "f1", "--executor", "inline")
    try:
        wait_for(tmp_path / "started")
        follower = start(tmp_path, "events", "f1", "--follow", "--json")
        time.sleep(0.5)
        (tmp_path / "go").touch()
        assert run.wait(timeout=20) == 0
        out, _ = follower.communicate(timeout=20)
    finally:
        run.kill()
    kinds = [json.loads(line)["event"] for line in out.splitlines()]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("node_finished") == 2


def test_cook_is_run_and_options_parse() -> None:
    from prodigy.cli.main import build_parser
    from prodigy.cli.run_commands import cmd_resume, cmd_run

    parsed = build_parser().parse_args(["cook", "wf.yml", "--jobs", "3", "--executor", "inline",
                                        "--arg", "A=1", "--args", "x", "--force", "n1"])
    assert parsed.handler is cmd_run and parsed.jobs == 3 and parsed.force == ["n1"]
    resumed = build_parser().parse_args(["resume", "r1", "--dry-run", "--json"])
    assert resumed.handler is cmd_resume and resumed.dry_run and resumed.json
