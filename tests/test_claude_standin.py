"""The Messages API stand-in (tests/claude_standin/), spoken to over HTTP as the CLI does."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from .claude_standin import StandIn

TOOLS = [{"name": "Bash", "input_schema": {"type": "object"}}]


def post(api: StandIn, body: dict[str, Any] | None, path: str = "/v1/messages?beta=true",
         timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(api.url + path, data=data, method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, dict(reply.headers.items()), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) per server-sent event; the name must match the data's type."""
    out = []
    for chunk in raw.decode().split("\n\n"):
        if chunk.strip():
            name_line, data_line = chunk.split("\n")
            name, data = name_line.removeprefix("event: "), json.loads(data_line[6:])
            assert data["type"] == name
            out.append((name, data))
    return out


def agent(prompt: str, *history: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "m1", "stream": True, "tools": TOOLS, **extra,
            "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]},
                         *history]}


def reply(api: StandIn, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    status, headers, raw = post(api, body)
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    return events(raw)


def test_a_turn_streams_as_the_messages_api_does() -> None:
    command = {"command": "echo hi > a.txt", "description": "write"}
    with StandIn({"s": [{"blocks": [{"text": "On it."}, {"tool": "Bash", "input": command}],
                         "usage": {"input_tokens": 7, "output_tokens": 3,
                                   "cache_read_input_tokens": 2}}]}) as api:
        got = reply(api, agent("[script:s] do it"))
    assert [name for name, _ in got] == [
        "message_start", "ping", "content_block_start", "content_block_delta",
        "content_block_stop", "content_block_start", "content_block_delta",
        "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    message = got[0][1]["message"]
    assert (message["role"], message["model"], message["content"]) == ("assistant", "m1", [])
    assert (message["usage"]["input_tokens"], message["usage"]["cache_read_input_tokens"]) == (7, 2)
    assert got[3][1]["delta"] == {"type": "text_delta", "text": "On it."}
    tool = got[5][1]["content_block"]
    assert tool["type"] == "tool_use" and tool["name"] == "Bash" and tool["id"].startswith("toolu_")
    partial = "".join(d["delta"]["partial_json"] for _, d in got[6:8])
    assert json.loads(partial) == command
    assert {d["delta"]["type"] for _, d in got[6:8]} == {"input_json_delta"}
    assert got[9][1]["delta"]["stop_reason"] == "tool_use"
    assert got[9][1]["usage"] == {"input_tokens": 7, "output_tokens": 3,
                                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2}


def test_the_turn_comes_from_the_marker_and_the_assistant_messages_so_far() -> None:
    said = {"role": "assistant", "content": [{"type": "text", "text": "x"}]}
    back = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                                         "content": "ok"}]}
    with StandIn() as api:
        api.script("a", [[{"text": "a0"}], [{"text": "a1"}]])
        api.script("b", [[{"text": "b0"}]])

        def text(body: dict[str, Any]) -> str:
            return str(reply(api, body)[3][1]["delta"]["text"])

        assert text(agent("[script:b] go")) == "b0"
        assert text(agent("[script:a] go", said, back)) == "a1"
        assert text(agent("[script:a] go")) == "a0"  # again: no cursor, a retry gets the same
        assert text(agent("[script:a] go", said, back, said, back)) == "done"  # past the end
        assert text(agent("no marker")) == "done"
        api.script("default", [[{"text": "d0"}]])
        assert text(agent("no marker")) == "d0"
        assert [(r.script, r.turn) for r in api.agent_requests()] == [
            ("b", 0), ("a", 1), ("a", 0), ("a", 2), (None, 0), ("default", 0)]
        assert api.agent_requests("a")[1].tool_results() == []
        assert api.agent_requests("a")[0].tool_results()[0]["content"] == "ok"
        assert "[script:a] go" in api.agent_requests("a")[0].user_text()


def test_side_requests_and_other_paths_consume_nothing() -> None:
    with StandIn({"s": [[{"text": "first"}]]}) as api:
        side = reply(api, {"model": "m", "stream": True, "max_tokens": 10,
                           "messages": [{"role": "user", "content": "[script:s] title?"}]})
        assert side[3][1]["delta"]["text"] == "Scripted session"
        assert reply(api, agent("[script:s] go"))[3][1]["delta"]["text"] == "first"
        status, _, raw = post(api, {"messages": []}, "/v1/messages/count_tokens?beta=true")
        assert (status, json.loads(raw)) == (200, {"input_tokens": 10})
        whole = json.loads(post(api, {**agent("[script:s] go"), "stream": False})[2])
        assert whole["content"] == [{"type": "text", "text": "first"}]
        assert [r.answered for r in api.requests] == ["canned", "turn", "json", "turn"]


def test_scripted_errors_limited_or_not() -> None:
    with StandIn() as api:
        api.script("flaky", [{"error": 529, "times": 2, "blocks": [{"text": "ok"}]}])
        api.script("down", [{"error": {"status": 500, "message": "boom",
                                       "headers": {"x-should-retry": "false"}}}])
        for _ in range(2):
            status, _, raw = post(api, agent("[script:flaky] go"))
            assert (status, json.loads(raw)) == (529, {"type": "error", "error": {
                "type": "overloaded_error", "message": "scripted error 529"}})
        assert reply(api, agent("[script:flaky] go"))[3][1]["delta"]["text"] == "ok"
        for _ in range(2):
            status, headers, raw = post(api, agent("[script:down] go"))
            assert (status, headers["x-should-retry"]) == (500, "false")
            assert json.loads(raw)["error"] == {"type": "api_error", "message": "boom"}


def test_a_hanging_turn_waits_until_the_server_closes() -> None:
    api = StandIn({"h": [{"hang": True}]})
    done: list[bytes] = []

    def call() -> None:
        done.append(post(api, agent("[script:h] go"), timeout=30)[2])

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.3)
    assert caller.is_alive() and [r.answered for r in api.requests] == ["hang"]
    started = time.monotonic()
    api.close()
    caller.join(timeout=5)
    assert not caller.is_alive() and time.monotonic() - started < 2
    assert [name for name, _ in events(done[0])] == ["message_start"]


def test_a_bad_block_is_refused() -> None:
    with pytest.raises(ValueError, match="a block is"):
        StandIn({"s": [[{"image": "x"}]]})
