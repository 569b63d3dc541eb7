"""The Anthropic Messages API's streaming wire format: one scripted turn as server-sent events."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from .script import Turn


def event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def tool_id() -> str:
    return "toolu_" + uuid.uuid4().hex[:24]


def message_id() -> str:
    return "msg_" + uuid.uuid4().hex[:24]


def start(model: str, usage: dict[str, int]) -> bytes:
    """`message_start`: the empty message with its input usage (output counted at the end)."""
    message: dict[str, Any] = {
        "id": message_id(), "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": usage["input_tokens"],
                  "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                  "cache_read_input_tokens": usage["cache_read_input_tokens"],
                  "output_tokens": 1, "service_tier": "standard"}}
    return event("message_start", {"type": "message_start", "message": message})


def blocks(turn: Turn) -> Iterator[bytes]:
    """content_block_start / _delta(s) / _stop for each block; a tool input's JSON text is sent
    as `input_json_delta` in two chunks, as the API splits it."""
    for index, spec in enumerate(turn.blocks):
        if spec["type"] == "text":
            yield event("content_block_start", {"type": "content_block_start", "index": index,
                                                "content_block": {"type": "text", "text": ""}})
            yield event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                "delta": {"type": "text_delta",
                                                          "text": spec["text"]}})
        else:
            head = {"type": "tool_use", "id": spec["id"] or tool_id(), "name": spec["name"],
                    "input": {}}
            yield event("content_block_start", {"type": "content_block_start", "index": index,
                                                "content_block": head})
            text = json.dumps(spec["input"])
            half = len(text) // 2
            for chunk in (text[:half], text[half:]):
                yield event("content_block_delta", {"type": "content_block_delta",
                                                    "index": index,
                                                    "delta": {"type": "input_json_delta",
                                                              "partial_json": chunk}})
        yield event("content_block_stop", {"type": "content_block_stop", "index": index})


def finish(turn: Turn) -> Iterator[bytes]:
    """`message_delta` (stop reason, the turn's full usage) and `message_stop`."""
    yield event("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": turn.stop_reason,
                                            "stop_sequence": None},
                                  "usage": dict(turn.usage)})
    yield event("message_stop", {"type": "message_stop"})


def stream(model: str, turn: Turn) -> Iterator[bytes]:
    yield start(model, turn.usage)
    yield event("ping", {"type": "ping"})
    yield from blocks(turn)
    yield from finish(turn)


def error_body(error: dict[str, Any]) -> bytes:
    return json.dumps({"type": "error",
                       "error": {"type": error["type"], "message": error["message"]}}).encode()
