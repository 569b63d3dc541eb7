"""Live view of running Claude agents: follow their transcripts, turn them into events.

A claude node's worker writes the session's stream-json to `logs/NODE.jsonl` as it arrives.
The driver follows the transcripts of the claude tasks in flight (at most every POLL_S; a
transcript is read from where the last look stopped, whole lines only) and emits
`agent_tool_use` (`Edit src/x.py`, with the turn) and `agent_message` (the assistant's text)
events, which the reporters show beside each running agent. It reads files, not pipes, so it
works whatever executor ran the task (on this machine's file system) and costs the driver
nothing while no agent runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prodigy.runtime.events import EventLog, EventType
from prodigy.runtime.ops import Task
from prodigy.runtime.ops.claude import transcript_path
from prodigy.runtime.ops.claude_stream import StreamReader

POLL_S = 0.3
MESSAGE_CHARS = 2000  # an assistant text in an event is cut to this


class _Followed:
    def __init__(self, path: Path, transcript: bool = True) -> None:
        self.path = path
        self.transcript = transcript  # stream-json; else a plain log, passed on line by line
        self.offset = path.stat().st_size if path.exists() else 0  # earlier attempts: old news
        self.reader = StreamReader()
        self.partial = b""


class AgentWatch:
    """`logs` (-v): every other task's log is followed too, each new line a `node_output`
    event: the command as run (the log's first line) and what it prints, as it prints it."""

    def __init__(self, events: EventLog, logs: bool = False) -> None:
        self.events = events
        self.logs = logs
        self.followed: dict[str, _Followed] = {}
        self.last = 0.0

    def start(self, task: Task) -> None:
        """A task is about to be sent: remember where its transcript (or log) ends now."""
        if task.kind == "claude":
            self.followed[task.node_id] = _Followed(transcript_path(task.log_path))
        elif self.logs:
            self.followed[task.node_id] = _Followed(Path(task.log_path), transcript=False)

    def poll(self, running: Iterable[tuple[Any, str, Task]], force: bool = False) -> None:
        if not self.followed:
            return
        now = time.monotonic()
        if not force and now - self.last < POLL_S:
            return
        self.last = now
        for owner, _tag, task in running:
            followed = self.followed.get(task.node_id)
            if followed is not None:
                spec = getattr(owner, "spec", None)
                self._read(followed, task, getattr(spec, "item", None),
                           getattr(spec, "item_label", None))

    def finished(self, owner: Any, task: Task) -> None:
        """Its last lines, then forget it."""
        followed = self.followed.pop(task.node_id, None)
        if followed is not None:
            self._read(followed, task, getattr(getattr(owner, "spec", None), "item", None),
                       getattr(getattr(owner, "spec", None), "item_label", None))

    def _read(self, followed: _Followed, task: Task, item: str | None,
              label: str | None) -> None:
        try:
            with followed.path.open("rb") as handle:
                handle.seek(followed.offset)
                chunk = handle.read()
        except OSError:
            return
        followed.offset += len(chunk)
        data = followed.partial + chunk
        lines = data.split(b"\n")
        followed.partial = lines.pop()  # not ended yet: read again next time
        for line in lines:
            if not followed.transcript:
                self.events.emit(EventType.NODE_OUTPUT, node=task.node_id, label=task.label,
                                 item=item, item_label=label,
                                 text=line.decode("utf-8", errors="replace")[:MESSAGE_CHARS])
                continue
            for live in followed.reader.feed(line.decode("utf-8", errors="replace")):
                if live.kind == "tool_use":
                    self.events.emit(EventType.AGENT_TOOL_USE, node=task.node_id,
                                     label=task.label, item=item, item_label=label,
                                     tool=live.text, turn=live.turn)
                else:
                    self.events.emit(EventType.AGENT_MESSAGE, node=task.node_id,
                                     label=task.label, item=item, item_label=label,
                                     text=live.text[:MESSAGE_CHARS], turn=live.turn)
