"""Scripts: what the stand-in answers, turn by turn, and how a request finds its script.

The turn a request gets is derived from the request alone (its `[script:NAME]` marker and the
number of assistant messages already in its `messages`), so parallel agents and retried requests
need no server-side cursor. The only state is the attempt counter of a turn scripted to fail a
limited number of `times`.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

MARKER = re.compile(r"\[script:([A-Za-z0-9_.\-]+)\]")
DEFAULT_SCRIPT = "default"  # used by a request with tools but without a marker, if scripted
DEFAULT_USAGE = {"input_tokens": 200, "output_tokens": 40,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}


@dataclass(frozen=True)
class Turn:
    """One assistant reply: content blocks (`{"type": "text"|"tool_use", ...}` as the API has
    them), usage, stop reason; or an HTTP error; or a reply that never comes."""

    blocks: tuple[dict[str, Any], ...]
    usage: dict[str, int]
    stop_reason: str
    error: dict[str, Any] | None = None  # {"status", "type", "message", "headers"}
    times: int | None = None  # answer `error` this many times, then the blocks; None = always
    hang: bool = False


def block(raw: dict[str, Any]) -> dict[str, Any]:
    """`{"text": T}` or `{"tool": NAME, "input": {...}, "id": optional}` -> an API block."""
    if "text" in raw:
        return {"type": "text", "text": str(raw["text"])}
    if "tool" in raw:
        return {"type": "tool_use", "id": raw.get("id") or "", "name": raw["tool"],
                "input": dict(raw.get("input") or {})}
    raise ValueError(f"a block is {{'text': ...}} or {{'tool': ..., 'input': ...}}: {raw!r}")


def turn(raw: list[dict[str, Any]] | dict[str, Any] | Turn) -> Turn:
    """A scripted turn: a list of blocks, or a dict with `blocks`, `usage` (merged over
    DEFAULT_USAGE), `stop_reason`, `error` (an HTTP status, or `{"status", "type", "message",
    "headers"}`), `times` and `hang` (see the package docstring)."""
    if isinstance(raw, Turn):
        return raw
    spec: dict[str, Any] = {"blocks": raw} if isinstance(raw, list) else dict(raw)
    blocks = tuple(block(b) for b in spec.get("blocks", ()))
    has_tools = any(b["type"] == "tool_use" for b in blocks)
    error = spec.get("error")
    if isinstance(error, int):
        error = {"status": error}
    if error is not None:
        status = int(error.get("status", 500))
        error = {"status": status, "type": error.get("type", ERROR_TYPES.get(status, "api_error")),
                 "message": error.get("message", f"scripted error {status}"),
                 "headers": dict(error.get("headers", {}))}
    return Turn(blocks=blocks or ({"type": "text", "text": "done"},),
                usage={**DEFAULT_USAGE, **spec.get("usage", {})},
                stop_reason=spec.get("stop_reason", "tool_use" if has_tools else "end_turn"),
                error=error, times=spec.get("times"), hang=bool(spec.get("hang", False)))


FINAL = turn([{"text": "done"}])


def texts(body: dict[str, Any]) -> list[str]:
    """Every text of the request's messages, in order (plain strings, text blocks, and the text
    inside tool results)."""
    out: list[str] = []

    def walk(content: Any) -> None:
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            for item in content:
                if isinstance(item, dict) and item.get("type") == "text":
                    out.append(str(item.get("text", "")))
                elif isinstance(item, dict) and item.get("type") == "tool_result":
                    walk(item.get("content"))

    for message in body.get("messages", []):
        if message.get("role") == "user":
            walk(message.get("content"))
    return out


def script_name(body: dict[str, Any]) -> str | None:
    """The NAME of the first `[script:NAME]` marker in the request's user messages."""
    for text in texts(body):
        found = MARKER.search(text)
        if found:
            return found.group(1)
    return None


def turn_index(body: dict[str, Any]) -> int:
    """How many assistant turns the conversation already holds."""
    return sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")


class Scripts:
    """The scripts of one stand-in, by name; thread-safe."""

    def __init__(self, scripts: dict[str, list[Any]] | None = None) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Turn]] = {}
        self._attempts: dict[tuple[str, int], int] = {}
        for name, turns in (scripts or {}).items():
            self.set(name, turns)

    def set(self, name: str, turns: list[Any]) -> None:
        with self._lock:
            self._scripts[name] = [turn(t) for t in turns]

    def pick(self, body: dict[str, Any]) -> tuple[str | None, int, Turn, bool]:
        """(script name, turn index, the turn, whether to answer its error this time)."""
        name = script_name(body)
        if name is None and DEFAULT_SCRIPT in self._scripts:
            name = DEFAULT_SCRIPT
        index = turn_index(body)
        with self._lock:
            turns = self._scripts.get(name or "", [])
            chosen = turns[index] if index < len(turns) else FINAL
            fail = chosen.error is not None
            if fail and chosen.times is not None:
                seen = self._attempts.get((name or "", index), 0)
                self._attempts[(name or "", index)] = seen + 1
                fail = seen < chosen.times
        return name, index, chosen, fail
