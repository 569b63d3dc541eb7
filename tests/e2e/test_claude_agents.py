"""`claude:` steps end to end: the `prodigy` CLI driving the REAL Claude Code CLI.

Every run happens in a scratch git repository (so in worktrees), with the pinned CLI against
the loopback Messages API stand-in (`tests/claude_standin`): each agent follows the script its
prompt's `[script:NAME]` marker names. The stand-in's usage figures make the CLI price its
sessions (default model: one default turn, 200 in / 40 out, costs $0.002), so cost is checked
end to end. The argv test uses the scripted fake CLI (no Node). Each CLI session takes about
0.5-1.5 s; the timeouts take what they say.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from ..claude_standin import FakeClaude, StandIn
from .gitrepo import git, make_repo
from .test_run_cli import cli

pytestmark = pytest.mark.e2e

TURN_COST = 0.002  # a default turn: 200 input tokens at $5/MTok + 40 output at $25/MTok


def json_events(stdout: str) -> list[dict[str, Any]]:
    """`--json` output: one event a line, every line JSON."""
    return [json.loads(line) for line in stdout.splitlines()]


def log_events(repo: Path, run_id: str) -> list[dict[str, Any]]:
    path = repo / ".prodigy" / "runs" / run_id / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def finished(events: list[dict[str, Any]], node: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "node_finished" and e.get("node") == node]


def transcript(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def processes_running(needle: str) -> list[str]:
    """Command lines of live processes containing `needle` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            state = (entry / "stat").read_text().rsplit(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if needle in cmdline and state != "Z":
            found.append(f"{entry.name}: {cmdline}")
    return found


# --- 1. A MapReduce with four parallel agents ------------------------------------------------

MAP = """\
name: four-agents
mode: mapreduce
map:
  input: items.json
  json_path: "$[*]"
  max_parallel: 4
  agent_template:
    - claude: "${item.script} implement ${item.name}"
      commit_required: true
reduce:
  - write_file:
      path: results.json
      content: "${map.results}"
  - shell: "git add results.json && git commit -qm 'map results'"
"""


def commit_file(i: int) -> str:
    return f"echo item {i} > f{i}.txt && git add f{i}.txt && git commit -qm 'item {i}'"


def test_four_parallel_agents_commit_and_report_cost_tokens_and_transcripts(
        claude_env: dict[str, str], claude_standin: StandIn, tmp_path: Path) -> None:
    items = []
    for i in range(4):
        marker = claude_standin.script(f"item{i}", [
            [{"text": f"Writing f{i}.txt."},
             {"tool": "Bash", "input": {"command": commit_file(i), "description": "commit"}}],
            [{"text": f"Committed f{i}.txt."}]])
        items.append({"name": f"f{i}", "script": marker})
    repo = make_repo(tmp_path / "repo", {"items.json": json.dumps(items), "wf.yml": MAP})

    run = cli(repo, "run", "wf.yml", "--run-id", "four", "--jobs", "4", "-y", "--json",
              env=claude_env)
    assert run.returncode == 0, run.stderr
    events = json_events(run.stdout)
    assert events == log_events(repo, "four")  # --json prints the event log as it is written

    # Every agent's commit landed on main; each agent followed its own script.
    assert sorted(p.name for p in repo.glob("f*.txt")) == [f"f{i}.txt" for i in range(4)]
    subjects = git(repo, "log", "--format=%s", "main").splitlines()
    assert sorted(s for s in subjects if s.startswith("item ")) == [f"item {i}" for i in range(4)]
    for i in range(4):
        first, second = claude_standin.agent_requests(f"item{i}")
        assert f"[script:item{i}] implement f{i}" in first.user_text()
        assert [r.get("is_error", False) for r in second.tool_results()] == [False]

    agents = {f"map[item_{i}]/map.agent.0": i for i in range(4)}  # node -> item index
    # They ran side by side: at some moment at least two sessions were open (four, usually).
    spans = {e["node"]: [e["ts"]] for e in events
             if e["event"] == "node_started" and e.get("node") in agents}
    for node in agents:
        spans[node].append(finished(events, node)[-1]["ts"])
    assert max(sum(start <= t < end for start, end in spans.values())
               for t, _ in spans.values()) >= 2

    # Live tool use, per agent, with its turn.
    for node, i in agents.items():
        uses = [e for e in events if e["event"] == "agent_tool_use" and e["node"] == node]
        assert [u["tool"] for u in uses] == [f"Bash {commit_file(i)}"]
        assert uses[0]["item"] == f"item_{i}"
        assert isinstance(uses[0]["turn"], int) and uses[0]["turn"] >= 1
        said = [e["text"] for e in events if e["event"] == "agent_message" and e["node"] == node]
        assert said == [f"Writing f{i}.txt.", f"Committed f{i}.txt."]

    # node_finished of each claude node carries its usage and its transcript.
    for node in agents:
        [done] = finished(events, node)
        assert done["status"] == "succeeded"
        assert done["cost_usd"] == pytest.approx(2 * TURN_COST)
        assert done["tokens"] == {"input": 400, "output": 80, "cache_read": 0,
                                  "cache_creation": 0}
        assert done["turns"] == 2 and done["session_id"]
        path = Path(done["transcript"])
        assert path.parent == repo / ".prodigy" / "runs" / "four" / "logs"
        assert path.suffix == ".jsonl"
        lines = transcript(path)
        assert (lines[0]["type"], lines[0]["subtype"]) == ("system", "init")
        assert lines[0]["session_id"] == done["session_id"]
        assert lines[-1]["type"] == "result" and lines[-1]["is_error"] is False
        assert lines[-1]["total_cost_usd"] == pytest.approx(done["cost_usd"])
        assert Path(lines[0]["cwd"]).name == f"item_{agents[node]}"  # its own worktree

    # `runs show --json`: the run's cost and tokens, and every agent with its cost.
    shown = json.loads(cli(repo, "runs", "show", "four", "--json", env=claude_env).stdout)
    assert shown["status"] == "succeeded"
    assert shown["cost_usd"] == pytest.approx(8 * TURN_COST)
    assert shown["tokens"] == {"input": 1600, "output": 320, "cache_read": 0,
                               "cache_creation": 0}
    assert set(shown["agents"]) == set(agents)
    for node, agent in shown["agents"].items():
        assert agent["cost_usd"] == pytest.approx(2 * TURN_COST) and agent["attempts"] == 1
        assert agent["item"] == f"item_{agents[node]}"
        assert Path(agent["transcript"]).is_file()
    assert shown["maps"]["map"]["cost_usd"] == pytest.approx(8 * TURN_COST)
    assert shown["maps"]["map"]["agents"] == 4

    # ${map.results} in reduce: each item's cost and tokens beside its commits.
    results = json.loads((repo / "results.json").read_text())
    assert sorted(r["item_id"] for r in results) == [f"item_{i}" for i in range(4)]
    for entry in results:
        assert entry["status"] == "succeeded" and len(entry["commits"]) == 1
        assert entry["cost_usd"] == pytest.approx(2 * TURN_COST)
        assert entry["tokens"]["input"] == 400 and entry["tokens"]["output"] == 80
        assert entry["output"].strip() == f"Committed {entry['item']['name']}.txt."


def test_live_turns_count_api_messages_not_content_blocks(
        claude_env: dict[str, str], claude_standin: StandIn, tmp_path: Path) -> None:
    marker = claude_standin.script("turns", [
        [{"text": "Looking."}, {"tool": "Bash", "input": {"command": "echo hi",
                                                          "description": "look"}}],
        [{"text": "Done."}]])
    repo = make_repo(tmp_path / "repo", {"wf.yml": f'commands:\n  - claude: "{marker} go"\n'})
    run = cli(repo, "run", "wf.yml", "--run-id", "turns", "--json", env=claude_env)
    assert run.returncode == 0, run.stderr
    events = json_events(run.stdout)
    live = [(e["event"], e["turn"]) for e in events
            if e["event"] in ("agent_message", "agent_tool_use")]
    [done] = finished(events, "main.0")
    assert done["turns"] == 2  # the CLI's num_turns: two API messages
    assert live == [("agent_message", 1), ("agent_tool_use", 1), ("agent_message", 2)]


# --- 2. Failures tell the truth ----------------------------------------------------------------

def keep_message(name: str) -> str:
    """An on_failure handler writing `${error.message}` to $OUT/NAME (a quoted heredoc: the
    message is taken literally)."""
    return (f"    on_failure:\n"
            f"      shell: |\n"
            f"        cat > \"$OUT/{name}\" <<'EOF'\n"
            f"        ${{error.message}}\n"
            f"        EOF\n"
            f"      fail_workflow: false\n")


def test_failures_fail_the_step_with_the_clis_own_words(
        claude_env: dict[str, str], claude_standin: StandIn, tmp_path: Path) -> None:
    loop = claude_standin.script("loop", [
        [{"tool": "Bash", "input": {"command": f"echo {i}", "description": "again"}}]
        for i in range(5)])
    broken = claude_standin.script("broken", [{"error": 500}])
    never = claude_standin.script("never", [[{"text": "unreachable"}]])
    workflow = (
        "name: failures\n"
        "commands:\n"
        f'  - claude: "{loop} keep going"\n'
        "    max_turns: 1\n" + keep_message("turns.txt") +
        # An empty API key: the CLI is not logged in (and never calls the API).
        f'  - claude: "{never} hello"\n'
        "    env:\n"
        '      ANTHROPIC_API_KEY: ""\n' + keep_message("login.txt") +
        f'  - claude: "{broken} x"\n' + keep_message("server.txt") +
        '  - shell: "echo after > \\"$OUT/after.txt\\""\n')
    out = tmp_path / "out"
    out.mkdir()
    repo = make_repo(tmp_path / "repo", {"wf.yml": workflow})

    run = cli(repo, "run", "wf.yml", "--run-id", "fails", env={**claude_env, "OUT": str(out)})
    assert run.returncode == 0, run.stderr  # every failure handled; the run went on
    assert (out / "after.txt").read_text() == "after\n"
    messages = {name: (out / name).read_text().strip()
                for name in ("turns.txt", "login.txt", "server.txt")}
    assert messages["turns.txt"] == ("claude reported error_max_turns: "
                                     "Reached maximum number of turns (1)")
    assert messages["login.txt"] == "claude reported error: Not logged in · Please run /login"
    assert messages["server.txt"].startswith("claude reported error: API Error: 500 "
                                             "scripted error 500.")
    assert claude_standin.agent_requests("never") == []
    assert [r.answered for r in claude_standin.agent_requests("broken")] == ["error"]
    assert [r.answered for r in claude_standin.agent_requests("loop")] == ["turn"]

    events = log_events(repo, "fails")
    for node, words in (("main.0", "Reached maximum number of turns (1)"),
                        ("main.1", "Not logged in"), ("main.2", "API Error: 500")):
        failed, handled = finished(events, node)
        assert failed["status"] == "failed" and words in failed["message"]
        assert handled["status"] == "handled"
        assert transcript(failed["transcript"])[-1]["type"] == "result"
    # The max_turns session was paid for (one turn); the other two cost nothing.
    assert finished(events, "main.0")[0]["cost_usd"] == pytest.approx(TURN_COST)
    assert [finished(events, n)[0]["cost_usd"] for n in ("main.1", "main.2")] == [0, 0]
    # The end-of-run summary counts the agents and what they cost.
    assert "agents: 3, $0.0020, 240 tokens (200 in, 40 out)" in run.stderr


# --- 3. A hanging agent and `timeout:` ---------------------------------------------------------

def test_timeout_stops_a_hanging_agent_and_its_tools(
        claude_env: dict[str, str], claude_standin: StandIn, tmp_path: Path) -> None:
    sleep = f"sleep {300 + os.getpid() % 97}"  # a duration no other process here uses
    slow = claude_standin.script("slow", [
        [{"text": "Waiting."}, {"tool": "Bash", "input": {"command": sleep,
                                                          "description": "wait"}}]])
    hang = claude_standin.script("hang", [{"hang": True}])
    workflow = ("name: timeouts\n"
                "commands:\n"
                f'  - claude: "{slow} wait"\n'
                "    timeout: 5\n" + keep_message("slow.txt") +
                f'  - claude: "{hang} wait"\n'
                "    timeout: 3\n" + keep_message("hang.txt"))
    out = tmp_path / "out"
    out.mkdir()
    repo = make_repo(tmp_path / "repo", {"wf.yml": workflow})
    started = time.monotonic()
    try:
        run = cli(repo, "run", "wf.yml", "--run-id", "slow",
                  env={**claude_env, "OUT": str(out)})
        took = time.monotonic() - started
        assert run.returncode == 0, run.stderr
        assert took < 20, f"the run took {took:.1f}s"
        assert processes_running(sleep) == []  # the Bash tool's own session was stopped too
    finally:
        for line in processes_running(sleep):
            os.kill(int(line.split(":")[0]), signal.SIGKILL)
    assert (out / "slow.txt").read_text().strip() == "timed out after 5 seconds"
    assert (out / "hang.txt").read_text().strip() == "timed out after 3 seconds"
    events = log_events(repo, "slow")
    for node, limit in (("main.0", 5), ("main.1", 3)):
        failed = finished(events, node)[0]
        assert failed["status"] == "failed" and failed["exit_code"] == -1
        assert limit <= failed["duration_s"] < limit + 6
    # The tool ran: the live view saw it before the timeout.
    assert [e["tool"] for e in events if e["event"] == "agent_tool_use"] == [f"Bash {sleep}"]
    assert [r.answered for r in claude_standin.agent_requests("hang")] == ["hang"]


def test_a_timed_out_agent_s_spend_is_counted(
        claude_env: dict[str, str], claude_standin: StandIn, tmp_path: Path) -> None:
    """On SIGINT the CLI stops its tool and prints an `error_during_execution` result with the
    session's cost within ~0.2 s; that result belongs in the transcript and the spend (the
    timed-out read loop in runtime/executors/process.py `_pump` used to stop reading at the
    deadline and lose it)."""
    slow = claude_standin.script("slow", [
        [{"text": "Waiting."}, {"tool": "Bash", "input": {"command": "sleep 30",
                                                          "description": "wait"}}]])
    repo = make_repo(tmp_path / "repo", {
        "wf.yml": f'commands:\n  - claude: "{slow} wait"\n    timeout: 4\n'})
    run = cli(repo, "run", "wf.yml", "--run-id", "paid", env=claude_env)
    assert run.returncode == 1
    [failed] = finished(log_events(repo, "paid"), "main.0")
    assert failed["message"] == "timed out after 4 seconds"
    last = transcript(failed["transcript"])[-1]
    assert (last["type"], last.get("subtype")) == ("result", "error_during_execution")
    assert failed["cost_usd"] == pytest.approx(TURN_COST)
    assert "agents: 1, $0.0020" in run.stderr


# --- 4. A budget ---------------------------------------------------------------------------------

def test_a_budget_stops_the_run_and_resume_with_a_raised_budget_finishes_it(
        claude_env: dict[str, str], claude_standin: StandIn, tmp_path: Path) -> None:
    markers = [claude_standin.script(f"step{i}", [[{"text": f"step {i} done"}]])
               for i in range(3)]
    workflow = ("name: budget\n"
                f"max_cost_usd: {TURN_COST * 0.75}\n"  # reached by the first step's one turn
                "commands:\n" + "".join(f'  - claude: "{m} step {i}"\n'
                                        for i, m in enumerate(markers)))
    repo = make_repo(tmp_path / "repo", {"wf.yml": workflow})

    stopped = cli(repo, "run", "wf.yml", "--run-id", "budget", env=claude_env)
    assert stopped.returncode == 1
    assert "the workflow's max_cost_usd ($0.0015) is reached: $0.0020 spent" in stopped.stderr
    assert [len(claude_standin.agent_requests(f"step{i}")) for i in range(3)] == [1, 0, 0]
    events = log_events(repo, "budget")
    assert finished(events, "main.0")[0]["status"] == "succeeded"
    assert [(e["node"], e["reason"]) for e in events if e["event"] == "node_skipped"] == [
        ("main.1", "budget"), ("main.2", "budget")]  # pending, not failed
    assert finished(events, "main.1") == finished(events, "main.2") == []
    record = json.loads(cli(repo, "runs", "show", "budget", "--json", env=claude_env).stdout)
    assert record["status"] == "failed" and record["cost_usd"] == pytest.approx(TURN_COST)

    resumed = cli(repo, "resume", "budget", "--max-cost-usd", "100", env=claude_env)
    assert resumed.returncode == 0, resumed.stderr
    assert [len(claude_standin.agent_requests(f"step{i}")) for i in range(3)] == [1, 1, 1]
    assert "agents: 3, $0.0060, 720 tokens (600 in, 120 out)" in resumed.stderr
    record = json.loads(cli(repo, "runs", "show", "budget", "--json", env=claude_env).stdout)
    assert record["status"] == "succeeded"
    assert record["cost_usd"] == pytest.approx(3 * TURN_COST)  # the first step counted once
    assert record["tokens"]["input"] == 600 and record["tokens"]["output"] == 120
    assert {node: agent["attempts"] for node, agent in record["agents"].items()} == {
        "main.0": 1, "main.1": 1, "main.2": 1}


# --- 5. The argv ---------------------------------------------------------------------------------

OPTIONS = """\
name: options
model: sonnet
env:
  RULE: "Touch only src/"
defaults:
  max_turns: 7
  permission_mode: acceptEdits
commands:
  - claude: "[script:a] first task"
    allowed_tools: "Read, Edit, Bash(git diff:*)"
    disallowed_tools: [WebFetch, WebSearch]
    append_system_prompt: "${RULE}, always."
  - claude: "second task"
    model: opus
    permission_mode: plan
    max_turns: 3
"""


def test_options_reach_the_cli_argv(fake_claude: FakeClaude, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"wf.yml": OPTIONS})
    env = fake_claude.script(turns=[[{"text": "ok"}]])
    run = cli(repo, "run", "wf.yml", "--run-id", "argv", env=env)
    assert run.returncode == 0, run.stderr
    first, second = fake_claude.calls()
    stream = ["-p", "--output-format", "stream-json", "--verbose"]
    assert first["argv"] == [
        *stream, "--permission-mode", "acceptEdits", "--model", "sonnet", "--max-turns", "7",
        "--allowedTools", "Read,Edit,Bash(git diff:*)", "--disallowedTools",
        "WebFetch,WebSearch", "--append-system-prompt", "Touch only src/, always.",
        "[script:a] first task"]
    assert second["argv"] == [*stream, "--permission-mode", "plan", "--model", "opus",
                              "--max-turns", "3", "second task"]
    for call in (first, second):
        assert call["env"]["PRODIGY_AUTOMATION"] == "true"
        assert Path(call["cwd"]).name == "argv" and Path(call["cwd"]) != repo  # the worktree
