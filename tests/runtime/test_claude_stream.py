"""The stream-json reader: live events, the summary, and when a session counts as failed."""

from __future__ import annotations

import json

from prodigy.runtime.ops.claude_stream import StreamReader, parse, tool_line

INIT = {"type": "system", "subtype": "init", "session_id": "s-1", "model": "claude-x",
        "tools": ["Bash", "Edit"]}
TOOL = {"type": "assistant", "session_id": "s-1", "message": {"content": [
    {"type": "text", "text": "I will edit it."},
    {"type": "tool_use", "id": "t1", "name": "Edit",
     "input": {"file_path": "src/x.py", "old_string": "a", "new_string": "b"}}]}}
RESULT_OK = {"type": "result", "subtype": "success", "is_error": False, "result": "Done.",
             "num_turns": 2, "duration_ms": 812, "total_cost_usd": 0.0123, "session_id": "s-1",
             "usage": {"input_tokens": 200, "output_tokens": 40,
                       "cache_read_input_tokens": 7, "cache_creation_input_tokens": 3}}


def lines(*events: object) -> str:
    return "".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events)


def test_a_successful_session_is_summarised_with_cost_tokens_and_tools() -> None:
    reader = StreamReader()
    live = reader.feed_text(lines(INIT, TOOL, RESULT_OK))
    assert [(e.kind, e.text, e.turn) for e in live] == [
        ("message", "I will edit it.", 1), ("tool_use", "Edit src/x.py", 1)]
    s = reader.summary
    assert (s.session_id, s.model, s.turns, s.result) == ("s-1", "claude-x", 2, "Done.")
    assert s.cost_usd == 0.0123 and s.duration_ms == 812
    assert s.tokens == {"input": 200, "output": 40, "cache_read": 7, "cache_creation": 3}
    assert s.tools_used == {"Edit": 1} and s.failure(0) == ""
    assert s.usage()["cost_usd"] == 0.0123


def test_not_logged_in_exits_0_but_is_a_failure_in_the_clis_own_words() -> None:
    s = parse(lines(INIT, {"type": "assistant", "error": "authentication_failed", "message": {
        "content": [{"type": "text", "text": "Not logged in · Please run /login"}]}},
        {**RESULT_OK, "is_error": True, "result": "Not logged in · Please run /login"}))
    assert s.failure(0) == "claude reported error: Not logged in · Please run /login"


def test_error_subtypes_missing_results_and_exit_codes_fail() -> None:
    turns = parse(lines(INIT, {**RESULT_OK, "subtype": "error_max_turns", "result": None}))
    assert turns.failure(0).startswith("claude reported error_max_turns")
    assert parse(lines(INIT, TOOL)).failure(0) == \
        "claude ended without a result (the stream stopped)"
    assert parse("").failure(3) == "claude ended without a result (exit code 3)"
    assert parse(lines(RESULT_OK)).failure(2) == "claude exited with code 2"


def test_lines_that_are_not_json_or_not_objects_are_counted_and_skipped() -> None:
    s = parse(lines("warning: something", "[1, 2]", '{"type": "assistant", "message": 3}',
                    '{"truncated": ', RESULT_OK))
    assert s.malformed == 3 and s.result == "Done." and s.failure(0) == ""


def test_tool_lines_name_what_the_call_touches_in_one_short_line() -> None:
    assert tool_line("Bash", {"command": "pytest -q\n  tests/", "description": "run"}) == \
        "Bash pytest -q tests/"
    assert tool_line("Write", {"file_path": "a.md", "content": "x"}) == "Write a.md"
    assert tool_line("TodoWrite", {"todos": []}) == "TodoWrite"
    assert len(tool_line("Bash", {"command": "x" * 500})) == 105


def test_the_blocks_of_one_reply_are_one_turn_as_the_real_cli_prints_them() -> None:
    # The CLI prints one assistant event per content block; a reply's blocks share its id.
    text = {"type": "assistant", "message": {"id": "m1", "content": [
        {"type": "text", "text": "Looking."}]}}
    tool = {"type": "assistant", "message": {"id": "m1", "content": [
        {"type": "tool_use", "name": "Bash", "input": {"command": "ls"}}]}}
    final = {"type": "assistant", "message": {"id": "m2", "content": [
        {"type": "text", "text": "Done."}]}}
    reader = StreamReader()
    live = reader.feed_text(lines(INIT, text, tool, final))
    assert [(e.text, e.turn) for e in live] == [("Looking.", 1), ("Bash ls", 1), ("Done.", 2)]
    assert reader.summary.turns == 2
