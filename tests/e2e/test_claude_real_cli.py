"""The real Claude Code CLI (pinned npm version) against the Messages API stand-in, offline.

These pin the facts prodigy's stream parser relies on: the event kinds and fields of
`--output-format stream-json --verbose`, the result of a failed session (not logged in, a
server error, max turns, root without IS_SANDBOX), and that scripted tool uses really run in
the CLI's working directory. Each CLI run takes about 0.5-1.5 s.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ..claude_standin import StandIn, offline_env
from .gitrepo import git, make_repo

pytestmark = pytest.mark.e2e

STREAM = ("--output-format", "stream-json", "--verbose")
COMMIT = ("echo hello > hello.txt && git add hello.txt && git commit -qm 'add hello' "
          "&& echo committed")


def claude(env: dict[str, str], cwd: Path, prompt: str, *flags: str,
           timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """Run the CLI once; its process and its stdout's events (every line must be JSON)."""
    argv = [env["PRODIGY_CLAUDE_BIN"], "-p", prompt, *STREAM, *flags]
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    return out, [json.loads(line) for line in out.stdout.splitlines()]


def kinds(events: list[dict[str, Any]]) -> list[str]:
    """`type` or `type/subtype` per event, blocks spelled out for assistant and user events."""
    found = []
    for event in events:
        kind = event["type"] + (f"/{event['subtype']}" if "subtype" in event else "")
        content = event.get("message", {}).get("content", [])
        if isinstance(content, list) and content:
            kind += ":" + ",".join(block["type"] for block in content)
        found.append(kind)
    return found


