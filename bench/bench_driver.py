"""Driver probe: the run loop's own CPU a node, with no command run at all.

`prodigy exec` of N `true` nodes through the real CLI entry point, run loop, checkpoint store
and event log, but with an executor that settles each shell task the moment it is submitted,
as the spawner reports a silent success. What is left is the driver's bookkeeping a node
(prepare, key, two events, the done record, scheduling), measured as this process's CPU
time, which the noise of a shared 2-core box moves far less than wall time. The exec bench
(`bench_exec.py`) measures the real thing. Use this one to compare driver changes. Usage:

    python bench/bench_driver.py [--nodes 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_exec

from prodigy.cli.main import main as cli_main
from prodigy.runtime import run as run_module
from prodigy.runtime.executors.process import ProcessResult
from prodigy.runtime.ops import OPS, NodeResult, Task


class Settled:
    """A future that is done when it is made."""

    __slots__ = ("_result",)

    def __init__(self, result: NodeResult) -> None:
        self._result = result

    def done(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return False

    def cancel(self) -> bool:
        return False

    def result(self, timeout: float | None = None) -> NodeResult:
        return self._result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        return None


class InstantExecutor:
    """Settles a shell task at once, the way the local executor settles a command the
    spawner reports: the op's own `command` and `settle` run, nothing else does."""

    name = "instant"
    capacity = 32  # as the local executor's for --jobs 2

    def submit(self, task: Task) -> Settled:
        op = OPS[task.kind]
        assert op.command is not None and op.settle is not None
        op.command(task)
        report = ProcessResult(0, False, "", "", "", 0.001)
        return Settled(op.settle(task, report, time.time()))

    def wait(self, futures: Any, timeout: float | None = None) -> set[Settled]:
        return set(futures)

    def warm_up(self, kinds: Any) -> None:
        return None

    def poll(self) -> None:
        return None

    def stop_queued(self) -> None:
        return None

    def shutdown(self, *, cancel: bool = False) -> None:
        return None


def driver_seconds(plan: Path, state: Path) -> float:
    """CPU seconds of one `prodigy exec` of `plan` in this process."""
    shutil.rmtree(state, ignore_errors=True)
    started = time.process_time()
    try:  # main returns the exit code; a failed run would time less work than it claims
        code = cli_main(["exec", str(plan), "--jobs", "2", "--state-dir", str(state),
                         "--run-id", "b"])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    if code != 0:
        raise SystemExit(f"prodigy exec {plan} failed with exit {code}")
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    run_module.make_executor = lambda *_, **__: InstantExecutor()  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="prodigy-driver-") as tmp:
        work = Path(tmp)
        small, large = work / "small.json", work / "large.json"
        bench_exec.write_plan(small, 10)
        bench_exec.write_plan(large, args.nodes)
        driver_seconds(small, work / "warm")  # imports, bytecode: not part of a node's cost
        fixed = min(driver_seconds(small, work / "s") for _ in range(args.repeat))
        total = min(driver_seconds(large, work / "l") for _ in range(args.repeat))
    each = (total - fixed) / (args.nodes - 10) * 1e6
    print(f"driver CPU, best of {args.repeat}: {args.nodes:,} nodes {total:.3f} s, 10 nodes "
          f"{fixed:.3f} s: {each:.1f} us a node", file=sys.stderr)


if __name__ == "__main__":
    main()
