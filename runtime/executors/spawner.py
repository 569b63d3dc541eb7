"""The spawner: a small helper process that starts the `local` executor's plain commands.

`posix_spawn` (vfork + exec) blocks its caller until the child has exec'd, and on Linux that
wait grows with what the calling process has loaded: measured on our bench VM, 160 us from a
bare interpreter against ~600 us from one holding prodigy's runtime (bench/bench_spawn.py),
which made the driver spend about half of a run of short commands waiting there. So the
driver does not start these commands itself: it sends them ahead to this process, which
imports only the standard library, keeps its slots full on its own, and reports each command
when it ends. A loop whose items are single commands sends its items ahead too, as a lane:
this process then also holds the loop's own limit (a map's `max_parallel`), so an item ending
and the next one starting never wait for the driver either.

Each command gets a new session (a process group of its own), stdin from /dev/null, and one
pipe for stdout and stderr, which this process copies to the node's log (as output arrives,
once the command has run WATCH_AFTER_S; a shorter one's output is copied when it ends);
the log (header line first) is created with the first output, or when the command fails, so
a silent step that succeeds leaves none. A background child that keeps the pipe open after
its command ended keeps being copied until it closes it or the driver is done. A command
whose directory is not this process's own is started by `subprocess.Popen` (posix_spawn
cannot change directory). A timeout stops the whole group: SIGTERM, then SIGKILL once the
grace period is over if any member (a grandchild ignoring SIGTERM) is still there; the
command is reported when its group is gone. Each command's environment carries MARKER (this
process's pid), so that if this process is killed outright the driver can find and stop the
groups it leaves behind.

Protocol: marshal frames with a 4-byte length, both ways (both ends run the same
interpreter). Driver -> spawner:
    ("env", env_id, clear, {name: value})   an environment overlay, sent once, used by id
    ("forget", env_id)   an overlay no command will use any more
    ("run", tag, argv, env_id, cwd, log_path, header, timeout, lane)   queue a command
    ("limit", n)    run at most n at once (the driver shares its slots with pool workers)
    ("lane", lane, n, seen, failed)   run at most n commands of this lane at once (0: no
                    lane). A command of a lane that fails pauses the lane: none of its
                    commands start until the driver, having seen `seen` failures of it (all
                    there were), says it goes on (it may instead drop it: a failure policy
                    stops the loop). `failed`: the lane's failures before this process started
                    (a spawner that replaced a dead one counts on from there)
    ("drop", lane)  forget the queued commands (of that lane; None: all of them); answered by
                    ("dropped", [tags])
    end of input    the driver is done or dead: stop the running groups, then exit
Spawner -> driver:
    ("done", tag, exit_code, duration, tail, timeout_note, failure, started_at)
    ("dropped", [tags])
"""

from __future__ import annotations

import contextlib
import fcntl
import marshal
import os
import select
import signal
import struct
import sys
import time
from collections import deque
from typing import Any

HEADER = struct.Struct("<I")
# Every command's environment names the spawner that started it, and its children inherit
# that: if this process is killed outright, the driver finds the groups left behind by it.
MARKER = "PRODIGY_SPAWNER"
TAIL_BYTES = 64 * 1024  # how much of a command's output comes back with its result
KILL_POLL_S = 0.02  # how often a timed-out group is checked while it dies
# While commands are still queued here (the slots stay busy whatever the driver does), results
# wait up to this long to go back together: one wake-up of the driver for several commands.
HOLD_S = 0.005
# A command's pipe is watched (epoll) only once it has run this long: most commands end
# sooner, and their output is read once, when they end, which saves the registration's system
# calls (on our bench VM each one costs ~10 us, as much as the rest of a command's handling).
# A command that fills the pipe's 64 KiB before then waits at most this long.
WATCH_AFTER_S = 0.02
_OUT_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
# Python starts with these ignored and an exec'd program would inherit that (the writer in
# `yes | head` would get write errors instead of stopping quietly): the child gets their
# defaults back, as subprocess's restore_signals does.
_PYTHON_IGNORES = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ")
                        if hasattr(signal, name))


def frame(message: Any) -> bytes:
    payload = marshal.dumps(message)
    return HEADER.pack(len(payload)) + payload


