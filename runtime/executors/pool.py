"""The `local` executor: `jobs` slots, filled by commands the spawner starts or by loky
pool workers.

A node that is one plain process (`ops.base.Command`: a shell step whose output goes straight
to its log, most nodes) is sent to the spawner (`spawner.py`, through `spawn.py`), a small
helper process that starts it as soon as a slot is free: a pool worker would only start the
same process after a pickle and a socket round trip, and the driver starting it itself would
block in `posix_spawn` while the child execs. Every other node goes to loky's reusable
process pool, started on the first such node, where each worker runs one long-lived `serve`
loop fed over a Unix socket (one loky task per node costs a few hundred microseconds of queue
and thread hand-offs, more than a trivial command itself). Workers ignore SIGINT and the
spawner has a session of its own, so Ctrl-C reaches only the driver, which then stops the
commands' process groups itself (every command carries PRODIGY_RUN_ID, by which
`process.kill_run` finds its group). A worker or spawner whose driver died stops its
commands and exits.

The executor has no thread: whoever waits drives it (`wait`, or a future's `result`), in one
epoll loop over the spawner's reports and the workers' sockets. A helper thread would fight
the run loop for the GIL. Tasks start in submission order; the spawner holds the commands
sent ahead and refills its slots itself, so a command ending and the next one starting never
wait for the driver's bookkeeping. A loop whose items are single commands sends them ahead too,
in a lane (`set_lane`) whose limit the spawner holds (a worker task of a lane waits here for
the lane's room instead).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import selectors
import shutil
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Collection, Iterable
from concurrent.futures import CancelledError
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from prodigy.runtime.errors import ExecutorUnavailable
from prodigy.runtime.executors import spawn, spawner
from prodigy.runtime.executors.base import TaskFuture, run_task
from prodigy.runtime.executors.lanes import LOST_MESSAGE, Lanes
from prodigy.runtime.executors.process import (
    compact_log,
    groups_with,
    kill_running,
    stop_groups,
)
from prodigy.runtime.masking import scrub_log
from prodigy.runtime.ops import OPS, NodeResult, Task
from prodigy.runtime.ops.base import Command

START_TIMEOUT_S = 60.0
POLL_GAP_S = 0.001


class _Job:
    """A task waiting for, or holding, a slot: a command sent to the spawner, or a task on a
    pool worker."""

    __slots__ = ("future", "task")

    def __init__(self, future: _Future, task: Task) -> None:
        self.future, self.task = future, task


class _Future:
    """A task's outcome (`executors.TaskFuture`). Only the thread driving the executor settles
    and reads it, so it needs none of `concurrent.futures.Future`'s lock and condition, which
    cost more per node than the rest of its bookkeeping; waiting drives the executor."""

    __slots__ = ("_error", "_executor", "_result", "lane_failure", "settled")

    def __init__(self, executor: LocalExecutor) -> None:
        self._executor = executor
        self.lane_failure = False  # a task of a lane that failed (it paused the lane)
        self._result: NodeResult | None = None
        self._error: BaseException | None = None
        self.settled = False

    def set_result(self, result: NodeResult) -> None:
        self._result, self.settled = result, True

    def set_exception(self, error: BaseException) -> None:
        self._error, self.settled = error, True

    def done(self) -> bool:
        return self.settled

    def cancelled(self) -> bool:
        return isinstance(self._error, CancelledError)

    def cancel(self) -> bool:
        # Queued tasks are dropped through `stop_queued`; one that started runs to its end.
        return self.cancelled()

    def result(self, timeout: float | None = None) -> NodeResult:
        error = self.exception(timeout)
        if error is not None:
            raise error
        assert self._result is not None
        return self._result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if not self.settled:
            self._executor.wait([self], timeout)
            if not self.settled:
                raise TimeoutError("the task has not finished")
        return self._error


class LocalExecutor:
    name = "local"

    def __init__(self, jobs: int, *, direct: bool = True) -> None:
        self.jobs = jobs
        # What the run loop keeps submitted: `jobs` running, the rest queued (here, or in the
        # spawner), so slots are refilled at once and the loop can commit several results in
        # one transaction. The spawner sends results back in batches (up to spawner.HOLD_S late), so
        # its queue must last until the driver has refilled it: 16 per slot measured ~8%
        # faster than 8 on 5,000 short commands (bench/RESULTS.md).
        self.capacity = 16 * jobs
        self._direct = direct and spawn.direct_spawn_available()
        self.lanes = self._direct
        self._lanes = Lanes()
        self._spawner = spawn.SpawnerClient()
        self._pending: deque[tuple[_Job, Command | None]] = deque()
        self._sent: dict[int, _Job] = {}  # commands the spawner has, queued or running
        self._workers: dict[Connection, _Job | None] = {}  # None: idle
        self._doomed: set[Connection] = set()  # busy workers of a pool that lost a worker
        self._selector = selectors.DefaultSelector()
        self._polled_at = 0.0

    # --- the executor interface --------------------------------------------------------------

    def submit(self, task: Task) -> _Future:
        future = _Future(self)
        if task.lane in self._lanes.dropped:  # its loop stopped starting items
            future.set_exception(CancelledError("stopped before it started"))
            return future
        op = OPS.get(task.kind)
        command = None
        if self._direct and op is not None and op.command is not None:
            try:
                command = op.command(task)
            except (KeyError, TypeError):
                command = None  # malformed inputs: the op's own run reports them
        if command is None and not self._workers:
            self._start_pool()  # first worker task, or every worker died: a fresh pool
        self._pending.append((_Job(future, task), command))
        self._fill()
        return future

    def warm_up(self, kinds: Collection[str]) -> None:
        """Boot the spawner now if the plan has kinds it may start (a shell node without
        readers): a fresh interpreter takes tens of milliseconds, which would otherwise delay
        the first such node. Harmless if no node ends up needing it (all reused)."""
        if self._direct and any(OPS[kind].command is not None for kind in kinds if kind in OPS):
            self._start_spawner()

    def wait(self, futures: Iterable[TaskFuture],
             timeout: float | None = None) -> set[TaskFuture]:
        """Run the event loop until one of `futures` is done or `timeout` passes; the done
        ones. The run loop waits here instead of in `concurrent.futures.wait`."""
        futures = list(futures)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            done = {f for f in futures if f.done()}
            if done:
                return done
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return done
            self._pump(left)

    def poll(self) -> None:
        """Handle what already happened (a command ended) without blocking.

        The run loop calls this between nodes. The spawner refills its own slots, so while
        only commands are out a look every POLL_GAP_S is enough: one per node cost an epoll
        round trip per node. A pool worker's slot is refilled only from here, so with workers
        busy, or a worker task waiting for a slot, every call looks."""
        self._spawner.flush()
        if self._busy_workers or (self._pending and self._pending[0][1] is None):
            self._pump(0)
        elif self._sent:
            now = time.monotonic()
            if now - self._polled_at >= POLL_GAP_S:
                self._polled_at = now
                self._pump(0)

    def stop_queued(self) -> None:
        """Tasks no slot has started yet never start (interrupt). Returns once the spawner has
        confirmed it dropped its queue, so nothing can start after this."""
        dropped, self._pending = list(self._pending), deque()
        for job, _ in dropped:
            job.future.set_exception(CancelledError("stopped before it started"))
        if self._sent and self._spawner.started:
            self._spawner.drop()
            self._spawner.flush()
            deadline = time.monotonic() + START_TIMEOUT_S
            while self._spawner.dropping and time.monotonic() < deadline:
                self._pump(0.1)

    def shutdown(self, *, cancel: bool = False) -> None:
        # The loky pool itself stays warm for the next run in this process.
        self.stop_queued()
        live, self._workers = list(self._workers), {}
        self._doomed.clear()
        for conn in live:
            with contextlib.suppress(OSError):
                conn.send(None)
                conn.close()
        self._spawner.close()
        self._selector.close()
        self._selector = selectors.DefaultSelector()

    # --- starting tasks ----------------------------------------------------------------------

    def _fill(self) -> None:
        """Send queued tasks on, in order. Commands go to the spawner's queue (it starts them
        as its slots free); a worker task waits at the head until a slot is surely free, so
        together they never run more than `jobs` at a time and start in submission order."""
        while self._pending:
            job, command = self._pending[0]
            if command is not None:
                self._pending.popleft()
                self._send_command(job, command)
                continue
            if len(self._sent) + self._busy_workers >= self.jobs:
                break  # the spawner may hold every free slot: wait for one of its results
            if job.task.lane and not self._lane_has_room(job.task.lane):
                break  # its lane is full (or paused): one of the lane's tasks must end first
            conn = next((c for c, j in self._workers.items() if j is None), None)
            if conn is None:
                if self._workers:
                    break  # every worker is busy: wait for one
                try:  # the pool died before this task started: it runs on a new one
                    self._start_pool()
                except ExecutorUnavailable as exc:  # no pool: every queued worker task fails
                    kept: deque[tuple[_Job, Command | None]] = deque()
                    for queued in self._pending:
                        if queued[1] is None:
                            queued[0].future.set_exception(exc)
                        else:
                            kept.append(queued)
                    self._pending = kept
                continue
            self._pending.popleft()
            self._workers[conn] = job
            self._spawner.set_limit(self.jobs - self._busy_workers)  # before any later command
            try:
                conn.send(job.task)
            except OSError:
                self._lost(conn)
        if self._spawner.urgent or len(self._sent) <= self.jobs:
            self._spawner.flush()
        # else the spawner has more commands than slots (or had, if some ended unreported):
        # these go with the next poll or wait, several in one write (and one wake-up of the
        # spawner) instead of one each; the run loop always polls or waits next.

    def _send_command(self, job: _Job, command: Command) -> None:
        self._start_spawner()
        self._sent[self._spawner.run(command, job.task.lane)] = job

    def _start_spawner(self) -> None:
        if not self._spawner.started:
            self._spawner.start(self.jobs - self._busy_workers)
            for lane, state in self._lanes.known.items():  # a new spawner knows none
                self._spawner.set_lane(lane, state)
            self._selector.register(self._spawner, selectors.EVENT_READ, self._spawner)

    # --- lanes -------------------------------------------------------------------------------

    def set_lane(self, lane: int, limit: int) -> None:
        state = self._lanes.open(lane, limit)
        if self._spawner.started:
            self._spawner.set_lane(lane, state)

    def resume_lane(self, lane: int, seen: int) -> None:
        """The loop has seen `seen` failed commands of the lane (futures marked
        `lane_failure`) and goes on: once that is all of them, the spawner starts its
        commands again."""
        state = self._lanes.resume(lane, seen)
        if state is not None:
            if self._spawner.started:
                self._spawner.set_lane(lane, state)
            self._fill()  # a worker task of the lane may go now

    def drop_lane(self, lane: int) -> None:
        self._lanes.dropped.add(lane)
        kept: deque[tuple[_Job, Command | None]] = deque()
        for queued in self._pending:
            if queued[0].task.lane == lane:
                queued[0].future.set_exception(CancelledError("stopped before it started"))
            else:
                kept.append(queued)
        self._pending = kept
        if self._spawner.started and any(j.task.lane == lane for j in self._sent.values()):
            self._spawner.drop(lane)
            self._spawner.flush()  # its answer comes as a report: those futures end cancelled

    def _lane_has_room(self, lane: int) -> bool:
        """Whether a worker task of `lane` may start: the lane is not paused by a failure the
        loop has not seen yet, and fewer of its tasks than its limit are sent on (queued in the
        spawner, or running). A lane's tasks go one way: all to the spawner, or (a step whose
        output is captured, say) all to workers, where the driver holds the lane itself."""
        state = self._lanes.known.get(lane)
        if state is None:
            return True
        busy = (sum(job.task.lane == lane for job in self._sent.values())
                + sum(job is not None and job.task.lane == lane
                      for job in self._workers.values()))
        return not state.paused and busy < state.limit



    # --- the event loop ----------------------------------------------------------------------

    def _pump(self, timeout: float | None) -> None:
        """One round: wait for the spawner's reports and the workers' answers, handle them."""
        self._spawner.flush()  # commands held back by _fill
        if not self._selector.get_map():
            time.sleep(timeout if timeout is not None else 0.05)
            return
        for key, _ in self._selector.select(timeout):
            if key.data is self._spawner:
                self._reported()
            else:
                self._answered(key.fileobj)  # type: ignore[arg-type]

    def _reported(self) -> None:
        finished = self._spawner.receive()
        if finished is None:  # the spawner died: what it had is lost
            self._selector.unregister(self._spawner)
            # Its commands outlive it (sessions of their own): stop them before their nodes
            # fail, so a retry never races the old attempt. Looked up before it is reaped, so
            # its pid cannot meanwhile be another spawner's.
            orphans = groups_with(spawner.MARKER, str(self._spawner.pid))
            self._spawner.close()
            stop_groups(orphans)
            lost, self._sent = list(self._sent.values()), {}
            for job in lost:
                # A lane's command may not have started yet (items wait there ahead of their
                # loop's window): cancelled, its loop puts the item back (`loops/items.py`).
                job.future.set_exception(
                    CancelledError(LOST_MESSAGE) if job.task.lane
                    else RuntimeError(LOST_MESSAGE))
            self._fill()
            return
        jobs = [(self._sent.pop(f.tag), f) for f in finished]
        self._fill()  # keep the slots busy first
        for job, report in jobs:
            if report.dropped:
                job.future.set_exception(CancelledError("stopped before it started"))
                continue
            op = OPS[job.task.kind]
            assert op.settle is not None
            with contextlib.suppress(OSError):  # it wrote straight to its log, unmasked
                scrub_log(job.task.log_path)
            with contextlib.suppress(OSError):  # ... and uncapped (a silent one wrote none)
                compact_log(Path(job.task.log_path), 0)
            try:
                result = op.settle(job.task, report.result, report.started_at)
            except Exception as exc:  # a bug in the op: a failed node, never a hung run
                result = NodeResult(ok=False, message=job.task.masker.mask(
                    f"internal error: {exc!r}"))
            # The spawner paused its lane on this failure: the loop answers once it saw it.
            self._lane_failure(job, report.result is not None and report.result.exit_code != 0)
            job.future.set_result(result)

    def _lane_failure(self, job: _Job, failed: bool) -> None:
        """Mark a failed task of a lane: the lane waits (in the spawner, or here for worker
        tasks) until the loop has seen the failure (`resume_lane`)."""
        if job.task.lane and failed:
            job.future.lane_failure = True
            self._lanes.failure(job.task.lane)

    def _answered(self, conn: Connection) -> None:
        if conn not in self._workers:
            return  # dropped earlier in this round (a sibling died): a stale selector key
        try:
            result = conn.recv()
        except (EOFError, OSError):
            self._lost(conn)
            return
        job, self._workers[conn] = self._workers[conn], None  # idle again
        if job is not None:  # before the slot refills: a failure holds its lane at once
            self._lane_failure(job, not result.ok)
        if conn in self._doomed:  # its pool lost a worker: loky is stopping the rest of it
            self._drop(conn)
        self._workers_changed()
        if job is not None:
            job.future.set_result(result)

    @property
    def _busy_workers(self) -> int:
        return sum(job is not None for job in self._workers.values())

    def _workers_changed(self) -> None:
        self._spawner.set_limit(self.jobs - self._busy_workers)
        self._fill()

    def _lost(self, conn: Connection) -> None:
        """A worker died (killed, out of memory): its task fails. loky then stops the rest of
        that pool, so its idle workers are dropped at once (a task sent to one would die with
        it) and its busy ones as they go; a worker task still queued waits for a new pool."""
        self._drop(conn)
        for other, job in list(self._workers.items()):
            if job is None:
                self._drop(other)
            else:
                self._doomed.add(other)  # its answer may still come: then it goes too
        self._workers_changed()

    def _drop(self, conn: Connection) -> None:
        self._doomed.discard(conn)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(conn)
        job = self._workers.pop(conn, None)
        with contextlib.suppress(OSError):
            conn.close()
        if job is not None and not job.future.done():
            self._lane_failure(job, True)
            job.future.set_exception(RuntimeError("the pool worker running it died"))

    # --- the pool ----------------------------------------------------------------------------

    def _start_pool(self) -> None:
        """Start loky's pool and its serve loops. A pool whose worker was killed is flagged
        broken by loky a moment later; if it refuses the serve loops or they die on it, the
        second attempt asks loky for a fresh one."""
        import loky

        errors: list[str] = []
        for reuse in ("auto", False):
            try:
                pool = loky.get_reusable_executor(max_workers=self.jobs, timeout=60,
                                                  reuse=reuse, initializer=_init_worker,
                                                  initargs=(os.getpid(),))
            except (OSError, RuntimeError) as exc:
                # Resizing a reused pool that lost a worker can fail inside loky (a closed
                # pipe, a broken pool): the second attempt starts a fresh one.
                errors.append(repr(exc))
                continue
            conns = _connect(pool, self.jobs, errors)
            if conns is not None:
                self._workers = dict.fromkeys(conns)
                for conn in conns:
                    self._selector.register(conn, selectors.EVENT_READ, conn)
                return
        raise ExecutorUnavailable("the local process pool did not start"
                              + (f": {errors[-1]}" if errors else ""))


def _connect(pool: Any, jobs: int, errors: list[str]) -> list[Connection] | None:
    folder = tempfile.mkdtemp(prefix="prodigy-pool-")
    address = os.path.join(folder, "socket")
    authkey = secrets.token_bytes(32)
    listener = Listener(address, family="AF_UNIX", authkey=authkey)
    try:
        serving = [pool.submit(serve, address, authkey) for _ in range(jobs)]
    except RuntimeError as exc:
        # loky can flag the pool it just handed out broken (a worker killed a moment ago:
        # TerminatedWorkerError) or shut down; the caller then asks for a fresh pool.
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)
        errors.append(repr(exc))
        return None
    accepted: list[Connection] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while len(accepted) < jobs:
                accepted.append(listener.accept())

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    # A serve loop that ends before connecting means the pool is unusable: stop waiting.
    while thread.is_alive() and time.monotonic() < deadline:
        if any(f.done() for f in serving):
            break
        thread.join(0.05)
    listener.close()  # unblocks accept() if a worker never came
    shutil.rmtree(folder, ignore_errors=True)
    if len(accepted) == jobs:
        return accepted
    errors += [repr(f.exception()) for f in serving if f.done() and f.exception()]
    for conn in accepted:
        conn.close()
    return None


def _init_worker(driver: int) -> None:
    """In each pool worker: Ctrl-C is the driver's business, and a worker whose driver died
    (SIGKILL, OOM) stops its command and exits instead of living on as an orphan."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_driver, args=(driver,), daemon=True).start()


def _watch_driver(driver: int) -> None:
    while os.getppid() == driver:
        time.sleep(0.5)
    kill_running()
    os._exit(1)


def serve(address: str, authkey: bytes) -> None:
    """A pool worker's loop: run each task the driver sends, answer with its result."""
    conn = Client(address, family="AF_UNIX", authkey=authkey)
    try:
        while (task := conn.recv()) is not None:
            conn.send(run_task(task))
    except (EOFError, OSError):
        return  # the driver is gone
    finally:
        conn.close()
