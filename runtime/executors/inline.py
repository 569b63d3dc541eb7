"""The `inline` executor: each task runs in the driver's own thread, one at a time, when it
is submitted. For debugging and tests."""

from __future__ import annotations

from concurrent.futures import Future

from prodigy.runtime.executors.base import FuturesDriveThemselves, run_task
from prodigy.runtime.ops import NodeResult, Task


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