def unframe(buffer: bytearray) -> list[Any]:
    """The complete messages at the start of `buffer`, removed from it."""
    messages = []
    offset = 0
    while len(buffer) - offset >= HEADER.size:
        (size,) = HEADER.unpack_from(buffer, offset)
        end = offset + HEADER.size + size
        if len(buffer) < end:
            break
        messages.append(marshal.loads(buffer[offset + HEADER.size:end]))
        offset = end
    del buffer[:offset]
    return messages


def group_alive(pgid: int) -> bool:
    """Whether any process that is not a zombie is left in the group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True  # no /proc: the signal test above is all there is
    # Orphaned zombies keep the group id alive until init reaps them; they are not running.
    for entry in entries:
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    return True
    return False


class Running:
    """One started command, and its output on the way to its log."""

    __slots__ = ("deadline", "exit_code", "header", "kill_at", "lane", "log_error", "log_fd",
                 "log_path", "out_fd",
                 "pid", "pidfd", "popen", "reported", "started", "started_at", "tag", "tail",
                 "timeout")

    def __init__(self, tag: int, log_path: str, header: str, timeout: float | None,
                 lane: int = 0) -> None:
        self.tag, self.log_path, self.header, self.timeout = tag, log_path, header, timeout
        self.lane = lane
        self.started = time.monotonic()
        self.started_at = time.time()
        self.deadline = None if timeout is None else self.started + timeout
        self.pid = 0
        self.pidfd = -1
        self.out_fd = -1  # read end of the pipe its stdout and stderr write to
        self.log_fd = -1  # opened with its first output (or when it fails)
        self.tail = bytearray()  # the last TAIL_BYTES of its output
        self.log_error = ""  # why its output could not all be kept
        self.popen: Any = None
        self.kill_at: float | None = None  # after a timeout: when the SIGKILL is due
        self.exit_code: int | None = None
        self.reported = False


class Spawner:
    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.base = {k.encode(): v.encode() for k, v in os.environ.items() if "=" not in k}
        self.envs: dict[int, tuple[dict[bytes, bytes], dict[str, str]]] = {}
        self.marker = str(os.getpid()).encode()  # MARKER's value in every command's env
        self.cwd = os.getcwd()
        self.devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)  # every command's stdin
        self.limit = 1
        self.lane_limits: dict[int, int] = {}  # lane -> how many of its commands may run
        self.lane_running: dict[int, int] = {}
        self.lane_failed: dict[int, int] = {}  # lane -> its commands that failed so far
        self.lane_seen: dict[int, int] = {}  # ... of which the driver has seen this many
        self.queue: deque[tuple[tuple[Any, ...], Any]] = deque()  # (message, its env)
        self.running: dict[int, Running] = {}  # pidfd -> command
        self.streams: dict[int, Running] = {}  # watched pipe read end -> its command
        self.young: deque[Running] = deque()  # started, pipe not watched yet (oldest first)
        self.timed: set[Running] = set()  # running commands with a deadline
        self.poll = select.epoll()
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.held_since = 0.0  # when the oldest result in the outbox was put there
        self.made_dirs: set[str] = set()
        self.closing = False

    # --- messages ----------------------------------------------------------------------------

    def receive(self) -> None:
        try:
            data = os.read(0, 1 << 16)
        except BlockingIOError:
            return
        if not data:
            self.closing = True
            return
        self.inbox += data
        for message in unframe(self.inbox):
            kind = message[0]
            if kind == "run":
                self.queue.append((message, self.envs[message[3]]))
            elif kind == "env":
                _, env_id, clear, overlay = message
                self.envs[env_id] = self.environment(clear, overlay)
            elif kind == "forget":
                del self.envs[message[1]]
            elif kind == "limit":
                self.limit = message[1]
            elif kind == "lane":
                _, lane, limit, seen, failed = message
                self.lane_limits[lane], self.lane_seen[lane] = limit, seen
                self.lane_failed.setdefault(lane, failed)
            elif kind == "drop":
                lane = message[1]
                dropped = [m[1] for m, _ in self.queue if lane is None or m[8] == lane]
                if lane is None:
                    self.queue.clear()
                else:
                    self.queue = deque(q for q in self.queue if q[0][8] != lane)
                self.send(("dropped", dropped))

    def environment(self, clear: bool, overlay: dict[str, str]) -> tuple[Any, dict[str, str]]:
        """(the environment, the PATH lookups made with it); a bad overlay becomes the reason
        every command using it fails to start (this process serves every other node too, so
        nothing a task carries may stop it)."""
        merged = {} if clear else dict(self.base)
        try:
            for key, value in overlay.items():
                if not key or "=" in key or "\0" in key:
                    return f"invalid environment variable name {key!r}", {}
                merged[os.fsencode(key)] = os.fsencode(value)
        except (TypeError, ValueError) as exc:  # a NUL, a lone surrogate, not a string
            return f"invalid environment: {exc}", {}
        merged[MARKER.encode()] = self.marker
        return merged, {}

    def send(self, message: Any) -> None:
        if not self.outbox:
            self.held_since = time.monotonic()
        self.outbox += frame(message)

    def flush(self) -> None:
        # Non-blocking: this process never waits on the driver, so the two can never both
        # block writing to each other.
        while self.outbox:
            try:
                written = os.write(1, self.outbox)
            except BlockingIOError:
                return
            except BrokenPipeError:
                self.outbox.clear()
                self.closing = True
                return
            del self.outbox[:written]

    # --- commands ----------------------------------------------------------------------------

    def fill(self) -> None:
        if not self.lane_limits:
            while self.queue and len(self.running) < self.limit and not self.closing:
                self.launch(self.queue.popleft())
            return
        # In order, passing over commands whose lane is full (the queue is short: the driver
        # keeps a few dozen commands here at most).
        index = 0
        while index < len(self.queue) and len(self.running) < self.limit and not self.closing:
            lane = self.queue[index][0][8]
            if lane and (self.lane_running.get(lane, 0) >= self.lane_limits.get(lane, 1 << 30)
                         or self.lane_failed.get(lane, 0) > self.lane_seen.get(lane, 0)):
                index += 1  # full, or paused by a failure the driver has not answered yet
                continue
            queued = self.queue[index]
            del self.queue[index]
            self.launch(queued)

    def launch(self, queued: tuple[tuple[Any, ...], Any]) -> None:
        (_, tag, argv, _, cwd, log_path, header, timeout, lane), (env, found) = queued
        proc = Running(tag, log_path, header, timeout, lane)
        if lane:
            self.lane_running[lane] = self.lane_running.get(lane, 0) + 1
        name = argv[0]
        if isinstance(env, str):
            self.refuse(proc, f"cannot start {name!r}: {env}")
            return
        executable = found.get(name)
        if executable is None:
            executable = found[name] = _which(name, (env.get(b"PATH") or b"").decode())
        argv = [executable, *argv[1:]]  # $0 is the resolved shell, as with Popen
        # Output goes through a pipe, not straight into the log: a log is created when there
        # is something to keep (output, or a failure to explain), so 10,000 silent steps do
        # not cost 10,000 file creations, which on some disks cost more than the steps.
        proc.out_fd, write_end = os.pipe2(os.O_CLOEXEC)
        try:
            if cwd == self.cwd:
                proc.pid = os.posix_spawn(executable, argv, env, file_actions=[
                    (os.POSIX_SPAWN_DUP2, self.devnull, 0),
                    (os.POSIX_SPAWN_DUP2, write_end, 1), (os.POSIX_SPAWN_DUP2, write_end, 2)],
                    setsid=True, setsigdef=_PYTHON_IGNORES)
            else:
                import subprocess

                proc.popen = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                              stdout=write_end, stderr=write_end,
                                              start_new_session=True)
                proc.pid = proc.popen.pid
        except (OSError, ValueError, TypeError) as exc:  # ValueError: a NUL in argv, say
            os.close(proc.out_fd)
            proc.out_fd = -1
            self.refuse(proc, start_failure(name, cwd, exc))
            return
        finally:
            os.close(write_end)
        fcntl.fcntl(proc.out_fd, fcntl.F_SETFL, os.O_NONBLOCK)  # (a read end has no other flag)
        self.young.append(proc)
        proc.pidfd = os.pidfd_open(proc.pid)
        self.poll.register(proc.pidfd, select.EPOLLIN)
        self.running[proc.pidfd] = proc
        if proc.deadline is not None:
            self.timed.add(proc)

    def refuse(self, proc: Running, message: str) -> None:
        """Report a command that could not start: exit 127, the reason in its log."""
        with contextlib.suppress(OSError):
            self.write_log(proc, (message + "\n").encode())
        self.close_log(proc)
        self.release(proc, failed=True)
        self.send(("done", proc.tag, 127, time.monotonic() - proc.started, "", "", message,
                   proc.started_at))

    # --- output ------------------------------------------------------------------------------

    def pump(self, proc: Running) -> bool:
        """Copy what the command has written so far to its log; whether its pipe is at end."""
        while True:
            try:
                data = os.read(proc.out_fd, 1 << 16)
            except BlockingIOError:
                return False
            if not data:
                self.streams.pop(proc.out_fd, None)
                os.close(proc.out_fd)  # which also takes it out of the epoll set
                proc.out_fd = -1  # the number is free for another command's pipe now
                if proc.reported:  # a background child kept writing after it ended
                    self.close_log(proc)
                return True
            if not proc.log_error:
                try:
                    self.write_log(proc, data)
                except OSError as exc:  # disk full, say: keep draining, report it at the end
                    proc.log_error = f"cannot write the log: {exc}"
            if not proc.reported:
                proc.tail += data
                if len(proc.tail) > TAIL_BYTES:
                    del proc.tail[:-TAIL_BYTES]

    def watch(self, proc: Running) -> None:
        if proc.out_fd >= 0 and proc.out_fd not in self.streams:
            self.poll.register(proc.out_fd, select.EPOLLIN)
            self.streams[proc.out_fd] = proc

    def watch_grown(self) -> float | None:
        """Watch the pipes of the commands that have run WATCH_AFTER_S; seconds until the
        next one is due."""
        now = time.monotonic()
        while self.young:
            due = self.young[0].started + WATCH_AFTER_S - now
            if due > 0:
                return due
            self.watch(self.young.popleft())
        return None

    def write_log(self, proc: Running, data: bytes) -> None:
        if proc.log_fd < 0:
            folder = os.path.dirname(proc.log_path)
            if folder not in self.made_dirs:
                os.makedirs(folder, exist_ok=True)
                self.made_dirs.add(folder)
            proc.log_fd = os.open(proc.log_path, _OUT_FLAGS, 0o644)
            if proc.header:
                os.write(proc.log_fd, proc.header.encode())
        os.write(proc.log_fd, data)

    @staticmethod
    def close_log(proc: Running) -> None:
        if proc.log_fd >= 0:
            os.close(proc.log_fd)
            proc.log_fd = -1

    # --- ending --------------------------------------------------------------------------------

    def exited(self, proc: Running) -> None:
        _, status = os.waitpid(proc.pid, 0)
        proc.exit_code = os.waitstatus_to_exitcode(status)
        if proc.popen is not None:
            proc.popen.returncode = proc.exit_code  # so Popen never waits for it again
        if proc.kill_at is None or not group_alive(proc.pid):
            self.finish(proc)
        else:  # the group is still dying: check_deadlines finishes it; the pidfd stays ready
            self.poll.unregister(proc.pidfd)

    def check_deadlines(self) -> None:
        now = time.monotonic()
        for proc in list(self.timed):
            if proc.kill_at is None:
                if proc.exit_code is None and now >= proc.deadline:  # type: ignore[operator]
                    self.signal(proc, signal.SIGTERM)
                    proc.kill_at = now + self.grace_s
            elif not group_alive(proc.pid):
                if proc.exit_code is not None:
                    self.finish(proc)
            elif now >= proc.kill_at:
                self.signal(proc, signal.SIGKILL)

    @staticmethod
    def signal(proc: Running, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)

    def finish(self, proc: Running) -> None:
        del self.running[proc.pidfd]
        self.timed.discard(proc)
        os.close(proc.pidfd)  # which also takes it out of the epoll set
        at_end = proc.out_fd < 0 or self.pump(proc)
        note = ""
        try:
            if proc.kill_at is not None:  # it timed out
                note = f"\nprodigy: command timed out after {proc.timeout or 0.0:.3g} seconds\n"
                self.write_log(proc, note.encode())
            elif proc.exit_code != 0 and proc.log_fd < 0:
                self.write_log(proc, b"")  # a failed step always has a log, if only its header
        except OSError as exc:  # the result still says what happened
            proc.log_error = proc.log_error or f"cannot write the log: {exc}"
        proc.reported = True
        if at_end:
            self.close_log(proc)
        else:  # a background child still holds the pipe: keep copying
            self.watch(proc)
        tail = proc.tail.decode("utf-8", errors="replace")
        proc.tail = bytearray()
        exit_code = proc.exit_code if proc.exit_code is not None else -signal.SIGKILL
        self.release(proc, failed=exit_code != 0)
        self.send(("done", proc.tag, exit_code, time.monotonic() - proc.started, tail, note,
                   proc.log_error, proc.started_at))

    def release(self, proc: Running, failed: bool) -> None:
        """Its lane's slot is free again (the command ended, or could not start)."""
        if proc.lane:
            self.lane_running[proc.lane] -= 1
            if failed:
                self.lane_failed[proc.lane] = self.lane_failed.get(proc.lane, 0) + 1

    def next_timeout(self) -> float | None:
        now = time.monotonic()
        dues = [KILL_POLL_S if p.kill_at is not None else (p.deadline or now) - now
                for p in self.timed if p.kill_at is not None or p.exit_code is None]
        return max(0.0, min(dues)) if dues else None

    # --- the loop ----------------------------------------------------------------------------

    def serve(self) -> None:
        os.set_blocking(0, False)
        os.set_blocking(1, False)
        self.poll.register(0, select.EPOLLIN)
        while not self.closing:
            timeout = self.next_timeout()
            watch_due = self.watch_grown()
            if watch_due is not None:
                timeout = watch_due if timeout is None else min(timeout, watch_due)
            if self.outbox:  # results held back, or the driver's pipe was full
                timeout = HOLD_S if timeout is None else min(timeout, HOLD_S)
            for fd, _ in self.poll.poll(-1 if timeout is None else timeout):
                if fd == 0:
                    self.receive()
                elif fd in self.streams:
                    self.pump(self.streams[fd])
                elif fd in self.running:
                    self.exited(self.running[fd])
            self.check_deadlines()
            self.fill()
            if self.outbox and (not self.queue or self.closing
                                or time.monotonic() - self.held_since >= HOLD_S):
                self.flush()
        self.stop_all()

    def stop_all(self) -> None:
        """The driver is gone (or done): no command of ours outlives it. Output that background
        children of finished commands still write has nowhere to go from now on."""
        for fd, proc in list(self.streams.items()):
            if proc.reported:
                os.close(fd)
                self.close_log(proc)
        for proc in self.running.values():
            self.signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while any(group_alive(p.pid) for p in self.running.values()):
            if time.monotonic() >= deadline:
                for proc in self.running.values():
                    self.signal(proc, signal.SIGKILL)
            time.sleep(KILL_POLL_S)
        for proc in self.running.values():
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, 0)


def start_failure(name: str, cwd: str | None, exc: BaseException) -> str:
    """Why a command could not start. A missing directory fails exactly as a missing program
    does (ENOENT from the child's chdir), so `filename` tells which one it was: only then is
    the step's working_dir to blame, not the program."""
    if isinstance(exc, OSError) and cwd is not None and exc.filename == cwd:
        import errno

        if exc.errno == errno.ENOENT:
            return f"working_dir {cwd} does not exist"
        if exc.errno == errno.ENOTDIR:
            return f"working_dir {cwd} is not a directory"
        return f"cannot enter working_dir {cwd}: {exc.strerror or exc}"
    return f"cannot start {name!r}: {getattr(exc, 'strerror', None) or exc}"


def _which(name: str, path: str) -> str:
    # posix_spawn does no PATH search: the command's own PATH decides.
    import shutil

    return shutil.which(name, path=path) or name


if __name__ == "__main__":
    # Started in a session of its own: a Ctrl-C at the terminal reaches only the driver, which
    # stops the commands itself; its exit (end of input) is what ends this process.
    Spawner(float(sys.argv[1])).serve()
