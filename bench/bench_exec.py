"""Exec benchmark: N trivial shell nodes (`true`) with --jobs 2 and checkpoints on.

Compares, in the same run and on the same machine:
  limit     a plain Python loop keeping 2 `sh -c true` processes in flight with
            `subprocess.Popen`, no bookkeeping
  spawn     the same with `os.posix_spawn` (what prodigy's local executor uses for a shell
            node): the stricter physical limit of this box for this workload
  files     creating N log files (one short line each) in a fresh directory next to the
            state dir: the filesystem's share of one log per node, which neither limit pays
  xargs     `xargs -P2 -n1 sh -c true`
  parallel  GNU parallel -j2 (smaller sizes only: it needs ~5 ms per job)
  prodigy   `prodigy exec plan.json --jobs 2` (local executor: loky pool), fresh state dir:
            'run' is the run loop (run_started -> run_finished, from the run record), 'cli'
            the whole process (interpreter start, plan validation, run, exit)
and a no-op `prodigy resume` of the finished largest run (every node reused).

A second table gives the CPU time each contender used a node (user + system, the measuring
process and every process it waited for: the shells, xargs, prodigy's driver and spawner).
With both cores saturated by the shells, wall time follows total CPU, so this is what an
orchestrator has to beat: `prodigy - spawn loop` is prodigy's own cost a node above the bare
posix_spawn loop, `xargs - spawn loop` what xargs (fork + exec) costs above that loop.

Each figure is the best of --repeat runs, measurements interleaved so a noisy neighbour hurts
all of them alike. Usage:

    python bench/bench_exec.py [--sizes 2000 10000] [--repeat 3] [--write]

--write replaces the figures of the `## Exec` section of bench/RESULTS.md (the notes under
them and the other sections are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from prodigy.runtime.nodes import params_from_json
from prodigy.runtime.plan import Plan, PlanNode, fingerprint

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
META = {"name": "bench-exec", "mode": "standard", "source": "bench", "source_sha256": "0" * 64,
        "env": {}, "secrets": {}, "env_files": [], "profiles": {}, "profile": None, "args": {}}


def cpu_seconds() -> float:
    """CPU used so far by this process and every child it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def write_plan(path: Path, count: int) -> None:
    """The plan as `prodigy compile` would write it (only non-default params)."""
    params = params_from_json("shell", {"command": "true"})
    digest = fingerprint(params)
    nodes = [PlanNode(f"n{i}", params, "main", f"true #{i}", None, digest) for i in range(count)]
    path.write_text(Plan(META, nodes, ()).dumps())


def physical_limit(count: int) -> float:
    """2 `sh -c true` in flight from one Python process; nothing else."""
    started = time.perf_counter()
    running: dict[int, subprocess.Popen[bytes]] = {}

    def reap() -> None:
        pid, status = os.waitpid(-1, 0)
        # Tell the Popen it is reaped, or its finaliser would wait for it again.
        code = running.pop(pid).returncode = os.waitstatus_to_exitcode(status)
        if code != 0:  # the baseline must do the work it is timed for
            raise SystemExit(f"limit loop: `sh -c true` exited {code}")

    for _ in range(count):
        if len(running) >= 2:
            reap()
        proc = subprocess.Popen(["sh", "-c", "true"])
        running[proc.pid] = proc
    while running:
        reap()
    return time.perf_counter() - started


def spawn_limit(count: int) -> float:
    """2 `sh -c true` in flight with os.posix_spawn, reaped with os.wait; nothing else."""
    shell = shutil.which("sh") or "/bin/sh"
    env = dict(os.environ)
    started = time.perf_counter()
    running = 0
    for _ in range(count):
        if running >= 2:
            os.wait()
            running -= 1
        os.posix_spawn(shell, ["sh", "-c", "true"], env)
        running += 1
    while running:
        os.wait()
        running -= 1
    return time.perf_counter() - started


def create_files(count: int, work: Path) -> float:
    folder = Path(tempfile.mkdtemp(dir=work, prefix="files-"))
    started = time.perf_counter()
    for i in range(count):
        with (folder / f"n{i}.log").open("ab") as handle:
            handle.write(b"$ true\n")
    elapsed = time.perf_counter() - started
    shutil.rmtree(folder)
    return elapsed


