"""What every executor is: the protocols the run loop talks to, and the task it runs.

`Executor` and `TaskFuture` are the shapes (concurrent.futures-like) every backend fills;
`run_task` is what a backend runs for a node, wherever it puts it; `FuturesDriveThemselves`
is the `wait`/`poll` half shared by the backends whose futures complete on threads of their
own (`inline.py`, `dask.py`). The backends and how to pick one: the package docstring.
"""

from __future__ import annotations

import traceback
from collections.abc import Collection, Iterable
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path
from typing import Protocol

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
    # Whether it holds a lane's limit itself where the limit costs nothing (`set_lane`): only
    # then does a loop send items ahead of its window.
    lanes: bool

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

    def set_lane(self, lane: int, limit: int) -> None:
        """Run at most `limit` tasks of `lane` (`Task.lane`) at once, however many it holds."""
        ...

    def drop_lane(self, lane: int) -> None:
        """Tasks of `lane` not started yet never start: their futures end cancelled."""
        ...

    def resume_lane(self, lane: int, seen: int) -> None:
        """A failed task of a lane pauses it (its future's `lane_failure` is set); the loop,
        having seen `seen` such futures, lets it go on."""
        ...

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

    lanes = False  # loops keep their items within their window here: no lane is ever set

    def warm_up(self, kinds: Collection[str]) -> None:
        return None

    def poll(self) -> None:
        return None

    def set_lane(self, lane: int, limit: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} keeps no lanes")

    def drop_lane(self, lane: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} keeps no lanes")

    def resume_lane(self, lane: int, seen: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} keeps no lanes")


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


__all__ = ["EXECUTORS", "Executor", "ExecutorUnavailable", "FuturesDriveThemselves",
           "TaskFuture", "run_task"]
