"""The `dask` executor: each task runs on a Dask distributed cluster.

Tasks go through `Client.get_executor(pure=False, retries=0)` (pure=False: Dask would
otherwise dedupe two identical shell calls into one run; retries=0: retrying is the driver's
job). The cluster is a local one of `jobs` worker processes, or the scheduler at `address`,
whose workers must see the same paths; it is reached on the first task. Needs the
`prodigy-workflows[dask]` extra: `distributed` is imported when the executor is made, so
this module itself imports without it.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from prodigy.runtime.errors import ExecutorUnavailable
from prodigy.runtime.executors.base import FuturesDriveThemselves, run_task
from prodigy.runtime.ops import NodeResult, Task


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
