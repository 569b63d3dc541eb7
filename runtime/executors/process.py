"""Spawning node commands: own process group, streamed logs, timeouts that kill the whole group.

Every command runs in a new session (so a new process group) with stdin closed. On timeout or
interrupt the *group* gets SIGTERM, then SIGKILL after a grace period, so a child that forks and
ignores SIGTERM does not survive its step.

Output goes to the node's log file as it arrives, never whole into memory: the log keeps
its first and last LOG_LIMIT / 2 bytes per attempt (a note says how much was left out between),
the result keeps a bounded tail, plus the full stdout only when the node captures it, up to
CAPTURE_LIMIT (past it the step fails: a 200 MB capture once took the driver to 4 GB).
When there is no secret to mask and nobody reads the output separately, the child writes
straight into the log file (no pipe, no copying loop: most nodes); otherwise a selector loop
copies both pipes through the masker.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from prodigy.runtime.executors.spawner import TAIL_BYTES, group_alive, start_failure
from prodigy.runtime.masking import Masker, scrub_log

KILL_GRACE_S = float(os.environ.get("PRODIGY_KILL_GRACE_S", "5"))
# Bytes of stdout a step may capture (`capture:`, `output_file:`, `extract`), and of output one
# attempt keeps in its log (the head and the tail, half each).
CAPTURE_LIMIT = int(os.environ.get("PRODIGY_CAPTURE_MAX_BYTES", str(8 * 1024 * 1024)))
LOG_LIMIT = int(os.environ.get("PRODIGY_LOG_MAX_BYTES", str(16 * 1024 * 1024)))
# After the command exits, how long to keep reading pipes that a background child still holds.
LINGER_S = 1.0
# Process groups of the commands this process is running now (see kill_running).
RUNNING: set[int] = set()


@dataclass(frozen=True, slots=True)
class ProcessResult:
    exit_code: int  # negative: killed by that signal
    timed_out: bool
    stdout: str  # all of stdout when captured, else its tail (masked)
    stderr: str  # tail (masked)
    output: str  # tail of stdout and stderr interleaved as written (masked)
    duration: float
    error: str = ""  # the command could not be started


def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None,
    log_path: Path,
    timeout: float | None = None,
    masker: Masker,
    capture_stdout: bool = False,
    split_streams: bool = False,
    header: str = "",
    stdout_path: Path | None = None,
    stop_signal: int = signal.SIGTERM,
    strays: tuple[str, str] | None = None,
) -> ProcessResult:
    """Run argv to completion. `capture_stdout` keeps all of stdout in the result;
    `split_streams` keeps stdout and stderr tails apart (someone reads `.stderr`);
    `stdout_path` sends stdout (masked, flushed as it comes: others may follow it) to that
    file instead of the log (a Claude transcript), and only stderr to the log. On a timeout
    the group gets `stop_signal` first (SIGINT lets the Claude CLI stop its tools and report),
    then SIGKILL after the grace period; `strays` (NAME, VALUE) also stops processes that
    carry that variable but left the group (the Claude CLI starts its tools in sessions of
    their own)."""
    started = time.monotonic()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log, \
            (stdout_path.open("ab") if stdout_path else contextlib.nullcontext()) as sink:
        if header:
            log.write(masker.mask(header).encode())
            log.flush()
        start = log.tell()  # earlier attempts are in the same log: this attempt starts here
        direct = not masker and not capture_stdout and not split_streams and sink is None
        try:
            proc = subprocess.Popen(
                list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
                stdout=log if direct else subprocess.PIPE,
                stderr=log if direct else subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            message = start_failure(argv[0], cwd, exc)
            # The Claude CLI is what a fresh machine lacks: say how to get it or point to it.
            # (`filename` tells the program from a missing cwd, which fails the same way.)
            chosen = os.environ.get("PRODIGY_CLAUDE_BIN")
            if exc.filename == argv[0] and chosen and argv[0] == chosen.split()[0]:
                message += ("; PRODIGY_CLAUDE_BIN names it: set it to the Claude Code CLI's "
                            "path, or unset it to run `claude` from PATH")
            elif exc.filename == argv[0] and os.path.basename(argv[0]) == "claude":
                message += ("; claude: steps need the Claude Code CLI: install it with "
                            "`npm install -g @anthropic-ai/claude-code` (it must be on PATH), "
                            "or set PRODIGY_CLAUDE_BIN to its path")
            log.write(masker.mask(message + "\n").encode())
            return ProcessResult(127, False, "", message, message,
                                 time.monotonic() - started, error=message)
        RUNNING.add(proc.pid)
        error = ""
        try:
            if direct:
                timed_out = _wait(proc, timeout, stop_signal)
                log.flush()
                compact_log(log_path, start)
                scrub_log(str(log_path), start)  # token shapes: nothing masked it on the way
                tail = _read_tail(log_path, start, TAIL_BYTES)
                stdout = stderr = output = tail
            else:
                capped = LogCap(log)
                timed_out, stdout, stderr, output, whole = _pump(
                    proc, capped, masker, timeout, capture_stdout, sink, stop_signal)
                capped.close()
                if not whole:
                    error = (f"stdout is over the capture limit of {CAPTURE_LIMIT} bytes "
                             "(PRODIGY_CAPTURE_MAX_BYTES), so it was not captured: write large "
                             "output to a file and capture its path")
        except BaseException:
            # KeyboardInterrupt (inline executor) or anything else: never leave the group alive.
            kill_group(proc.pid, proc)
            raise
        finally:
            RUNNING.discard(proc.pid)
    exit_code = proc.returncode if proc.returncode is not None else -signal.SIGKILL
    if timed_out and strays is not None:
        stop_groups(groups_with(*strays))
    if timed_out:
        note = f"\nprodigy: command timed out after {timeout:.3g} seconds\n"
        with log_path.open("ab") as log:
            log.write(note.encode())
        stderr = (stderr + note)[-TAIL_BYTES:]
        output = (output + note)[-TAIL_BYTES:]
    return ProcessResult(exit_code, timed_out, stdout, stderr, output,
                         time.monotonic() - started, error=error)


def _wait(proc: subprocess.Popen[bytes], timeout: float | None,
          stop_signal: int = signal.SIGTERM) -> bool:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid, proc, first_signal=stop_signal)
        return True
    return False


def _pump(
    proc: subprocess.Popen[bytes], log: BinaryIO | LogCap, masker: Masker,
    timeout: float | None, capture_stdout: bool, sink: BinaryIO | None = None,
    stop_signal: int = signal.SIGTERM,
) -> tuple[bool, str, str, str, bool]:
    """Copy both pipes into the log (stdout into `sink` when given) through the masker until
    EOF or the deadline. The last value: whether all of stdout was kept when captured (False:
    it passed CAPTURE_LIMIT, and only its tail was)."""
    assert proc.stdout is not None and proc.stderr is not None
    target: dict[object, BinaryIO | LogCap] = {proc.stdout: sink or log, proc.stderr: log}
    deadline = None if timeout is None else time.monotonic() + timeout
    streams = {proc.stdout: _Stream(masker, capture_stdout), proc.stderr: _Stream(masker, False)}
    combined = _Tail()
    sel = selectors.DefaultSelector()
    for pipe in streams:
        sel.register(pipe, selectors.EVENT_READ)
    timed_out = False
    exited_at: float | None = None
    try:
        while sel.get_map():
            now = time.monotonic()
            wait_s = 0.25 if deadline is None else max(0.0, min(0.25, deadline - now))
            events = sel.select(wait_s)
            if not events and deadline is not None and time.monotonic() >= deadline:
                timed_out = True
                kill_group(proc.pid, proc, first_signal=stop_signal)
                deadline = None  # then read what it printed on its way out (the CLI's result)
            if not events and proc.poll() is not None:
                # The command is done but a background child holds the pipes: stop copying.
                exited_at = exited_at or time.monotonic()
                if time.monotonic() - exited_at > LINGER_S:
                    break
            for key, _ in events:
                chunk = os.read(key.fd, 65536)
                stream = streams[key.fileobj]  # type: ignore[index]
                text = stream.feed(chunk) if chunk else stream.close()
                if text:
                    dest = target[key.fileobj]
                    dest.write(text.encode())
                    if dest is sink:
                        dest.flush()
                    combined.add(text)
                if not chunk:
                    sel.unregister(key.fileobj)
        for pipe, open_stream in streams.items():
            rest = open_stream.close()
            if rest:
                target[pipe].write(rest.encode())
                combined.add(rest)
    finally:
        sel.close()
        for pipe in streams:
            pipe.close()
    if not timed_out:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        timed_out = _wait(proc, remaining, stop_signal)
    out, err = streams[proc.stdout], streams[proc.stderr]
    return timed_out, out.text(), err.text(), combined.text(), not out.over


class _Tail:
    """The last TAIL_BYTES characters of a text stream."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0

    def add(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size > 2 * TAIL_BYTES:
            joined = "".join(self._parts)[-TAIL_BYTES:]
            self._parts, self._size = [joined], len(joined)

    def text(self) -> str:
        return "".join(self._parts)[-TAIL_BYTES:]


class _Stream:
    """One pipe: incremental UTF-8 decode, masking, and either the full text or a tail."""

    def __init__(self, masker: Masker, keep_all: bool) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._masker = masker.stream()
        self._keep_all = keep_all
        self._all: list[str] = []
        self._size = 0  # bytes in _all
        self.over = False  # kept all, until it passed CAPTURE_LIMIT: then only the tail
        self._tail = _Tail()
        self._closed = False

    def feed(self, chunk: bytes) -> str:
        return self._keep(self._masker.feed(self._decoder.decode(chunk)))

    def close(self) -> str:
        if self._closed:
            return ""
        self._closed = True
        return self._keep(self._masker.feed(self._decoder.decode(b"", final=True))
                          + self._masker.flush())

    def _keep(self, text: str) -> str:
        if not text:
            return text
        self._tail.add(text)
        if self._keep_all:
            self._size += len(text) if text.isascii() else len(text.encode())
            if self._size > CAPTURE_LIMIT:
                self._keep_all, self.over, self._all = False, True, []
            else:
                self._all.append(text)
        return text

    def text(self) -> str:
        return "".join(self._all) if self._keep_all else self._tail.text()


class LogCap:
    """A log written through this keeps its first LOG_LIMIT / 2 bytes as they come and holds
    the latest LOG_LIMIT / 2 in memory; `close` writes a note of what was left out, then that
    tail. A command printing 200 MB leaves a 16 MB log, with how it started and how it ended."""

    def __init__(self, log: BinaryIO, limit: int | None = None) -> None:
        limit = LOG_LIMIT if limit is None else limit
        self._log, self._head, self._keep = log, limit - limit // 2, limit // 2
        self._tail = bytearray()
        self._dropped = 0

    def write(self, data: bytes) -> int:
        if self._head > 0:
            now, data = data[: self._head], data[self._head :]
            self._log.write(now)
            self._head -= len(now)
        if data:
            self._tail += data
            if len(self._tail) > 2 * self._keep:  # trim in batches, not on every write
                self._dropped += len(self._tail) - self._keep
                del self._tail[: len(self._tail) - self._keep]
        return len(data)

    def flush(self) -> None:
        self._log.flush()

    def close(self) -> None:
        if len(self._tail) > self._keep:
            self._dropped += len(self._tail) - self._keep
            del self._tail[: len(self._tail) - self._keep]
        if self._dropped:
            self._log.write(_omitted(self._dropped))
        self._log.write(bytes(self._tail))
        self._tail.clear()
        self._log.flush()


def _omitted(size: int) -> bytes:
    return (f"\n... prodigy: {size} bytes of output left out of this log "
            "(PRODIGY_LOG_MAX_BYTES) ...\n").encode()


def compact_log(path: Path, start: int, limit: int | None = None) -> None:
    """Cut the attempt that starts at offset `start` of the log at `path` to its first and last
    `limit` / 2 bytes, as LogCap does as it writes (a command that wrote the file itself)."""
    limit = LOG_LIMIT if limit is None else limit
    with path.open("r+b") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end - start <= limit:
            return
        keep = limit // 2
        handle.seek(end - keep)
        tail = handle.read(keep)
        head_end = start + (limit - keep)
        handle.seek(head_end)
        handle.write(_omitted(end - keep - head_end) + tail)
        handle.truncate()


def _read_tail(path: Path, start: int, size: int) -> str:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        handle.seek(max(start, end - size))
        return handle.read().decode("utf-8", errors="replace")


def kill_group(pgid: int, proc: subprocess.Popen[bytes] | None = None,
               grace_s: float | None = None, first_signal: int = signal.SIGTERM) -> None:
    """SIGTERM (or `first_signal`) the process group, SIGKILL whatever is left after the
    grace period."""
    grace = KILL_GRACE_S if grace_s is None else grace_s
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, first_signal)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc is not None:
            proc.poll()  # reap our child, or its zombie keeps the group "alive"
        if not group_alive(pgid):
            break
        time.sleep(0.02)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)


