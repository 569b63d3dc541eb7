"""The driver's end of the spawner (`spawner.py`): plain commands, started by a small helper.

A shell node whose output nobody reads and which has no secret to mask (most nodes) is a
`Command` (see `runtime/ops/base.py`). The `local` executor does not hand it to a pool worker
(which would only start the same process after a pickle and a socket round trip), nor start it
itself (`posix_spawn` would block the driver while the child execs, for longer the more the
driver has loaded): it sends it to the spawner process, which starts it as soon as one of
its slots is free and reports it when it ends. The finished command comes back as the
`process.ProcessResult` that `run_command` would have made in its direct mode.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from prodigy.runtime.executors.lanes import Lane
from prodigy.runtime.executors.process import KILL_GRACE_S, ProcessResult
from prodigy.runtime.executors.spawner import TAIL_BYTES, frame, unframe
from prodigy.runtime.ops.base import Command

# Environment overlays the spawner keeps merged (most nodes share a few; map items bring one
# each, and a queued command carries its own, so forgetting old ones is safe).
KEPT_ENVS = 64
# How long shutdown waits for the spawner to stop its commands and exit before killing it.
EXIT_WAIT_S = 10.0


def direct_spawn_available() -> bool:
    return hasattr(os, "pidfd_open") and hasattr(os, "posix_spawn")


@dataclass(frozen=True, slots=True)
class Finished:
    """A command the spawner reports ended (or dropped before it started: `dropped`)."""

    tag: int
    result: ProcessResult | None
    started_at: float = 0.0

    @property
    def dropped(self) -> bool:
        return self.result is None


class SpawnerClient:
    """Talks to one spawner process, started on the first command. The environment commands
    see under their overlay is the driver's as it was when the spawner started."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._outbox = bytearray()
        self._inbox = bytearray()
        # (id(overlay), clear_env) -> (overlay, its id in the spawner), least recent first
        self._envs: dict[tuple[int, bool], tuple[Any, int]] = {}
        self._ids = 0
        self._tags = 0
        self.limit = 0
        self.dropping = 0  # drops asked for and not answered yet
        self.urgent = False  # the outbox holds a message that must not wait (limit, drop)

    @property
    def started(self) -> bool:
        return self._proc is not None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def fileno(self) -> int:
        assert self._proc is not None and self._proc.stdout is not None
        return self._proc.stdout.fileno()

    def start(self, limit: int) -> None:
        # -m: the spawner module imports only the standard library, so the helper stays small.
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "prodigy.runtime.executors.spawner", str(KILL_GRACE_S)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True, bufsize=0)
        os.set_blocking(self.fileno(), False)
        self.set_limit(limit)

    def run(self, command: Command, lane: int = 0) -> int:
        """Queue `command` (in `lane`, if not 0); its tag, by which `receive` reports it."""
        overlay = command.env
        key = (id(overlay), command.clear_env)
        known = self._envs.pop(key, None)
        if known is None or known[0] is not overlay:
            self._ids += 1
            known = (overlay, self._ids)
            self._outbox += frame(("env", self._ids, command.clear_env, dict(overlay)))
        self._envs[key] = known  # most recently used last
        if len(self._envs) > KEPT_ENVS:  # map items each bring their own: keep the recent
            _, forgotten = self._envs.pop(next(iter(self._envs)))
            self._outbox += frame(("forget", forgotten))
        self._tags += 1
        self._outbox += frame(("run", self._tags, list(command.argv), known[1], command.cwd,
                               command.log_path, command.header, command.timeout, lane))
        return self._tags

    def set_limit(self, limit: int) -> None:
        if limit != self.limit:
            self.limit = limit
            self._outbox += frame(("limit", limit))
            self.urgent = True

    def set_lane(self, lane: int, state: Lane) -> None:
        self._outbox += frame(state.spawner_message(lane))
        self.urgent = True

    def drop(self, lane: int | None = None) -> None:
        """Ask the spawner to forget its queue (that lane's part of it); `dropping` stays true
        until it has."""
        self.dropping += 1
        self._outbox += frame(("drop", lane))
        self.urgent = True

    def flush(self) -> None:
        self.urgent = False
        if not self._outbox or self._proc is None:
            return
        assert self._proc.stdin is not None
        # Blocking is safe: the spawner always reads its input before it writes. If it died,
        # receive() reports the end of its output.
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.write(self._outbox)
        self._outbox.clear()

    def receive(self) -> list[Finished] | None:
        """What the spawner reported; None once it is gone (its commands are lost)."""
        try:
            data = os.read(self.fileno(), 1 << 20)
        except BlockingIOError:
            return []
        if not data:
            return None
        self._inbox += data
        out: list[Finished] = []
        for message in unframe(self._inbox):
            if message[0] == "dropped":
                self.dropping = max(0, self.dropping - 1)
                out.extend(Finished(tag, None) for tag in message[1])
                continue
            _, tag, exit_code, duration, tail, note, failure, started_at = message
            out.append(Finished(tag, _result(exit_code, duration, tail, note, failure),
                                started_at))
        return out

    def close(self) -> None:
        proc, self._proc = self._proc, None
        # A spawner started after this one knows no environment and runs one at a time until
        # told otherwise: nothing said to this one carries over.
        self.dropping = 0
        self.urgent = False
        self._envs.clear()
        self._inbox.clear()
        self._outbox.clear()
        self.limit = 0
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()  # end of input: it stops what still runs, then exits
        try:
            proc.wait(EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _result(exit_code: int, duration: float, tail: str, note: str,
            failure: str) -> ProcessResult:
    """As `run_command` reports it; `note` (it timed out) is also at the end of the log."""
    if failure:
        return ProcessResult(exit_code, False, "", failure, failure, duration, error=failure)
    if note:
        text = (tail + note)[-TAIL_BYTES:]
        return ProcessResult(exit_code, True, tail, text, text, duration)
    return ProcessResult(exit_code, False, tail, tail, tail, duration)
