"""The run's event log: one JSON object per line in `runs/RUN_ID/events.jsonl`.

Every record has `ts` (unix seconds), `run_id` and `event`; the other keys depend on the event
and are only ever added, never renamed. Records are masked before they are written. The writer
buffers and the run loop flushes once per scheduling round, so a 10,000-node run does not pay a
system call per event; `follow` tails the file while the run that writes it is alive.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from prodigy.runtime.json_text import encoder
from prodigy.runtime.masking import Masker

# json.dumps(value, ensure_ascii=False, default=str), one encoder for every event.
_ENCODE = encoder(", ", ": ")


class EventType(StrEnum):
    RUN_STARTED = "run_started"
    RUN_RESUMED = "run_resumed"
    RUN_FINISHED = "run_finished"
    NODE_STARTED = "node_started"
    NODE_FINISHED = "node_finished"  # status: succeeded | failed | handled | interrupted
    NODE_RETRYING = "node_retrying"
    NODE_REUSED = "node_reused"
    NODE_SKIPPED = "node_skipped"  # skipped, or not run (a handler body that was not needed)
    HANDLER_STARTED = "handler_started"
    RUN_NOTE = "run_note"  # one line about the run (where it works, what it merged)
    # Loops (map, foreach): items selected and the window; progress at most every few seconds
    # (done, succeeded, failed, skipped, total, running; `final` on the last one); each failure.
    LOOP_STARTED = "loop_started"
    LOOP_PROGRESS = "loop_progress"
    ITEM_FAILED = "item_failed"
    # A running claude agent's tool call (`tool`: `Edit src/x.py`, `turn`) and its text.
    AGENT_TOOL_USE = "agent_tool_use"
    AGENT_MESSAGE = "agent_message"
    NODE_OUTPUT = "node_output"  # -v: a line of a running command's log, as it is written
    ITEM_MERGED = "item_merged"  # an agent's commits merged into the run branch (commits, branch)
    # validate / goal_seek: one per measurement (attempt, completion or score, threshold).
    ATTEMPT_SCORED = "attempt_scored"


class EventLog:
    """Appends masked events; `sink` also receives each record (the `--json` stdout stream)."""

    def __init__(self, path: Path, run_id: str, masker: Masker,
                 sink: Callable[[dict[str, Any]], None] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.run_id = run_id
        self._masker = masker
        self._sink = sink
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def emit(self, event: EventType, **fields: Any) -> dict[str, Any]:
        record: dict[str, Any] = {"ts": round(time.time(), 6), "run_id": self.run_id,
                                  "event": event.value}
        record.update({name: value for name, value in fields.items() if value is not None})
        record = self._masker.mask_data(record)  # declared secrets and token shapes
        self._file.write(_ENCODE(record) + "\n")
        if self._sink is not None:
            self._sink(record)
        return record

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a finished or running log; a torn last line (a crash mid-write) is skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = _parse(line)
            if record is not None:
                yield record


def follow(path: Path, alive: Callable[[], bool], poll_s: float = 0.2) -> Iterator[dict[str, Any]]:
    """Yield records as they are appended, until the writer is gone and the log is drained."""
    while not path.exists():
        if not alive():
            return
        time.sleep(poll_s)
    with path.open(encoding="utf-8") as handle:
        partial = ""
        while True:
            line = handle.readline()
            if line:
                partial += line
                if not partial.endswith("\n"):
                    continue
                record = _parse(partial)
                partial = ""
                if record is not None:
                    yield record
                continue
            if not alive():
                # One last read: the writer may have appended between readline and alive().
                rest = handle.read()
                for tail in (partial + rest).splitlines():
                    record = _parse(tail)
                    if record is not None:
                        yield record
                return
            time.sleep(poll_s)


def _parse(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
