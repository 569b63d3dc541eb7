"""Executors: where a node's op runs. concurrent.futures-shaped; no scheduling, no retries.

`submit(task)` returns a `TaskFuture` (a `concurrent.futures.Future` has its shape; `local`
hands out a lighter one); `wait(futures, timeout)`
blocks until one is done (the `local` executor has no thread: waiting drives it) and `poll()`
makes progress without blocking; `capacity` says how many tasks the run loop keeps submitted
at once; `stop_queued()` makes tasks not started yet never start (Ctrl-C); `shutdown()` ends
the run's use of it. The driver owns ordering, retries, timeouts (it puts the deadline in the
task; the op or the executor enforces it where the process is) and checkpoints,
so a backend only has to run `run_task` somewhere and hand back plain data:

- `inline`: in the driver's own thread, one at a time; for debugging and tests.
- `local` (default, `pool.py`): `jobs` slots. A node that is one plain process (a shell step
  whose output goes straight to its log) is started by the driver itself (`spawn.py`); any
  other node runs in loky's reusable process pool, on a worker fed over a Unix socket.
- `dask`: a Dask distributed cluster through `Client.get_executor(pure=False, retries=0)`
  (pure=False: Dask would otherwise dedupe two identical shell calls into one run; retries=0:
  retrying is the driver's job). Needs the `prodigy-workflows[dask]` extra.
"""

from __future__ import annotations

import traceback
from collections.abc import Collection, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any, Protocol

from prodigy.runtime.errors import ExecutorUnavailable
from prodigy.runtime.ops import OPS, NodeResult, Task

EXECUTORS = ("local", "inline", "dask")


class TaskFuture(Protocol):
    """What the run loop asks of a submitted task: `concurrent.futures.Future`'s reading side
    and `cancel`."""

    def done(self) -> bool: ...

    def cancelled(self) -> bool: ...

    def cancel(self) -> bool: ...

    def result(self, timeout: float | None = None) -> NodeResult: ...

    def exception(self, timeout: float | None = None) -> BaseException | None: ...


class Executor(Protocol):
    name: str
    capacity: int

    def submit(self, task: Task) -> TaskFuture: ...

    def wait(self, futures: Iterable[TaskFuture],
             timeout: float | None = None) -> set[TaskFuture]:
        """Block until one of `futures` is done or `timeout` passes; the done ones."""
        ...

    def warm_up(self, kinds: Collection[str]) -> None:
        """Start now what running tasks of these kinds will need (a helper process), so it
        boots while the run gets ready instead of delaying the first task."""
        ...

    def poll(self) -> None:
        """Make progress without blocking (start queued tasks whose slot freed). The run loop
        calls it between pieces of its own work; a no-op for executors with threads."""
        ...

    def stop_queued(self) -> None: ...

    def shutdown(self, *, cancel: bool = False) -> None: ...


class FuturesDriveThemselves:
    """`wait` and `poll` for executors whose futures complete on threads of their own
    (inline: already done when submitted; Dask: its client's threads), unlike `local`'s,
    which the run loop drives."""

    def wait(self, futures: Iterable[TaskFuture],
             timeout: float | None = None) -> set[TaskFuture]:
        # Only these executors' own futures come back here: concurrent.futures ones.
        done, _ = wait(list(futures), timeout=timeout,  # type: ignore[arg-type]
                       return_when=FIRST_COMPLETED)
        return set(done)

    def warm_up(self, kinds: Collection[str]) -> None:
        return None

    def poll(self) -> None:
        return None


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


class InlineExecutor(FuturesDriveThemselves):
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


class DaskExecutor(FuturesDriveThemselves):
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


__all__ = ["EXECUTORS", "Executor", "ExecutorUnavailable", "TaskFuture", "make_executor",
           "run_task"]


def make_executor(name: str, jobs: int, dask_scheduler: str | None = None) -> Executor:
    if name == "inline":
        return InlineExecutor()
    if name == "local":
        from prodigy.runtime.pool import LocalExecutor

        return LocalExecutor(jobs)
    if name == "dask":
        return DaskExecutor(jobs, dask_scheduler)
    raise ExecutorUnavailable(f"unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")
