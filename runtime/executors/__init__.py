"""Executors: where a node's op runs. concurrent.futures-shaped; no scheduling, no retries.

`submit(task)` returns a `TaskFuture` (a `concurrent.futures.Future` has its shape; `local`
hands out a lighter one); `wait(futures, timeout)`
blocks until one is done (the `local` executor has no thread: waiting drives it) and `poll()`
makes progress without blocking; `capacity` says how many tasks the run loop keeps submitted
at once; `stop_queued()` makes tasks not started yet never start (Ctrl-C); `shutdown()` ends
the run's use of it. The driver owns ordering, retries, timeouts (it puts the deadline in the
task; the op or the executor enforces it where the process is) and checkpoints,
so a backend only has to run `run_task` somewhere and hand back plain data
(`base.py`: the protocols and `run_task`; `factory.py`: `make_executor`):

- `inline` (`inline.py`): in the driver's own thread, one at a time; for debugging and tests.
- `local` (default, `pool.py`): `jobs` slots. A node that is one plain process (a shell step
  whose output goes straight to its log) is sent to the spawner, a small helper process that
  starts it (`spawn.py` is the driver's end, `spawner.py` the helper); any other node runs in
  loky's reusable process pool, on a worker fed over a Unix socket. `process.py` runs a
  command in its own process group, logged and timed (the ops' `run_command`), and finds and
  stops the groups of a run's commands (Ctrl-C, a dead spawner or pool worker).
- `dask` (`dask.py`): a Dask distributed cluster. Needs the `prodigy-workflows[dask]` extra.

The names below are loaded on first use, not when the package is imported: the spawner runs
as `python -m prodigy.runtime.executors.spawner`, which imports this package first and must
start with nothing but the standard library loaded; and the ops import `process.py`, which
must not pull in `base.py` (it imports the ops).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prodigy.runtime.errors import ExecutorUnavailable
    from prodigy.runtime.executors.base import EXECUTORS, Executor, TaskFuture, run_task
    from prodigy.runtime.executors.factory import make_executor

__all__ = ["EXECUTORS", "Executor", "ExecutorUnavailable", "TaskFuture", "make_executor",
           "run_task"]

# exported name -> the module that defines it
_HOMES = {"EXECUTORS": "prodigy.runtime.executors.base",
          "Executor": "prodigy.runtime.executors.base",
          "ExecutorUnavailable": "prodigy.runtime.errors",
          "TaskFuture": "prodigy.runtime.executors.base",
          "run_task": "prodigy.runtime.executors.base",
          "make_executor": "prodigy.runtime.executors.factory"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # looked up once
    return value