def _stat(entry: Path) -> tuple[str, int] | None:
    try:
        text = (entry / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return fields[0], int(fields[2])


def kill_running(grace_s: float = 1.0) -> None:
    """Stop every command this process is running (a pool worker whose driver died)."""
    for pgid in list(RUNNING):
        kill_group(pgid, None, grace_s)


def groups_of_run(run_tag: str) -> list[int]:
    """Process groups whose members carry PRODIGY_RUN_TAG=run_tag (Linux /proc; else empty).

    Used when the driver is interrupted, and when a run resumes after its driver was killed:
    commands still running from that run are found by the variable every step receives. The
    tag, not the run id: another project's run may have the same id (`--run-id nightly`).
    """
    return groups_with("PRODIGY_RUN_TAG", run_tag)


def groups_with(name: str, value: str) -> list[int]:
    """Process groups (not this process's own) with a live member whose environment has
    name=value, which its children inherit (Linux /proc; else empty)."""
    proc_root = Path("/proc")
    if not proc_root.is_dir():
        return []
    needle = f"\0{name}={value}\0".encode()
    me = os.getpgrp()
    groups: set[int] = set()
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = b"\0" + (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ:
            stat = _stat(entry)
            if stat is not None and stat[0] != "Z" and stat[1] != me:
                groups.add(stat[1])
    return sorted(groups)


def kill_run(run_tag: str, grace_s: float | None = None) -> list[int]:
    """Terminate every process group still running commands of the run tagged `run_tag`."""
    groups = groups_of_run(run_tag)
    stop_groups(groups, grace_s)
    return groups


def stop_groups(groups: list[int], grace_s: float | None = None) -> None:
    """SIGTERM each group, then SIGKILL those with a member left after the grace period."""
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + (KILL_GRACE_S if grace_s is None else grace_s)
    alive = list(groups)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [g for g in alive if group_alive(g)]
    for pgid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
