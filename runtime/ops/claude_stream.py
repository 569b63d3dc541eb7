"""Reading Claude Code's `--output-format stream-json` transcript, one JSON object a line.

    system/init   session id, model, tools
    assistant     message.content: `text` and `tool_use` blocks (a turn each)
    user          message.content: `tool_result` blocks
    result        subtype (success | error_max_turns | error_during_execution ...), is_error,
                  result (the final text), num_turns, duration_ms, total_cost_usd, usage

`StreamReader.feed(line)` takes lines as they arrive and returns what is worth showing live
(a tool use as `Edit src/x.py`, an assistant text); `summary()` says how the session ended.
The worker parses the finished stream to decide the step's outcome; the driver feeds the same
reader from the growing transcript file of a running node for the live display. A line that is
not JSON is counted and skipped, never fatal: the CLI may print warnings on stdout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# The token counters of `usage`, under the names prodigy reports them.
TOKEN_FIELDS = {"input_tokens": "input", "output_tokens": "output",
                "cache_read_input_tokens": "cache_read",
                "cache_creation_input_tokens": "cache_creation"}
# The input field that best names what a tool call touches, by tool.
_TOOL_SUBJECT = ("file_path", "path", "command", "pattern", "url", "query", "description")


@dataclass(frozen=True, slots=True)
class LiveEvent:
    kind: str  # "tool_use" | "message"
    text: str  # `Edit src/x.py`, or the assistant's text
    turn: int


@dataclass(slots=True)
class StreamSummary:
    """How a session went, as far as the stream told."""

    session_id: str = ""
    model: str = ""
    turns: int = 0  # assistant messages seen (the result's num_turns wins when present)
    has_result: bool = False
    is_error: bool = False
    subtype: str = ""
    result: str = ""  # the final text: `${claude.output}`
    cost_usd: float | None = None
    duration_ms: int | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    tools_used: dict[str, int] = field(default_factory=dict)
    error: str = ""  # an error an assistant message carried (authentication_failed, ...)
    last_text: str = ""
    malformed: int = 0

    def failure(self, exit_code: int) -> str:
        """Why the step failed ("" when it did not): the CLI's own words when it has them."""
        if not self.has_result:
            why = f"exit code {exit_code}" if exit_code else "the stream stopped"
            return f"claude ended without a result ({why})"
        if self.is_error or self.subtype.startswith("error"):
            words = self.result.strip() or self.error or (
                self.last_text.strip() if self.is_error else "")
            kind = self.subtype if self.subtype and self.subtype != "success" else "error"
            return f"claude reported {kind}" + (f": {words}" if words else "")
        if exit_code:
            return f"claude exited with code {exit_code}"
        return ""

    def usage(self) -> dict[str, Any]:
        """What a node reports of its agent: cost, tokens, turns, session (events, records)."""
        return {"cost_usd": self.cost_usd, "tokens": dict(self.tokens), "turns": self.turns,
                "session_id": self.session_id or None, "model": self.model or None,
                "tools": dict(self.tools_used) or None}


class StreamReader:
    """Feed it lines; it keeps the summary and returns the live events of each line."""

    def __init__(self) -> None:
        self.summary = StreamSummary()
        self._message_id: Any = None

    def feed(self, line: str) -> list[LiveEvent]:
        line = line.strip()
        if not line:
            return []
        try:
            event = json.loads(line)
        except ValueError:
            self.summary.malformed += 1
            return []
        if not isinstance(event, dict):
            self.summary.malformed += 1
            return []
        kind = event.get("type")
        if kind == "assistant":
            return self._assistant(event)
        if kind == "system" and event.get("subtype") == "init":
            self.summary.session_id = str(event.get("session_id") or "")
            self.summary.model = str(event.get("model") or "")
        elif kind == "result":
            self._result(event)
        return []

    def feed_text(self, text: str) -> list[LiveEvent]:
        live: list[LiveEvent] = []
        for line in text.splitlines():
            live.extend(self.feed(line))
        return live

    def _assistant(self, event: dict[str, Any]) -> list[LiveEvent]:
        s = self.summary
        message = event.get("message")
        if not isinstance(message, dict):
            return []
        # The CLI prints one event per content block; a reply's blocks share the message id.
        ident = message.get("id")
        if ident is None or ident != self._message_id:
            s.turns += 1
        self._message_id = ident
        if event.get("error"):
            s.error = str(event["error"])
        live = []
        for block in message.get("content") or ():
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and block.get("text"):
                s.last_text = str(block["text"])
                live.append(LiveEvent("message", s.last_text, s.turns))
            elif block.get("type") == "tool_use":
                name = str(block.get("name") or "tool")
                s.tools_used[name] = s.tools_used.get(name, 0) + 1
                live.append(LiveEvent("tool_use", tool_line(name, block.get("input")),
                                      s.turns))
        return live

    def _result(self, event: dict[str, Any]) -> None:
        s = self.summary
        s.has_result = True
        s.is_error = bool(event.get("is_error"))
        s.subtype = str(event.get("subtype") or "")
        result = event.get("result")
        s.result = result if isinstance(result, str) else ""
        errors = event.get("errors")  # error_max_turns: ["Reached maximum number of turns (1)"]
        if not s.result and isinstance(errors, list) and errors:
            s.error = "; ".join(str(e) for e in errors)
        if isinstance(event.get("num_turns"), int):
            s.turns = event["num_turns"]
        cost = event.get("total_cost_usd")
        s.cost_usd = float(cost) if isinstance(cost, int | float) else None
        if isinstance(event.get("duration_ms"), int):
            s.duration_ms = event["duration_ms"]
        usage = event.get("usage")
        if isinstance(usage, dict):
            s.tokens = {ours: int(usage[theirs]) for theirs, ours in TOKEN_FIELDS.items()
                        if isinstance(usage.get(theirs), int)}
        s.session_id = str(event.get("session_id") or s.session_id)


def tool_line(name: str, given: Any) -> str:
    """`Edit src/x.py`, `Bash pytest -q`: a tool call in one short line."""
    subject = ""
    if isinstance(given, dict):
        subject = next((str(given[k]) for k in _TOOL_SUBJECT if given.get(k)), "")
    subject = " ".join(subject.split())
    return f"{name} {subject[:100]}".rstrip()


def parse(text: str) -> StreamSummary:
    reader = StreamReader()
    reader.feed_text(text)
    return reader.summary
