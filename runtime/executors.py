"""Executors: where a node's op runs. concurrent.futures-shaped; no scheduling, no retries.

`submit(task)` returns a `concurrent.futures.Future[NodeResult]`; `capacity` says how many tasks
the run loop keeps submitted at once; `stop_queued()` makes tasks not started yet never start
(Ctrl-C); `shutdown()` ends the run's use of it. The driver owns ordering, retries, timeouts
(it puts the deadline in the task; the op enforces it where the process is) and checkpoints,
so a backend only has to run `run_task` somewhere and hand back plain data:

- `inline`: in the driver's own thread, one at a time; for debugging and tests.
- `local` (default): loky's reusable process pool with `jobs` workers, each running a `serve`
  loop fed over a Unix socket (see LocalExecutor). Workers ignore SIGINT so Ctrl-C reaches
  only the driver, which then stops the commands' process groups itself; a worker whose
  driver died stops its command and exits.
- `dask`: a Dask distributed cluster through `Client.get_executor(pure=False, retries=0)`
  (pure=False: Dask would otherwise dedupe two identical shell calls into one run; retries=0:
  retrying is the driver's job). Needs the `prodigy-workflows[dask]` extra.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
import traceback
from collections import deque
from concurrent.futures import CancelledError, Future
from multiprocessing.connection import Client, Connection, Listener, wait
from pathlib import Path
from typing import Any, Protocol, cast

from prodigy.runtime.errors import ProdigyError
from prodigy.runtime.ops import OPS, NodeResult, Task
from prodigy.runtime.process import kill_running

EXECUTORS = ("local", "inline", "dask")
START_TIMEOUT_S = 60.0


class ExecutorUnavailable(ProdigyError):
    """The requested executor cannot be used here (missing extra, bad scheduler address)."""


class Executor(Protocol):
    name: str
    capacity: int

    def submit(self, task: Task) -> Future[NodeResult]: ...

    def stop_queued(self) -> None: ...

    def shutdown(self, *, cancel: bool = False) -> None: ...


def run_task(task: Task) -> NodeResult:
    """Run one node's op. Top-level and importable, so every backend can pickle it by name.

    A crash inside an op (a bug, not a failed command) still comes back as a failed result
    with the traceback in the node's log, so one broken node cannot take the run loop down.
    """
    try:
        return OPS[task.kind].run(task)
    except Exception as exc:
        text = traceback.format_exc()
        try:
            with Path(task.log_path).open("a", encoding="utf-8") as log:
                log.write(task.masker.mask(f"\nprodigy: internal error in the {task.kind} op "
                                           f"(this is a bug)\n{text}"))
        except OSError:
            pass
        return NodeResult(ok=False, message=task.masker.mask(f"internal error: {exc!r}"),
                          output=task.masker.mask(text[-4000:]))


class InlineExecutor:
    name = "inline"

    def __init__(self) -> None:
        self.capacity = 1

    def submit(self, task: Task) -> Future[NodeResult]:
        future: Future[NodeResult] = Future()
        future.set_running_or_notify_cancel()
        future.set_result(run_task(task))
        return future

    def stop_queued(self) -> None:
        return None

    def shutdown(self, *, cancel: bool = False) -> None:
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


class LocalExecutor:
    """loky's reusable process pool, with one long-lived `serve` loop per worker.

    Submitting every node to loky as its own task costs a few hundred microseconds of queue
    and thread hand-offs per node, more than a trivial shell command itself. So each worker
    runs a single loky task, `serve`, which connects back over a Unix socket and runs the
    tasks it is sent, one at a time. Tasks wait here, in the driver, until a worker is free;
    the reader thread hands the next one to a worker the moment that worker reports a result,
    so a worker barely idles, and a short task never waits behind a long one on a busy worker.
    """

    name = "local"

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        # What the run loop keeps submitted: `jobs` running, the rest queued here, so workers
        # are refilled at once and the loop can commit several results in one transaction.
        self.capacity = 4 * jobs
        self._lock = threading.Lock()
        self._busy: dict[Connection, Future[NodeResult] | None] = {}  # None: idle worker
        self._pending: deque[tuple[Future[NodeResult], Task]] = deque()
        self._reader: threading.Thread | None = None

    def _start(self) -> None:
        """Start the pool and its serve loops; on the first submit (a no-op resume has none).

        A pool whose worker was killed is flagged broken by loky a moment later; if the serve
        loops die on such a pool, the second attempt asks loky for a fresh one.
        """
        import loky

        errors: list[str] = []
        for reuse in ("auto", False):
            pool = loky.get_reusable_executor(max_workers=self.jobs, timeout=60, reuse=reuse,
                                              initializer=_init_worker,
                                              initargs=(os.getpid(),))
            conns = self._connect(pool, errors)
            if conns is not None:
                with self._lock:
                    self._busy = dict.fromkeys(conns)
                self._reader = threading.Thread(target=self._read, daemon=True,
                                                name="prodigy-results")
                self._reader.start()
                return
        raise ExecutorUnavailable("the local process pool did not start"
                                  + (f": {errors[-1]}" if errors else ""))

    def _connect(self, pool: Any, errors: list[str]) -> list[Connection] | None:
        folder = tempfile.mkdtemp(prefix="prodigy-pool-")
        address = os.path.join(folder, "socket")
        authkey = secrets.token_bytes(32)
        listener = Listener(address, family="AF_UNIX", authkey=authkey)
        serving = [pool.submit(serve, address, authkey) for _ in range(self.jobs)]
        accepted: list[Connection] = []

        def accept() -> None:
            with contextlib.suppress(OSError):
                while len(accepted) < self.jobs:
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
        if len(accepted) == self.jobs:
            return accepted
        errors += [repr(f.exception()) for f in serving if f.done() and f.exception()]
        for conn in accepted:
            conn.close()
        return None

    def submit(self, task: Task) -> Future[NodeResult]:
        future: Future[NodeResult] = Future()
        future.set_running_or_notify_cancel()  # cancelling goes through stop_queued()
        if not self._busy:
            self._start()  # first use, or every worker died: a fresh pool
        with self._lock:
            idle = next((c for c, f in self._busy.items() if f is None), None)
            if idle is None:
                self._pending.append((future, task))
                return future
            self._busy[idle] = future
        self._send(idle, future, task)
        return future

    def stop_queued(self) -> None:
        """Tasks no worker has started yet never start (interrupt)."""
        with self._lock:
            dropped = list(self._pending)
            self._pending.clear()
        for future, _ in dropped:
            future.set_exception(CancelledError("stopped before it started"))

    def shutdown(self, *, cancel: bool = False) -> None:
        # The loky pool itself stays warm for the next run in this process.
        self.stop_queued()
        with self._lock:
            live, self._busy = list(self._busy), {}
        for conn in live:
            with contextlib.suppress(OSError):
                conn.send(None)
                conn.close()
        if self._reader is not None:
            self._reader.join(5)

    def _send(self, conn: Connection, future: Future[NodeResult], task: Task) -> None:
        try:
            conn.send(task)
        except OSError:
            self._lost(conn)

    def _read(self) -> None:
        while True:
            with self._lock:
                live = list(self._busy)
            if not live:
                return
            for ready in wait(live, timeout=0.5):
                conn = cast(Connection, ready)
                try:
                    result = conn.recv()
                except (EOFError, OSError):
                    self._lost(conn)
                    continue
                with self._lock:
                    future = self._busy.get(conn)
                    following = self._pending.popleft() if self._pending else None
                    if conn in self._busy:
                        self._busy[conn] = following[0] if following else None
                if following is not None:
                    self._send(conn, *following)  # keep the worker busy first
                if future is not None:
                    future.set_result(result)

    def _lost(self, conn: Connection) -> None:
        """A worker died (killed, out of memory): its task fails. loky stops the whole pool
        when a worker dies, so the tasks waiting here fail too; the next submit starts anew."""
        with self._lock:
            failed = [self._busy.pop(conn, None)]
            if not self._busy:
                failed += [f for f, _ in self._pending]
                self._pending.clear()
        with contextlib.suppress(OSError):
            conn.close()
        for future in failed:
            if future is not None and not future.done():
                future.set_exception(RuntimeError("the pool worker running it died"))


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


class DaskExecutor:
    name = "dask"

    def __init__(self, jobs: int, address: str | None) -> None:
        try:
            import distributed
        except ImportError:
            raise ExecutorUnavailable(
                "--executor dask requires prodigy-workflows[dask] "
                "(pip install 'prodigy-workflows[dask]')") from None
        self._distributed = distributed
        self.jobs, self.address = jobs, address
        self.capacity = 2 * jobs
        self._client: Any = None
        self._cluster: Any = None
        self._pool: Any = None

    def _connect(self) -> None:
        try:
            if self.address:
                self._client = self._distributed.Client(self.address)
            else:
                self._cluster = self._distributed.LocalCluster(
                    n_workers=self.jobs, threads_per_worker=1, dashboard_address=":0")
                self._client = self._distributed.Client(self._cluster)
        except OSError as exc:
            raise ExecutorUnavailable(
                f"cannot reach the Dask scheduler {self.address}: {exc}") from None
        self._pool = self._client.get_executor(pure=False, retries=0)

    def submit(self, task: Task) -> Future[NodeResult]:
        if self._pool is None:
            self._connect()
        future: Future[NodeResult] = self._pool.submit(run_task, task)
        return future

    def stop_queued(self) -> None:
        return None  # the driver cancels the futures; Dask drops tasks that did not start

    def shutdown(self, *, cancel: bool = False) -> None:
        if self._pool is None:
            return
        self._pool.shutdown(wait=not cancel)
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(name: str, jobs: int, dask_scheduler: str | None = None) -> Executor:
    if name == "inline":
        return InlineExecutor()
    if name == "local":
        return LocalExecutor(jobs)
    if name == "dask":
        return DaskExecutor(jobs, dask_scheduler)
    raise ExecutorUnavailable(f"unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")