def test_an_agent_runs_its_bash_tool_commits_and_reports_cost(
        claude_env: dict[str, str], claude_standin: StandIn, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    marker = claude_standin.script("edit", [
        [{"text": "I'll write it."},
         {"tool": "Bash", "input": {"command": COMMIT, "description": "write and commit"}}],
        {"blocks": [{"text": "Committed hello.txt."}],
         "usage": {"input_tokens": 300, "output_tokens": 20, "cache_read_input_tokens": 100}},
    ])
    out, events = claude(claude_env, repo, f"{marker} make a file",
                         "--dangerously-skip-permissions")
    assert out.returncode == 0, out.stderr
    assert kinds(events) == ["system/init", "assistant:text", "assistant:tool_use",
                             "user:tool_result", "assistant:text", "result/success"]
    init, said, use, tool_result, _, result = events
    assert init["cwd"] == str(repo) and init["permissionMode"] == "bypassPermissions"
    assert {"Bash", "Edit", "Write", "Read"} <= set(init["tools"])
    assert init["claude_code_version"] == "2.1.197" and init["session_id"]
    # One assistant event per content block; the blocks of one API message share its id.
    assert said["message"]["id"] == use["message"]["id"]
    assert use["message"]["content"][0]["name"] == "Bash"
    assert use["message"]["content"][0]["input"]["command"] == COMMIT
    assert tool_result["message"]["content"][0] == {
        "tool_use_id": use["message"]["content"][0]["id"], "type": "tool_result",
        "content": "committed", "is_error": False}
    assert {e["session_id"] for e in events} == {init["session_id"]}
    assert result["is_error"] is False and result["result"] == "Committed hello.txt."
    assert result["num_turns"] == 2 and result["stop_reason"] == "end_turn"
    # Usage is summed over the turns; an assistant event's own usage says output_tokens 1.
    assert {k: result["usage"][k] for k in ("input_tokens", "output_tokens",
                                            "cache_read_input_tokens")} == {
        "input_tokens": 500, "output_tokens": 60, "cache_read_input_tokens": 100}
    assert result["total_cost_usd"] == pytest.approx(0.00405)  # opus-4-8: 5/25/0.5 per MTok
    assert git(repo, "log", "-1", "--format=%s") == "add hello"
    assert (repo / "hello.txt").read_text() == "hello\n"
    # The prompt reached the model; the tool result came back in the next request.
    first, second = claude_standin.agent_requests("edit")
    assert f"{marker} make a file" in first.user_text()
    assert [r["content"] for r in second.tool_results()] == ["committed"]


def test_max_turns_ends_with_error_max_turns_and_exit_1(
        claude_env: dict[str, str], claude_standin: StandIn, tmp_path: Path) -> None:
    marker = claude_standin.script("loop", [
        [{"tool": "Bash", "input": {"command": f"echo {i}", "description": "again"}}]
        for i in range(5)])
    out, events = claude(claude_env, tmp_path, f"{marker} loop",
                         "--permission-mode", "bypassPermissions", "--max-turns", "1")
    assert out.returncode == 1
    result = events[-1]
    assert kinds(events) == ["system/init", "assistant:tool_use", "user:tool_result",
                             "result/error_max_turns"]
    assert result["is_error"] is True and "result" not in result
    assert result["errors"] == ["Reached maximum number of turns (1)"]
    assert result["num_turns"] == 2 and result["terminal_reason"] == "max_turns"
    assert result["total_cost_usd"] > 0


def test_not_logged_in_is_an_error_result(claude_cli: Path, tmp_path: Path) -> None:
    env = offline_env(tmp_path / "home", None, claude_cli, api_key=None)
    out, events = claude(env, tmp_path, "hello", timeout=30)
    assert out.returncode == 1  # 2.1.197 here: 1, with the result event below on stdout
    assert kinds(events) == ["system/init", "assistant:text", "result/success"]
    assert events[1]["error"] == "authentication_failed"
    assert events[1]["message"]["model"] == "<synthetic>"
    result = events[-1]
    assert result["is_error"] is True and result["subtype"] == "success"
    assert result["result"] == "Not logged in · Please run /login"
    assert result["total_cost_usd"] == 0


def test_server_errors_are_retried_then_reported(
        claude_env: dict[str, str], claude_standin: StandIn, tmp_path: Path) -> None:
    broken = claude_standin.script("broken", [{"error": 500}])
    out, events = claude(claude_env, tmp_path, f"{broken} x")  # CLAUDE_CODE_MAX_RETRIES=0
    assert out.returncode == 1
    assert kinds(events) == ["system/init", "assistant:text", "result/success"]
    assert events[1]["error"] == "server_error"
    assert events[-1]["is_error"] is True and events[-1]["api_error_status"] == 500
    assert events[-1]["result"].startswith("API Error: 500 scripted error 500.")

    flaky = claude_standin.script("flaky", [{"error": 529, "times": 1,
                                             "blocks": [{"text": "recovered"}]}])
    out, events = claude({**claude_env, "CLAUDE_CODE_MAX_RETRIES": "1"}, tmp_path, f"{flaky} x")
    assert out.returncode == 0
    assert kinds(events) == ["system/init", "system/api_retry", "assistant:text",
                             "result/success"]
    retry = events[1]
    assert (retry["attempt"], retry["max_retries"], retry["error_status"], retry["error"]) == (
        1, 1, 529, "overloaded")
    assert events[-1]["result"] == "recovered" and events[-1]["is_error"] is False
    assert [r.answered for r in claude_standin.agent_requests("flaky")] == ["error", "turn"]


def test_a_hanging_reply_keeps_the_cli_waiting(
        claude_env: dict[str, str], claude_standin: StandIn, tmp_path: Path) -> None:
    marker = claude_standin.script("stuck", [{"hang": True}])
    argv = [claude_env["PRODIGY_CLAUDE_BIN"], "-p", f"{marker} x", *STREAM]
    proc = subprocess.Popen(argv, cwd=tmp_path, env=claude_env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 30
        while not claude_standin.agent_requests("stuck") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        assert proc.poll() is None  # no idle timeout of its own: the caller's timeout must act
    finally:
        proc.kill()
        stdout, _ = proc.communicate(timeout=10)
    assert [json.loads(line)["type"] for line in stdout.splitlines()] == ["system"]
    assert [r.answered for r in claude_standin.agent_requests("stuck")] == ["hang"]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_sigint_ends_the_session_and_its_tool_but_sigterm_orphans_the_tool(
        claude_env: dict[str, str], claude_standin: StandIn, tmp_path: Path) -> None:
    """The Bash tool runs in a session of its own (setsid): killing the CLI's process group does
    not reach it. SIGINT makes the CLI stop it and print an `error_during_execution` result."""
    marker = claude_standin.script("slow", [[{"tool": "Bash", "input": {
        "command": "sh -c 'echo $$ > tool.pid; exec sleep 30'", "description": "slow"}}]])
    argv = [claude_env["PRODIGY_CLAUDE_BIN"], "-p", f"{marker} x", *STREAM,
            "--dangerously-skip-permissions"]
    for sig in (signal.SIGINT, signal.SIGTERM):
        pid_file = tmp_path / "tool.pid"
        pid_file.unlink(missing_ok=True)
        proc = subprocess.Popen(argv, cwd=tmp_path, env=claude_env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        tool = 0
        try:
            deadline = time.monotonic() + 30
            while not (pid_file.exists() and pid_file.read_text().strip()):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
            tool = int(pid_file.read_text())
            os.killpg(proc.pid, sig)
            stdout, _ = proc.communicate(timeout=20)
            time.sleep(0.3)
            if sig == signal.SIGINT:
                result = json.loads(stdout.splitlines()[-1])
                # The exit code after SIGINT varies between runs (0 or 1); the result does not.
                assert proc.returncode in (0, 1)
                assert (result["subtype"], result["is_error"]) == (
                    "error_during_execution", True)
                assert not alive(tool)
            else:
                assert proc.returncode == 143  # it exits 128 + 15 itself; no result event
                assert json.loads(stdout.splitlines()[-1])["type"] != "result"
                assert alive(tool)  # orphaned
        finally:
            if proc.poll() is None:
                proc.kill()
            if tool and alive(tool):
                os.kill(tool, signal.SIGKILL)


def test_parallel_agents_each_follow_their_own_script(
        claude_env: dict[str, str], claude_standin: StandIn, tmp_path: Path) -> None:
    def agent(i: int) -> tuple[str, str]:
        work = tmp_path / f"agent{i}"
        work.mkdir()
        marker = claude_standin.script(f"item-{i}", [
            [{"tool": "Write", "input": {"file_path": "out.txt", "content": f"item {i}\n"}}],
            [{"text": f"agent {i} done"}]])
        _, events = claude(claude_env, work, f"{marker} go", "--dangerously-skip-permissions")
        return events[-1]["result"], (work / "out.txt").read_text()

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        assert list(pool.map(agent, range(3))) == [(f"agent {i} done", f"item {i}\n")
                                                   for i in range(3)]


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal applies to root only")
def test_root_without_is_sandbox_refuses_to_bypass_permissions(
        claude_env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in claude_env.items() if k != "IS_SANDBOX"}
    for flags in (("--permission-mode", "bypassPermissions"), ("--dangerously-skip-permissions",)):
        out, events = claude(env, tmp_path, "x", *flags)
        assert (out.returncode, events) == (1, [])
        assert out.stderr.strip() == ("--dangerously-skip-permissions cannot be used with "
                                      "root/sudo privileges for security reasons")
