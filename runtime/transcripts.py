"""A claude node's transcript (`logs/NODE.jsonl`) read back for people: `prodigy logs`.

The file is the CLI's stream-json as it arrived (see `ops/claude_stream.py` for the events). A
retried node appends each attempt to the same file; an attempt starts with `system/init`. The
transcript becomes a list of `Entry`s, each a few rendered lines: an attempt's heading, an
assistant text, a tool call (`→ Bash  pytest -q`), a tool result (its first lines, `✗` when
`is_error`), a line that is not JSON, and the attempt's end (status, turns, duration, cost,
tokens) or a note that it has none (a killed or running session). `--tail` counts entries.
A turn is one assistant message (the CLI prints one event per content block of a message).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy.runtime.ops.claude_stream import StreamReader, tool_line
from prodigy.runtime.usage import TOKEN_KINDS

RESULT_LINES = 3  # lines of a tool result shown
WIDTH = 160  # a shown line of a tool result or a stray line is cut here


@dataclass(frozen=True, slots=True)
class Entry:
    attempt: int
    turn: int  # 0: outside any turn (the heading, the end)
    lines: tuple[str, ...]


@dataclass(slots=True)
class Attempt:
    number: int
    reader: StreamReader = field(default_factory=StreamReader)
    entries: list[Entry] = field(default_factory=list)
    begun: bool = False  # saw init or any session event: a later init starts a new attempt
    turn: int = 0
    message_id: object = None

    def add(self, event: dict[str, Any], line: str) -> None:
        self.reader.feed(line)
        kind = event.get("type")
        message = event.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if kind == "system" and event.get("subtype") == "init":
            self.begun = True
            bits = [f"attempt {self.number}", f"session {event.get('session_id') or '?'}"]
            bits += [f"model {event['model']}"] if event.get("model") else []
            self._entry(0, "── " + " · ".join(bits))
        elif kind == "assistant":
            self.begun = True
            msg_id = message.get("id") if isinstance(message, dict) else None
            if msg_id is None or msg_id != self.message_id or not self.turn:
                self.turn += 1
            self.message_id = msg_id
            for block in _blocks(content):
                if block.get("type") == "text" and str(block.get("text") or "").strip():
                    self._entry(self.turn, *("  " + t for t in str(block["text"]).splitlines()))
                elif block.get("type") == "tool_use":
                    name = str(block.get("name") or "tool")
                    subject = tool_line(name, block.get("input"))[len(name):].strip()
                    self._entry(self.turn, f"  → {name}  {subject}".rstrip())
        elif kind == "user":
            self.begun = True
            for block in _blocks(content):
                if block.get("type") == "tool_result":
                    self._entry(self.turn, *_tool_result(block))
                elif block.get("type") == "text" and block.get("text"):
                    self._entry(self.turn, "  user: " + _clip(str(block["text"])))
        elif kind == "result":
            self.begun = True
            self._entry(0, *self._end())

    def note(self, line: str) -> None:
        self.reader.feed(line)
        self._entry(self.turn, "  (not JSON) " + _clip(line))

    def finish(self) -> None:
        if self.begun and not self.reader.summary.has_result:
            self._entry(0, "■ no result: the session was stopped (killed, timed out) "
                           "or is still running")

    @property
    def turns(self) -> int:
        """The result's count; without a result, the assistant messages seen."""
        return self.reader.summary.turns if self.reader.summary.has_result else self.turn

    @property
    def status(self) -> str:
        s = self.reader.summary
        if not s.has_result:
            return "no result"
        if s.subtype and s.subtype != "success":
            return s.subtype
        return "error" if s.is_error else "success"

    def _end(self) -> list[str]:
        s = self.reader.summary
        bits = [self.status, f"{self.turns} turn{'s' * (self.turns != 1)}"]
        if s.duration_ms is not None:
            bits.append(_duration(s.duration_ms))
        if s.cost_usd is not None:
            bits.append(f"${s.cost_usd:.4f}")
        if s.tokens:
            bits.append("tokens " + token_text(s.tokens))
        lines = ["■ " + " · ".join(bits)]
        words = s.result.strip() or s.error
        if words and self.status != "success":
            lines += ["  " + _clip(t) for t in words.splitlines()[:RESULT_LINES]]
        return lines

    def _entry(self, turn: int, *lines: str) -> None:
        self.entries.append(Entry(self.number, turn, lines))


