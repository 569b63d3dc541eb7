"""`make_executor`: the executor a run asked for (`--executor`), by name."""

from __future__ import annotations

from prodigy.runtime.errors import ExecutorUnavailable
from prodigy.runtime.executors.base import EXECUTORS, Executor
from prodigy.runtime.executors.dask import DaskExecutor
from prodigy.runtime.executors.inline import InlineExecutor
from prodigy.runtime.executors.pool import LocalExecutor


def make_executor(name: str, jobs: int, dask_scheduler: str | None = None) -> Executor:
    if name == "inline":
        return InlineExecutor()
    if name == "local":
        return LocalExecutor(jobs)
    if name == "dask":
        return DaskExecutor(jobs, dask_scheduler)
    raise ExecutorUnavailable(f"unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")
