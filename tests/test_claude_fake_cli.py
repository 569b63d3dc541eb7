"""The scripted fake CLI (tests/claude_standin/fake_cli.py): the real CLI's transcript shape, and
its failure modes."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

from .claude_standin import FakeClaude
from .e2e.gitrepo import git, make_repo

COMMIT = "echo hi > a.txt && git add a.txt && git commit -qm 'add a' && echo committed"


def fake(claude: FakeClaude, cwd: Path, *args: str,
         **script: Any) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    env = claude.script(script)
    argv = [*shlex.split(env["PRODIGY_CLAUDE_BIN"]), *args]
    out = subprocess.run(argv, cwd=cwd, env={**env, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=30)
    return out, out.stdout.splitlines()


def kinds(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        event = json.loads(line)
        content = event.get("message", {}).get("content", [])
        out.append(event["type"] + (f"/{event['subtype']}" if "subtype" in event else "")
                   + (":" + ",".join(b["type"] for b in content) if content else ""))
    return out


def test_a_session_runs_its_tools_for_real_and_records_its_argv(
        fake_claude: FakeClaude, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    out, lines = fake(fake_claude, repo, "-p", "--output-format", "stream-json", "--verbose",
                      "--permission-mode", "acceptEdits", "--model", "m9", "go", turns=[
                          [{"text": "Committing."},
                           {"tool": "Bash", "input": {"command": COMMIT}}],
                          {"blocks": [{"tool": "Write", "input": {"file_path": "b.txt",
                                                                  "content": "b\n"}}],
                           "usage": {"output_tokens": 60, "cache_read_input_tokens": 1000}},
                          [{"text": "All done."}]])
    assert out.returncode == 0, out.stderr
    assert kinds(lines) == ["system/init", "assistant:text", "assistant:tool_use",
                            "user:tool_result", "assistant:tool_use", "user:tool_result",
                            "assistant:text", "result/success"]
    init, result = json.loads(lines[0]), json.loads(lines[-1])
    assert (init["model"], init["permissionMode"], init["cwd"]) == ("m9", "acceptEdits",
                                                                    str(repo))
    assert json.loads(lines[3])["message"]["content"][0]["content"] == "committed"
    assert git(repo, "log", "-1", "--format=%s") == "add a"
    assert (repo / "b.txt").read_text() == "b\n"
    assert (result["is_error"], result["result"], result["num_turns"]) == (False, "All done.", 3)
    assert result["usage"] == {"input_tokens": 600, "output_tokens": 140,
                               "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1000}
    assert result["total_cost_usd"] == round(600 * 5e-6 + 140 * 25e-6 + 1000 * 0.5e-6, 8)
    assert {e["session_id"] for e in map(json.loads, lines)} == {init["session_id"]}
    [call] = fake_claude.calls()
    assert call["argv"][-1] == "go" and call["cwd"] == str(repo)
    assert call["env"]["PRODIGY_FAKE_CLAUDE_SCRIPT"] == str(fake_claude.script_path)


def test_malformed_lines_truncation_errors_and_exit_codes(
        fake_claude: FakeClaude, tmp_path: Path) -> None:
    out, lines = fake(fake_claude, tmp_path, "-p", "x",
                      turns=[{"raw": "not json {"}, [{"text": "hi"}]], stderr="warning\n")
    assert lines[1] == "not json {" and kinds(lines[2:]) == ["assistant:text", "result/success"]
    assert out.stderr == "warning\n" and out.returncode == 0

    out, lines = fake(fake_claude, tmp_path, "-p", "x",
                      turns=[[{"tool": "Bash", "input": {"command": "true"}}], {"exit": 137}])
    assert out.returncode == 137 and kinds(lines)[-1] == "user:tool_result"  # no result

    out, lines = fake(fake_claude, tmp_path, "-p", "x", turns=[[{"text": "hi"}]], result=None)
    assert out.returncode == 0 and kinds(lines)[-1] == "assistant:text"

    out, lines = fake(fake_claude, tmp_path, "-p", "x", result={
        "is_error": True, "result": "Not logged in · Please run /login", "total_cost_usd": 0})
    assert out.returncode == 1 and json.loads(lines[-1])["result"].startswith("Not logged in")

    out, lines = fake(fake_claude, tmp_path, "-p", "x", exit_code=0, result={"is_error": True})
    assert out.returncode == 0 and json.loads(lines[-1])["is_error"] is True

    out, lines = fake(fake_claude, tmp_path, "-p", "x",
                      turns=[[{"tool": "Bash", "input": {"command": "exit 3"}}]])
    results = [json.loads(line) for line in lines if json.loads(line)["type"] == "user"]
    assert results[0]["message"]["content"][0]["is_error"] is True
    assert json.loads(lines[-1])["result"] == "done"  # a script ending on tool uses gets `done`


def test_max_turns_and_per_agent_scripts(fake_claude: FakeClaude, tmp_path: Path) -> None:
    loop = [[{"tool": "Bash", "input": {"command": "echo again"}}]] * 5
    out, lines = fake(fake_claude, tmp_path, "-p", "--max-turns", "2", "x", turns=loop)
    result = json.loads(lines[-1])
    assert out.returncode == 1 and result["subtype"] == "error_max_turns" and result["is_error"]
    assert result["errors"] == ["Reached maximum number of turns (2)"] and "result" not in result
    assert result["num_turns"] == 3

    scripts = {"a": {"turns": [[{"text": "I am a"}]]},
               "b": {"turns": [{"sleep": 0.01}, [{"text": "I am b"}]]}}
    for name in ("a", "b", "c"):
        _, lines = fake(fake_claude, tmp_path, "-p", f"[script:{name}] go",
                        turns=[[{"text": "top level"}]], scripts=scripts)
        assert json.loads(lines[-1])["result"] == {"a": "I am a", "b": "I am b"}.get(
            name, "top level")
