"""Executors: where a node's op runs. concurrent.futures-shaped; no scheduling, no retries.

`submit(task)` returns a `concurrent.futures.Future[NodeResult]`; `capacity` says how many tasks
the run loop keeps submitted at once. The driver owns ordering, retries, timeouts (it puts the
deadline in the task; the op enforces it where the process is) and checkpoints, so a backend
only has to run `run_task` somewhere and hand back plain data:

- `inline`: in the driver's own thread, one at a time; for debugging and tests.
- `local` (default): loky's reusable process pool with `jobs` workers. Workers ignore SIGINT so
  Ctrl-C reaches only the driver, which then stops the commands' process groups itself.
- `dask`: a Dask distributed cluster through `Client.get_executor(pure=False, retries=0)`
  (pure=False: Dask would otherwise dedupe two identical shell calls into one run; retries=0:
  retrying is the driver's job). Needs the `prodigy-workflows[dask]` extra.
"""

from __future__ import annotations

import signal
import traceback
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

from prodigy.runtime.errors import ProdigyError
from prodigy.runtime.ops import OPS, NodeResult, Task

EXECUTORS = ("local", "inline", "dask")


class ExecutorUnavailable(ProdigyError):
    """The requested executor cannot be used here (missing extra, bad scheduler address)."""


class Executor(Protocol):
    name: str
    capacity: int

    def submit(self, task: Task) -> Future[NodeResult]: ...

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

    def shutdown(self, *, cancel: bool = False) -> None:
        return None


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalExecutor:
    name = "local"

    def __init__(self, jobs: int) -> None:
        import loky

        self.jobs = jobs
        # Two tasks per worker: the next one is already in the worker's queue when the
        # current one ends, so a worker never idles waiting for the driver's round trip.
        # At most `jobs` run at once all the same.
        self.capacity = 2 * jobs
        self._loky = loky
        self._pool = self._make()

    def _make(self) -> Any:
        return self._loky.get_reusable_executor(max_workers=self.jobs, timeout=60,
                                                initializer=_ignore_sigint)

    def submit(self, task: Task) -> Future[NodeResult]:
        try:
            future: Future[NodeResult] = self._pool.submit(run_task, task)
        except Exception as exc:  # a broken pool (a worker was killed): start a new one once
            if "Broken" not in type(exc).__name__ and "Terminated" not in type(exc).__name__:
                raise
            self._pool = self._make()
            future = self._pool.submit(run_task, task)
        return future

    def shutdown(self, *, cancel: bool = False) -> None:
        # The reusable pool stays warm for the next run in this process; on interrupt the
        # commands are already stopped, and queued tasks are cancelled.
        if cancel:
            self._pool.shutdown(wait=True, kill_workers=True)


class DaskExecutor:
    name = "dask"

    def __init__(self, jobs: int, address: str | None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorUnavailable(
                "--executor dask requires prodigy-workflows[dask] "
                "(pip install 'prodigy-workflows[dask]')") from None
        try:
            if address:
                self._client = Client(address)
                self._cluster = None
            else:
                self._cluster = LocalCluster(n_workers=jobs, threads_per_worker=1,
                                             dashboard_address=":0")
                self._client = Client(self._cluster)
        except OSError as exc:
            raise ExecutorUnavailable(f"cannot reach the Dask scheduler {address}: {exc}") from None
        self.capacity = 2 * jobs
        self._pool = self._client.get_executor(pure=False, retries=0)

    def submit(self, task: Task) -> Future[NodeResult]:
        future: Future[NodeResult] = self._pool.submit(run_task, task)
        return future

    def shutdown(self, *, cancel: bool = False) -> None:
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
