"""`prodigy logs RUN_ID [NODE]`: transcripts written by hand in the real CLI's shape (one
`assistant` event per content block, `user` events with tool results, a `result`), in a state
dir of a run with a map of two agents and a reduce, as the runtime lays them out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prodigy.cli.main import main
from prodigy.runtime.store import safe_name
from prodigy.runtime.transcripts import parse_transcript, render

RUN = "run-1"
AGENT_0, AGENT_1, REDUCE = "map[item_0]/map.agent.0", "map[item_1]/map.agent.0", "reduce.0"
USAGE = {"input_tokens": 200, "output_tokens": 40, "cache_read_input_tokens": 7,
         "cache_creation_input_tokens": 3}


def init(session: str = "s-1") -> dict[str, Any]:
    return {"type": "system", "subtype": "init", "session_id": session, "model": "claude-x",
            "tools": ["Bash", "Edit"], "cwd": "/w"}


def block(message_id: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "assistant", "session_id": "s-1", "parent_tool_use_id": None,
            "message": {"id": message_id, "role": "assistant", "model": "claude-x",
                        "content": [content], "usage": USAGE}}


def text(message_id: str, words: str) -> dict[str, Any]:
    return block(message_id, {"type": "text", "text": words})


def tool(message_id: str, tool_id: str, name: str, given: dict[str, Any]) -> dict[str, Any]:
    return block(message_id, {"type": "tool_use", "id": tool_id, "name": name, "input": given})


def tool_result(tool_id: str, content: Any, is_error: bool = False) -> dict[str, Any]:
    return {"type": "user", "session_id": "s-1", "message": {"role": "user", "content": [
        {"tool_use_id": tool_id, "type": "tool_result", "content": content,
         "is_error": is_error}]}}


def result(subtype: str = "success", turns: int = 2, cost: float = 0.0123,
           words: str = "Done.", is_error: bool = False) -> dict[str, Any]:
    return {"type": "result", "subtype": subtype, "is_error": is_error, "result": words,
            "num_turns": turns, "duration_ms": 2500, "total_cost_usd": cost,
            "session_id": "s-1", "usage": USAGE}


SESSION = [
    init(),
    text("m1", "I will run the tests first."),
    tool("m1", "t1", "Bash", {"command": "pytest -q", "description": "run tests"}),
    tool_result("t1", "F.\nFAILED test_x.py::test_a\nline 3\nline 4\nline 5", is_error=True),
    tool("m2", "t2", "Edit", {"file_path": "src/x.py", "old_string": "a", "new_string": "b"}),
    tool_result("t2", [{"type": "text", "text": "The file src/x.py has been updated."}]),
    text("m3", "Fixed."),
    result(turns=3),
]


def jsonl(*events: Any) -> str:
    return "".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events)


def make_run(state: Path, transcripts: dict[str, str], items: dict[str, str] | None = None,
             finished: tuple[str, ...] | None = None) -> Path:
    """A run dir with `node_started`/`node_finished` events and the transcripts under logs/."""
    run = state / "runs" / RUN
    (run / "logs").mkdir(parents=True)
    items = items or {}
    events = []
    for node, body in transcripts.items():
        path = run / "logs" / f"{safe_name(node)}.jsonl"
        path.write_text(body, encoding="utf-8")
        extra = {"item": items[node]} if node in items else {}
        events.append({"ts": 1.0, "run_id": RUN, "event": "node_started", "node": node,
                       "kind": "claude", "attempt": 1,
                       "log": str(path.with_suffix(".log")), **extra})
        if finished is None or node in finished:
            events.append({"ts": 2.0, "run_id": RUN, "event": "node_finished", "node": node,
                           "status": "succeeded", "cost_usd": 0.0123, "turns": 3,
                           "transcript": str(path), **extra})
    (run / "events.jsonl").write_text(jsonl(*events), encoding="utf-8")
    return run


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def logs(state: Path, *args: str) -> int:
    return main(["logs", RUN, *args, "--state-dir", str(state)])


def test_a_transcript_reads_as_turns_tool_calls_results_and_the_end(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(state, {REDUCE: jsonl(*SESSION)})
    assert logs(state, REDUCE) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("reduce.0 · succeeded · ") and out[0].endswith("reduce.0.jsonl")
    assert out[1:] == [
        "── attempt 1 · session s-1 · model claude-x",
        "turn 1",
        "  I will run the tests first.",
        "  → Bash  pytest -q",
        "    ✗ error: F.",
        "      FAILED test_x.py::test_a",
        "      line 3",
        "      … 2 more lines",
        "turn 2",
        "  → Edit  src/x.py",
        "    ← The file src/x.py has been updated.",
        "turn 3",
        "  Fixed.",
        "■ success · 3 turns · 2.5s · $0.0123 · "
        "tokens 200 in, 40 out, 7 cache read, 3 cache write",
    ]


def test_the_only_transcript_of_a_run_is_printed_without_naming_it(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(state, {REDUCE: jsonl(*SESSION)})
    assert logs(state) == 0
    assert "  → Edit  src/x.py" in capsys.readouterr().out


def test_several_transcripts_are_listed_with_item_turns_cost_status_and_path(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(state, {AGENT_0: jsonl(*SESSION), AGENT_1: jsonl(*SESSION[:3]),
                           REDUCE: jsonl(*SESSION)},
                   items={AGENT_0: "item_0", AGENT_1: "item_1"}, finished=(AGENT_0, REDUCE))
    assert logs(state) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"run {RUN}: 3 claude nodes")
    assert out[1].split() == ["NODE", "ITEM", "TURNS", "COST", "STATUS", "TRANSCRIPT"]
    rows = [line.split() for line in out[2:]]
    assert rows[0][:5] == [AGENT_0, "item_0", "3", "$0.0123", "succeeded"]
    assert rows[1][:5] == [AGENT_1, "item_1", "1", "-", "unfinished"]
    assert rows[2][:5] == [REDUCE, "-", "3", "$0.0123", "succeeded"]
    assert rows[2][5] == str(run / "logs" / "reduce.0.jsonl")


@pytest.mark.parametrize("query", [AGENT_1, "item_1", "item_1]/map.agent.0", "p[item_1",
                                   safe_name(AGENT_1), safe_name(AGENT_1) + ".jsonl"])
def test_a_node_is_named_by_id_item_suffix_part_or_file_name(
        state: Path, capsys: pytest.CaptureFixture[str], query: str) -> None:
    make_run(state, {AGENT_0: jsonl(*SESSION), AGENT_1: jsonl(init("s-2"), result()),
                     REDUCE: jsonl(*SESSION)}, items={AGENT_0: "item_0", AGENT_1: "item_1"})
    assert logs(state, query) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{AGENT_1} (item_1) · succeeded") and "session s-2" in out


def test_an_item_id_wins_over_a_longer_item_it_is_part_of(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    many = {f"map[item_{n}]/map.agent.0": jsonl(init(f"s-{n}"), result()) for n in (1, 10, 11)}
    make_run(state, many, items={node: node[4:node.index("]")] for node in many})
    assert logs(state, "item_1") == 0
    assert "session s-1 ·" in capsys.readouterr().out


def test_an_ambiguous_node_lists_the_candidates_and_exits_2(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(state, {AGENT_0: jsonl(*SESSION), AGENT_1: jsonl(*SESSION)},
             items={AGENT_0: "item_0", AGENT_1: "item_1"})
    assert logs(state, "agent") == 2
    err = capsys.readouterr().err
    assert "P501" in err and "matches 2 claude nodes" in err
    assert AGENT_0 in err and AGENT_1 in err


def test_an_unknown_node_says_what_it_may_have_meant_and_exits_2(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(state, {AGENT_0: jsonl(*SESSION), REDUCE: jsonl(*SESSION)},
             items={AGENT_0: "item_0"})
    assert logs(state, "reduse.0") == 2
    err = capsys.readouterr().err
    assert "P501" in err and "did you mean 'reduce.0'?" in err and AGENT_0 in err


@pytest.mark.parametrize("run_id", ["nope", "..", "a/b"])
def test_an_unknown_run_is_p505(state: Path, capsys: pytest.CaptureFixture[str],
                                run_id: str) -> None:
    make_run(state, {REDUCE: jsonl(*SESSION)})
    assert main(["logs", run_id, "--state-dir", str(state)]) == 2
    assert "P505" in capsys.readouterr().err


def test_tail_keeps_the_last_entries_and_names_their_turn(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(state, {REDUCE: jsonl(*SESSION)})
    assert logs(state, REDUCE, "--tail", "3") == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "… 5 earlier entries", "turn 2", "    ← The file src/x.py has been updated.",
        "turn 3", "  Fixed.",
        "■ success · 3 turns · 2.5s · $0.0123 · "
        "tokens 200 in, 40 out, 7 cache read, 3 cache write"]
    assert logs(state, REDUCE, "--tail", "0") == 2


def test_summary_gives_turns_tools_tokens_and_cost_per_node_and_a_total(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(state, {AGENT_0: jsonl(*SESSION), REDUCE: jsonl(*SESSION)},
             items={AGENT_0: "item_0"})
    assert logs(state, "--summary") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NODE", "TURNS", "COST", "TOKENS", "TOOLS"]
    assert out[1].split()[:3] == [AGENT_0, "3", "$0.0123"]
    assert " ".join(out[1].split()).endswith(
        "200 in, 40 out, 7 cache read, 3 cache write Bash 1, Edit 1")
    assert out[3].startswith("total (2 nodes)")
    assert "$0.0246" in out[3] and out[3].endswith("Bash 2, Edit 2")
    assert "400 in, 80 out, 14 cache read, 6 cache write" in out[3]
    assert logs(state, "item_0", "--summary") == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # one node: no total line


def test_json_is_the_summary_as_objects_and_a_total(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(state, {AGENT_0: jsonl(*SESSION), REDUCE: jsonl(*SESSION, *SESSION)},
             items={AGENT_0: "item_0"})
    assert logs(state, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    first, second = data["nodes"]
    assert first["node"] == AGENT_0 and first["item"] == "item_0"
    assert first["status"] == "succeeded" and first["result"] == "success"
    assert (first["turns"], first["cost_usd"], first["attempts"]) == (3, 0.0123, 1)
    assert first["tools"] == {"Bash": 1, "Edit": 1}
    assert first["tokens"] == {"input": 200, "output": 40, "cache_read": 7, "cache_creation": 3}
    assert first["transcript"].endswith(".jsonl")
    assert (second["attempts"], second["turns"], second["cost_usd"]) == (2, 6, 0.0246)
    assert data["total"] == {"nodes": 2, "turns": 9, "tools": {"Bash": 3, "Edit": 3},
                             "tokens": {"input": 600, "output": 120, "cache_read": 21,
                                        "cache_creation": 9}, "cost_usd": 0.0369}


def test_retried_attempts_in_one_file_are_shown_apart(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failed = [init("s-a"), text("m1", "Trying."),
              result("error_max_turns", turns=1, words="", is_error=True)]
    make_run(state, {REDUCE: jsonl(*failed, init("s-b"), text("m1", "Again."), result())})
    assert logs(state) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "── attempt 1 · session s-a · model claude-x"
    assert out[2:4] == ["turn 1", "  Trying."]
    assert out[4].startswith("■ error_max_turns · 1 turn · ")
    assert out[5] == "── attempt 2 · session s-b · model claude-x"
    assert out[6:8] == ["turn 1", "  Again."]


def test_malformed_and_truncated_transcripts_render_without_a_traceback(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torn = jsonl("warning: using a proxy", *SESSION[:4], "[1, 2]", 17) + '{"type": "assis'
    make_run(state, {REDUCE: torn}, finished=())
    assert logs(state) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("reduce.0 · unfinished")
    assert out[1] == "  (not JSON) warning: using a proxy"
    assert out[2] == "── attempt 1 · session s-1 · model claude-x"
    assert "  (not JSON) [1, 2]" in out and "  (not JSON) 17" in out
    assert out[-2] == '  (not JSON) {"type": "assis'
    assert out[-1].startswith("■ no result: the session was stopped")
    assert logs(state, "--json") == 0
    node = json.loads(capsys.readouterr().out)["nodes"][0]
    assert (node["result"], node["turns"], node["cost_usd"], node["malformed"]) == \
        ("no result", 1, None, 4)


def test_a_transcript_the_event_log_never_named_is_found_by_its_file(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(state, {REDUCE: jsonl(*SESSION)})
    (run / "logs" / "stray.jsonl").write_text(jsonl(init("s-9"), result()), encoding="utf-8")
    (run / "events.jsonl").write_bytes(b'{"torn\n\xff\xfe\n')  # unreadable: files still tell
    assert logs(state, "stray") == 0
    assert "session s-9" in capsys.readouterr().out
    assert logs(state) == 0
    assert "2 claude nodes" in capsys.readouterr().out


def test_a_run_without_transcripts_says_so(state: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    make_run(state, {})
    assert logs(state) == 0
    assert "no claude transcripts" in capsys.readouterr().err
    assert logs(state, "x") == 2
    assert logs(state, "--json") == 0
    assert json.loads(capsys.readouterr().out)["total"]["nodes"] == 0


def test_the_renderer_takes_odd_blocks_in_its_stride() -> None:
    transcript = parse_transcript(jsonl(
        init(), {"type": "assistant", "message": "not a dict"},
        {"type": "user", "message": {"content": "a plain user text"}},
        tool_result("t9", None), tool_result("t8", [{"type": "image"}]),
        tool_result("t7", "x" * 500), {"type": "system", "subtype": "compact_boundary"},
        {"type": "result", "subtype": "success", "is_error": True, "result": "Not logged in"}))
    lines = render(transcript.entries)
    assert "  user: a plain user text" in lines
    assert "    ← (no output)" in lines and "    ← [image]" in lines
    assert any(line.startswith("    ← xxx") and len(line) == 166 for line in lines)
    assert lines[-2:] == ["■ error · 0 turns", "  Not logged in"]  # no readable message
