"""Commands the driver starts itself: one process per node, no worker, no output pumping.

A shell node whose output nobody reads and which has no secret to mask (most nodes) is a
`Command` (see `ops/base.py`): the `local` executor starts it here with `os.posix_spawn`
instead of sending it to a pool worker, which would only start the same process after a
pickle and a socket round trip. The process gets exactly what `process.run_command` gives it
in its direct mode: a new session (so a process group of its own), stdin from /dev/null,
stdout and stderr appended straight to the node's log after its header line. The executor
waits on its pidfd, so nothing ever reaps a process it does not own (the pool's workers are
children of the driver too).

Where a command's directory is not the driver's own, `subprocess.Popen` starts it (Python's
posix_spawn cannot change directory); everything else is the same.

A timeout stops the whole group as `process.kill_group` does: SIGTERM, then SIGKILL after
KILL_GRACE_S if any member (say a grandchild ignoring SIGTERM) is still alive; the executor
drives those steps from its event loop (`expire`, `poll_kill`) instead of sleeping in them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from functools import lru_cache

from prodigy.runtime.ops.base import Command
from prodigy.runtime.process import KILL_GRACE_S, TAIL_BYTES, ProcessResult, group_alive

# Seconds between checks whether a timed-out group has emptied before its SIGKILL is due.
KILL_POLL_S = 0.02
# Read-write: the tail of the output is read back from it once the command ends.
_OUT_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


def direct_spawn_available() -> bool:
    return hasattr(os, "pidfd_open") and hasattr(os, "posix_spawn")


@dataclass(slots=True)
class Spawned:
    """One running command: its process, its pidfd, its log and where this attempt begins."""

    command: Command
    pid: int
    pidfd: int
    log_fd: int
    start: int  # log offset where this attempt's output begins
    started: float  # monotonic
    deadline: float | None  # monotonic; None: no timeout
    popen: subprocess.Popen[bytes] | None = None
    kill_at: float | None = None  # after a timeout: when the SIGKILL is due
    exit_code: int | None = None  # set once reaped
    failure: str = ""  # it could not be started

    @property
    def timed_out(self) -> bool:
        return self.kill_at is not None


class Launcher:
    """Starts commands for one executor. The process environment is the driver's as the run
    found it (as a pool worker's is): commands see its variables under their overlay."""

    def __init__(self) -> None:
        self._base = {k.encode(): v.encode() for k, v in os.environ.items()
                      if "=" not in k}
        # The overlay last merged: (overlay, clear_env, environment, resolved executables).
        self._last: tuple[dict[str, str], bool, dict[bytes, bytes], dict[str, str]] | None = None
        self._made_dirs: set[str] = set()
        self._cwd = os.getcwd()  # the driver never changes directory

    def environment(self, command: Command) -> tuple[dict[bytes, bytes], dict[str, str]]:
        """The command's whole environment, and the executables already looked up in its PATH.
        Most nodes share one overlay object (environment.step_overlay): merge it once."""
        last = self._last
        if last is not None and last[0] is command.env and last[1] == command.clear_env:
            return last[2], last[3]
        merged = {} if command.clear_env else dict(self._base)
        merged.update((k.encode(), v.encode()) for k, v in command.env.items())
        self._last = (command.env, command.clear_env, merged, {})
        return merged, self._last[3]

    def spawn(self, command: Command) -> Spawned:
        """Start `command`; one that cannot start comes back already finished (127)."""
        started = time.monotonic()
        folder = os.path.dirname(command.log_path)
        if folder not in self._made_dirs:
            os.makedirs(folder, exist_ok=True)
            self._made_dirs.add(folder)
        log_fd = os.open(command.log_path, _OUT_FLAGS, 0o644)
        try:
            if command.header:
                os.write(log_fd, command.header.encode())
            start = os.lseek(log_fd, 0, os.SEEK_END)
            deadline = None if command.timeout is None else started + command.timeout
            env, found = self.environment(command)
            name = command.argv[0]
            executable = found.get(name)
            if executable is None:
                executable = found[name] = _which(name, (env.get(b"PATH") or b"").decode())
            argv = [executable, *command.argv[1:]]  # $0 is the resolved shell, as with Popen
            popen = None
            try:
                if command.cwd == self._cwd:
                    pid = os.posix_spawn(executable, argv, env, file_actions=[
                        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                        (os.POSIX_SPAWN_DUP2, log_fd, 1), (os.POSIX_SPAWN_DUP2, log_fd, 2)],
                        setsid=True)
                else:
                    popen = subprocess.Popen(argv, env=env, cwd=command.cwd,
                                             stdin=subprocess.DEVNULL, stdout=log_fd,
                                             stderr=log_fd, start_new_session=True)
                    pid = popen.pid
            except OSError as exc:
                message = f"cannot start {command.argv[0]!r}: {exc.strerror or exc}"
                os.write(log_fd, (message + "\n").encode())
                return Spawned(command, 0, -1, log_fd, start, started, None, exit_code=127,
                               failure=message)
            return Spawned(command, pid, os.pidfd_open(pid), log_fd, start, started, deadline,
                           popen)
        except BaseException:
            os.close(log_fd)
            raise


@lru_cache(maxsize=64)
def _which(name: str, path: str) -> str:
    # posix_spawn does no PATH search: the command's own PATH decides.
    import shutil

    return shutil.which(name, path=path) or name


def reap(proc: Spawned) -> None:
    """Its pidfd is readable: the process ended. Collect its status (it is our child)."""
    _, status = os.waitpid(proc.pid, 0)
    proc.exit_code = os.waitstatus_to_exitcode(status)
    if proc.popen is not None:
        proc.popen.returncode = proc.exit_code  # so Popen never waits for it again


def expire(proc: Spawned, now: float) -> None:
    """Its deadline passed: SIGTERM the group; the SIGKILL follows after the grace period."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    proc.kill_at = now + KILL_GRACE_S


def poll_kill(proc: Spawned, now: float) -> bool:
    """After a timeout: whether the group is gone (SIGKILLing it once the grace is over)."""
    if not group_alive(proc.pid):
        return True
    if proc.kill_at is not None and now >= proc.kill_at:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.kill_at = now  # keep polling until the kernel has removed them
    return False


def next_due(proc: Spawned) -> float | None:
    """When the event loop must look at `proc` again, whatever its pidfd says."""
    if proc.kill_at is not None:
        return time.monotonic() + KILL_POLL_S
    return proc.deadline


def result(proc: Spawned) -> ProcessResult:
    """The finished command as `run_command` reports it; closes its log and pidfd."""
    try:
        if proc.pidfd >= 0:
            os.close(proc.pidfd)
        duration = time.monotonic() - proc.started
        if proc.failure:
            message = proc.failure
            return ProcessResult(127, False, "", message, message, duration, error=message)
        end = os.fstat(proc.log_fd).st_size
        tail = ""
        if end > proc.start:
            offset = max(proc.start, end - TAIL_BYTES)
            tail = os.pread(proc.log_fd, end - offset, offset).decode("utf-8", errors="replace")
        exit_code = proc.exit_code if proc.exit_code is not None else -signal.SIGKILL
        if proc.timed_out:
            timeout = proc.command.timeout or 0.0
            note = f"\nprodigy: command timed out after {timeout:.3g} seconds\n"
            os.write(proc.log_fd, note.encode())
            return ProcessResult(exit_code, True, tail, (tail + note)[-TAIL_BYTES:],
                                 (tail + note)[-TAIL_BYTES:], duration)
        return ProcessResult(exit_code, False, tail, tail, tail, duration)
    finally:
        os.close(proc.log_fd)
