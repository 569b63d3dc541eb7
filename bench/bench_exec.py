"""Exec benchmark: N trivial shell nodes (`true`) with --jobs 2 and checkpoints on.

Compares, in the same run and on the same machine:
  limit     a plain Python loop keeping 2 `sh -c true` processes in flight, no bookkeeping
            (the physical limit of this box for this workload)
  xargs     `xargs -P2 -n1 sh -c true`
  parallel  GNU parallel -j2 (smaller sizes only: it needs ~5 ms per job)
  prodigy   `prodigy exec plan.json --jobs 2` (local executor: loky pool), fresh state dir:
            'run' is the run loop (run_started -> run_finished, from the run record), 'cli'
            the whole process (interpreter start, plan validation, run, exit)
and a no-op `prodigy resume` of the finished largest run (every node reused).

Each figure is the best of --repeat runs, measurements interleaved so a noisy neighbour hurts
all of them alike. Usage:

    python bench/bench_exec.py [--sizes 2000 10000] [--repeat 3] [--write]

--write replaces the `## Exec` section of bench/RESULTS.md (other sections are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prodigy.runtime.nodes import params_from_json, params_to_json
from prodigy.runtime.plan import fingerprint

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
META = {"name": "bench-exec", "mode": "standard", "source": "bench", "source_sha256": "0" * 64,
        "env": {}, "secrets": {}, "env_files": [], "profiles": {}, "profile": None, "args": {}}


def write_plan(path: Path, count: int) -> None:
    params = params_from_json("shell", {"command": "true"})
    body = params_to_json(params)
    digest = fingerprint(params)
    nodes = [{"id": f"n{i}", "kind": "shell", "phase": "main", "label": f"true #{i}",
              "span": None, "fingerprint": digest, "params": body} for i in range(count)]
    path.write_text(json.dumps({"format_version": 1, "workflow": META, "nodes": nodes,
                                "edges": [], "subplans": {}}))


def physical_limit(count: int) -> float:
    """2 `sh -c true` in flight from one Python process; nothing else."""
    started = time.perf_counter()
    running: dict[int, subprocess.Popen[bytes]] = {}

    def reap() -> None:
        pid, status = os.waitpid(-1, 0)
        # Tell the Popen it is reaped, or its finaliser would wait for it again.
        running.pop(pid).returncode = os.waitstatus_to_exitcode(status)

    for _ in range(count):
        if len(running) >= 2:
            reap()
        proc = subprocess.Popen(["sh", "-c", "true"])
        running[proc.pid] = proc
    while running:
        reap()
    return time.perf_counter() - started


def shell_tool(command: str, count: int) -> float:
    started = time.perf_counter()
    subprocess.run(["sh", "-c", f"seq {count} | {command}"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def prodigy(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "prodigy", *args], cwd=cwd,
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

    for attempt in range(repeat):
        keep("limit", physical_limit(count))
        keep("xargs", shell_tool("xargs -P2 -n1 sh -c true", count))
        if count <= 2000 and shutil.which("parallel"):
            keep("parallel", shell_tool("parallel -j2 sh -c true", count))
        state = work / f"state{count}-{attempt}"
        keep("cli", prodigy(["exec", str(plan), "--jobs", "2", "--state-dir", str(state),
                             "--run-id", "bench"], work))
        keep("run", run_seconds(state, "bench"))
        keep("resume", prodigy(["resume", "bench", "--state-dir", str(state)], work))
        shutil.rmtree(state)
    return best


def section(results: dict[int, dict[str, float]], command: str) -> str:
    lines = ["## Exec", "",
             f"`{command}` on {platform.machine()}, {os.cpu_count()} CPUs, Python "
             f"{platform.python_version()}; best of the repeats, seconds.", "",
             "| nodes | limit (2 in flight) | xargs -P2 | GNU parallel -j2 | prodigy run loop "
             "| run / limit | prodigy exec (whole CLI) | no-op resume (whole CLI) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for count, r in sorted(results.items()):
        par = f"{r['parallel']:.2f}" if "parallel" in r else "-"
        lines.append(f"| {count:,} | {r['limit']:.2f} | {r['xargs']:.2f} | {par} | "
                     f"{r['run']:.2f} | {r['run'] / r['limit']:.2f}x | {r['cli']:.2f} | "
                     f"{r['resume']:.2f} |")
    return "\n".join(lines) + "\n\n" + NOTES


NOTES = """\
Goals: run loop <= 1.3x the limit and faster than `xargs -P2`; no-op resume of 10,000 nodes
under 1 s. **Both missed** on this 2-core box (figures above; other jobs shared the machine).

What dominates (profiled at this commit, 2,000 nodes):
- The children alone keep both cores busy: the limit loop and xargs use ~1.8 cores, so every
  microsecond of bookkeeping comes straight out of wall time.
- Driver: ~0.85 ms CPU per node: the two checkpoint records per node in diskcache (~0.3 ms,
  even with ~8 records per transaction), sending each task to a worker (pickle + socket
  write + waking the worker), rendering and hashing the node's inputs, two JSON events.
- Worker: ~0.3 ms per node over a bare `Popen(...).wait()` (log file, environment, result).
- The pool transport matters most: one loky task per node cost ~2.3x the limit *before* any
  bookkeeping, so `local` keeps loky's processes but runs one long-lived `serve` loop per
  worker fed over a Unix socket (~1.1x the limit for the transport alone).
- `prodigy exec` of a 10,000-node plan spends ~8-9 s validating it against plan.schema.json
  (`plan.loads`, jsonschema, per node) before anything runs. A no-op resume skips that (the
  stored copy was validated) but still pays interpreter start-up (~0.35 s),
  `Plan.from_json` (~0.45 s) and ~60 us per node to re-render, re-hash and reuse each node.
"""


def write_results(text: str) -> None:
    """Replace our section of RESULTS.md, keep every other section as it is."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    out, skipping = [], False
    for line in old.splitlines(keepends=True):
        if line.startswith("## "):
            skipping = line.strip() == "## Exec"
        if not skipping:
            out.append(line)
    body = "".join(out).rstrip("\n") + "\n\n" + text
    RESULTS.write_text(body)


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