@dataclass(frozen=True, slots=True)
class Transcript:
    attempts: tuple[Attempt, ...]

    @property
    def entries(self) -> list[Entry]:
        return [entry for attempt in self.attempts for entry in attempt.entries]

    def summary(self) -> dict[str, Any]:
        """Turns, tools used, tokens and cost over every attempt (each was paid for)."""
        tools: Counter[str] = Counter()
        tokens = dict.fromkeys(TOKEN_KINDS, 0)
        costs = []
        for attempt in self.attempts:
            s = attempt.reader.summary
            tools.update(s.tools_used)
            for kind, count in s.tokens.items():
                tokens[kind] = tokens.get(kind, 0) + count
            if s.cost_usd is not None:
                costs.append(s.cost_usd)
        last = self.attempts[-1]
        return {"attempts": sum(1 for a in self.attempts if a.begun),
                "turns": sum(a.turns for a in self.attempts),
                "tools": dict(tools.most_common()), "tokens": tokens,
                "cost_usd": round(sum(costs), 6) if costs else None,
                "result": last.status if last.begun else "empty",
                "malformed": sum(a.reader.summary.malformed for a in self.attempts)}


def parse_transcript(text: str) -> Transcript:
    attempts = [Attempt(1)]
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            attempts[-1].note(line)
            continue
        if event.get("type") == "system" and event.get("subtype") == "init" and attempts[-1].begun:
            attempts.append(Attempt(len(attempts) + 1))
        attempts[-1].add(event, line)
    for attempt in attempts:
        attempt.finish()
    return Transcript(tuple(attempts))


def read_transcript(path: Path) -> Transcript:
    """The transcript at `path`; an unreadable file is one note, never an exception."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        text = f"cannot read {path}: {exc.strerror or exc}"
    return parse_transcript(text)


def render(entries: Sequence[Entry], skipped: int = 0) -> list[str]:
    """The entries' lines, a `turn N` line where a turn starts (or where a tail cuts in)."""
    out = [f"… {skipped} earlier entr{'ies' if skipped != 1 else 'y'}"] if skipped else []
    shown: tuple[int, int] | None = None
    for entry in entries:
        if entry.turn and (entry.attempt, entry.turn) != shown:
            out.append(f"turn {entry.turn}")
        shown = (entry.attempt, entry.turn)
        out.extend(entry.lines)
    return out


def token_text(tokens: dict[str, int]) -> str:
    """`600 in, 120 out, 7 cache read, 3 cache write`."""
    names = {"input": "in", "output": "out", "cache_read": "cache read",
             "cache_creation": "cache write"}
    return ", ".join(f"{tokens.get(kind, 0):,} {name}" for kind, name in names.items())


def _blocks(content: object) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _tool_result(block: dict[str, Any]) -> list[str]:
    content = block.get("content")
    if isinstance(content, list):
        content = "\n".join(str(b.get("text", "")) if b.get("type") == "text"
                            else f"[{b.get('type')}]" for b in _blocks(content))
    lines = [t for t in str(content or "").splitlines() if t.strip()] or ["(no output)"]
    mark = "✗ error: " if block.get("is_error") else "← "
    shown = [f"    {mark}{_clip(lines[0])}", *(f"      {_clip(t)}" for t in lines[1:RESULT_LINES])]
    if len(lines) > RESULT_LINES:
        shown.append(f"      … {len(lines) - RESULT_LINES} more lines")
    return shown


def _duration(ms: int) -> str:
    if ms < 1000:
        return f"{ms}ms"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{int(minutes)}m{seconds:02.0f}s" if minutes else f"{seconds:.1f}s"


def _clip(text: str) -> str:
    text = text.rstrip()
    return text if len(text) <= WIDTH else text[:WIDTH - 1] + "…"