def shell_tool(command: str, count: int) -> float:
    started = time.perf_counter()
    subprocess.run(["sh", "-c", f"seq {count} | {command}"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def prodigy(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    # Bytecode cached as in an installed package: a PYTHONDONTWRITEBYTECODE inherited from a
    # sandbox would recompile every module changed since the last commit on every start.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run([sys.executable, "-m", "prodigy", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"prodigy {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - started


def run_seconds(state: Path, run_id: str) -> float:
    record = json.loads((state / "runs" / run_id / "run.json").read_text())
    return float(record["finished_at"] - record["created_at"])


def measure(count: int, repeat: int, work: Path) -> dict[str, float]:
    plan = work / f"plan{count}.json"
    write_plan(plan, count)
    best: dict[str, float] = {}

    def keep(name: str, value: float) -> None:
        best[name] = min(best.get(name, float("inf")), value)

    def timed(name: str, wall: Callable[[], float]) -> None:
        before = cpu_seconds()
        keep(name, wall())
        keep(f"{name}_cpu", cpu_seconds() - before)

    for attempt in range(repeat):
        timed("limit", lambda: physical_limit(count))
        timed("spawn", lambda: spawn_limit(count))
        keep("files", create_files(count, work))
        timed("xargs", lambda: shell_tool("xargs -P2 -n1 sh -c true", count))
        if count <= 2000 and shutil.which("parallel"):
            keep("parallel", shell_tool("parallel -j2 sh -c true", count))
        state = work / f"state{count}-{attempt}"
        run_args = ["exec", str(plan), "--jobs", "2", "--state-dir", str(state), "--run-id",
                    "bench"]
        timed("cli", lambda: prodigy(run_args, work))  # noqa: B023 (called right here)
        keep("run", run_seconds(state, "bench"))
        keep("resume", prodigy(["resume", "bench", "--state-dir", str(state)], work))
        shutil.rmtree(state)
    return best


def section(results: dict[int, dict[str, float]], command: str) -> str:
    lines = ["## Exec", "",
             f"`{command}` on {platform.machine()}, {os.cpu_count()} CPUs, Python "
             f"{platform.python_version()}; best of the repeats, seconds.", "",
             "| nodes | limit: Popen | limit: posix_spawn | creating the log files | xargs -P2 "
             "| GNU parallel -j2 | prodigy run loop | run / posix_spawn limit | run / Popen limit "
             "| prodigy exec (whole CLI) | no-op resume (whole CLI) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for count, r in sorted(results.items()):
        par = f"{r['parallel']:.2f}" if "parallel" in r else "-"
        lines.append(f"| {count:,} | {r['limit']:.2f} | {r['spawn']:.2f} | {r['files']:.2f} | "
                     f"{r['xargs']:.2f} | {par} | {r['run']:.2f} | "
                     f"{r['run'] / r['spawn']:.2f}x | {r['run'] / r['limit']:.2f}x | "
                     f"{r['cli']:.2f} | {r['resume']:.2f} |")
    lines += ["", "CPU a node, microseconds (user + system of all processes; best of the "
              "repeats):", "", "| nodes | Popen loop | posix_spawn loop | xargs -P2 "
              "| prodigy exec (whole CLI) | xargs - spawn loop | prodigy - spawn loop |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for count, r in sorted(results.items()):
        each = {name: r[f"{name}_cpu"] / count * 1e6
                for name in ("limit", "spawn", "xargs", "cli")}
        lines.append(f"| {count:,} | {each['limit']:.0f} | {each['spawn']:.0f} | "
                     f"{each['xargs']:.0f} | {each['cli']:.0f} | "
                     f"{each['xargs'] - each['spawn']:.0f} | {each['cli'] - each['spawn']:.0f} |")
    return "\n".join(lines) + "\n"


def write_results(text: str) -> None:
    """Replace the figures at the top of our section of RESULTS.md (heading through the
    table); the notes written under them by hand and every other section stay."""
    lines = RESULTS.read_text().splitlines(keepends=True) if RESULTS.exists() else []
    start = next((i for i, line in enumerate(lines) if line.strip() == "## Exec"), None)
    if start is None:
        RESULTS.write_text("".join(lines).rstrip("\n") + "\n\n" + text)
        return
    end = start + 1
    while end < len(lines) and not lines[end].startswith("|"):
        end += 1  # the table starts after the heading and the command line
    # The wall-time table, then the CPU one with its heading line and the blank lines around.
    while end < len(lines) and (lines[end].startswith(("|", "CPU a node"))
                                or (not lines[end].strip() and end + 1 < len(lines)
                                    and lines[end + 1].startswith(("|", "CPU a node")))):
        end += 1
    RESULTS.write_text("".join(lines[:start]) + text + "".join(lines[end:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    command = "python bench/bench_exec.py " + " ".join(
        ["--sizes", *map(str, args.sizes), "--repeat", str(args.repeat)])
    with tempfile.TemporaryDirectory(prefix="prodigy-bench-") as tmp:
        results = {count: measure(count, args.repeat, Path(tmp)) for count in args.sizes}
    text = section(results, command)
    print(text)
    if args.write:
        write_results(text)


if __name__ == "__main__":
    main()
