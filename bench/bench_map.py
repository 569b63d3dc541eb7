"""Map benchmark: a map of N items whose agent is one trivial shell command, `--jobs 2`.

Compares, in the same run and on the same machine, over the same items:
  limit     a plain Python loop keeping 2 `sh -c` processes in flight, no bookkeeping
  xargs     `xargs -P2 -I{} sh -c "test -n '{}'"`
  parallel  GNU parallel -j2, same command
  prodigy   `prodigy run map.yml --jobs 2` (local executor, fresh state dir): 'map' is the
            map node (map_started -> finished, from the event log: items loaded, every agent
            run and checkpointed, results written), 'cli' the whole process
and the peak memory of the driver running a map of --memory-items items: its own max RSS
(getrusage in the driver process; the pool workers are separate processes), plus RSS samples
as the map advances, to show it stays flat.

Usage:

    python bench/bench_map.py [--items 10000] [--memory-items 100000] [--repeat 1] [--write]

--write replaces the `## Map` section of bench/RESULTS.md, or appends it; other sections are
kept as they are.
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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEMORY_GOAL_MIB = 300
RESULTS = ROOT / "bench" / "RESULTS.md"
AGENT = "test -n '{}'"
WORKFLOW = """\
name: bench-map
mode: mapreduce
map:
  input: items.json
  max_parallel: 8
  agent_template:
    - shell: "test -n '${item}'"
reduce:
  - shell: "echo ${map.successful}/${map.total} > done.txt"
"""
# The driver, reporting its own peak RSS (KiB) when it exits.
DRIVER = """\
import resource, sys
from prodigy.cli.main import main
code = main(sys.argv[1:])
with open("driver-maxrss.txt", "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.exit(code)
"""


def prepare(work: Path, count: int) -> None:
    work.mkdir(parents=True, exist_ok=True)
    items = [f"item-{i:06d}" for i in range(count)]
    (work / "items.json").write_text(json.dumps(items))
    (work / "items.txt").write_text("\n".join(items) + "\n")
    (work / "map.yml").write_text(WORKFLOW)


def physical_limit(work: Path) -> float:
    items = (work / "items.txt").read_text().split()
    started = time.perf_counter()
    running: dict[int, subprocess.Popen[bytes]] = {}
    failed: list[int] = []

    def reap() -> None:
        pid, status = os.waitpid(-1, 0)
        running.pop(pid).returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            failed.append(pid)

    for item in items:
        if len(running) >= 2:
            reap()
        proc = subprocess.Popen(["sh", "-c", AGENT.format(item)])
        running[proc.pid] = proc
    while running:
        reap()
    elapsed = time.perf_counter() - started
    if failed:
        raise SystemExit(f"the bare limit loop: {len(failed)} of {len(items)} commands failed")
    return elapsed


def tool(command: str, work: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(["sh", "-c", f"{command} < items.txt"], cwd=work,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:  # xargs and parallel exit non-zero when any command failed
        raise SystemExit(f"{command!r} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed


def map_seconds(state: Path) -> float:
    events = [json.loads(line) for line in
              (state / "runs" / "bench" / "events.jsonl").read_text().splitlines()]
    start = next(e["ts"] for e in events if e["event"] == "node_started" and e["node"] == "map")
    end = next(e["ts"] for e in events if e["event"] == "node_finished" and e["node"] == "map")
    return float(end - start)


def prodigy(work: Path, state: Path, sample: bool = False) -> dict[str, object]:
    shutil.rmtree(state, ignore_errors=True)
    (work / "driver-maxrss.txt").unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, "run", "map.yml", "--jobs", "2",
                             "--state-dir", str(state), "--run-id", "bench"], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    samples: list[tuple[float, int]] = []
    if sample:
        threading.Thread(target=_sample, args=(proc, samples, started), daemon=True).start()
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"prodigy run failed:\n{err[-2000:]}")
    cli = time.perf_counter() - started
    done = (work / "done.txt").read_text().strip()
    total = len(json.loads((work / "items.json").read_text()))
    if done != f"{total}/{total}":  # every item must have run and succeeded
        raise SystemExit(f"prodigy's map did not run every item: {done} (of {total})")
    return {"cli": cli, "map": map_seconds(state), "done": done, "samples": samples,
            "maxrss_mib": int((work / "driver-maxrss.txt").read_text()) / 1024}


def _sample(proc: subprocess.Popen[str], out: list[tuple[float, int]], started: float) -> None:
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            text = status.read_text()
        except OSError:
            return
        for line in text.splitlines():
            if line.startswith("VmRSS:"):
                out.append((time.perf_counter() - started, int(line.split()[1])))
        time.sleep(1.0)


def section(n: int, best: dict[str, float], memory: dict[str, object] | None, mem_items: int,
            command: str, spread: float = 0.0) -> str:
    par = f"{best['parallel']:.2f}" if "parallel" in best else "-"
    par_ratio = f"{best['map'] / best['parallel']:.2f}x" if "parallel" in best else "-"
    lines = ["## Map", "",
             f"`{command}` on {platform.machine()}, {os.cpu_count()} CPUs, Python "
             f"{platform.python_version()}; best of the repeats, seconds. Agent: one "
             "`shell: \"test -n '${item}'\"` step per item, `--jobs 2`, max_parallel 8.", "",
             "| items | limit (2 in flight) | xargs -P2 | GNU parallel -j2 | prodigy map node "
             "| prodigy run (whole CLI) | map / limit | map / xargs | map / parallel |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
             f"| {n:,} | {best['limit']:.2f} | {best['xargs']:.2f} | {par} | {best['map']:.2f} "
             f"| {best['cli']:.2f} | {best['map'] / best['limit']:.2f}x | "
             f"{best['map'] / best['xargs']:.2f}x | {par_ratio} |"]
    if memory is not None:
        samples = memory["samples"]
        assert isinstance(samples, list)
        picks = [samples[int(len(samples) * f) - 1] for f in (0.1, 0.25, 0.5, 0.75, 1.0)
                 if samples]
        trace = ", ".join(f"{t:.0f}s {kib / 1024:.0f}" for t, kib in picks)
        lines += ["", f"Driver memory, map of {mem_items:,} items (same agent, `--jobs 2`): "
                      f"peak RSS **{memory['maxrss_mib']:.0f} MiB** (goal: flat, under 300 MiB); "
                      f"RSS in MiB as the map advanced: {trace}; run took "
                      f"{memory['cli']:.0f} s ({memory['done']} items succeeded)."]
    return "\n".join(lines) + "\n" + notes(n, best, spread, memory)


def notes(n: int, best: dict[str, float], spread: float,
          memory: dict[str, object] | None) -> str:
    """The prose under the table, every figure and verdict in it from this run's numbers."""
    out = [""]
    if memory is not None:
        peak = float(memory["maxrss_mib"])  # type: ignore[arg-type]
        verdict = "met" if peak < MEMORY_GOAL_MIB else "MISSED"
        out.append(f"Memory goal (flat, under {MEMORY_GOAL_MIB} MiB): **{verdict}** (peak "
                   f"{peak:.0f} MiB). By design the driver holds no per-item state: frames "
                   "exist only for the agents in the window; each finished item's result goes "
                   "to its item record and to a spool file (one 8-byte offset per item kept); "
                   "the checkpoint store runs SQLite without a memory map and with a 4 MiB "
                   "page cache.")
        out.append("")
    per_item, limit = best["map"] / n * 1000, best["limit"] / n * 1000
    speed = (f"Speed: {per_item:.2f} ms per item against {limit:.2f} ms for the bare limit; "
             f"the map node took {best['map'] / best['xargs']:.1f}x the time of `xargs -P2`")
    if "parallel" in best:
        ratio = best["map"] / best["parallel"]
        speed += (f", {1 / ratio:.1f}x faster than GNU parallel" if ratio < 1 else
                  f", {ratio:.1f}x the time of GNU parallel")
    else:
        speed += " (GNU parallel is not installed here)"
    out.append(speed + ". " + (f"The map node's repeats varied by {spread:.2f}x." if spread
                               else "One repeat: no spread measured."))
    return "\n".join(out) + "\n"


def write_results(text: str) -> None:
    """Replace the `## Map` section of RESULTS.md, or append it; keep every other section."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    out, skipping = [], False
    for line in old.splitlines(keepends=True):
        if line.startswith("## "):
            skipping = line.strip() == "## Map"
        if not skipping:
            out.append(line)
    RESULTS.write_text("".join(out).rstrip("\n") + "\n\n" + text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--memory-items", type=int, default=100_000,
                        help="items of the memory run (0: skip it)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    command = (f"python bench/bench_map.py --items {args.items} --memory-items "
               f"{args.memory_items} --repeat {args.repeat}")
    best: dict[str, float] = {}
    maps: list[float] = []

    def keep(name: str, value: float) -> None:
        best[name] = min(best.get(name, float("inf")), value)
        if name == "map":
            maps.append(value)
        print(f"  {name}: {value:.2f}s", file=sys.stderr)

    memory = None
    with tempfile.TemporaryDirectory(prefix="prodigy-bench-map-") as tmp:
        work = Path(tmp) / "speed"
        prepare(work, args.items)
        for _ in range(args.repeat):
            keep("limit", physical_limit(work))
            keep("xargs", tool(f"xargs -P2 -I{{}} sh -c \"{AGENT}\"", work))
            if shutil.which("parallel"):
                keep("parallel", tool(f"parallel -j2 \"{AGENT}\"", work))
            run = prodigy(work, Path(tmp) / "state")
            keep("map", float(run["map"]))  # type: ignore[arg-type]
            keep("cli", float(run["cli"]))  # type: ignore[arg-type]
        if args.memory_items:
            big = Path(tmp) / "memory"
            prepare(big, args.memory_items)
            memory = prodigy(big, Path(tmp) / "state-big", sample=True)
    text = section(args.items, best, memory, args.memory_items, command,
                   spread=max(maps) / min(maps) if len(maps) > 1 else 0.0)
    print(text)
    if args.write:
        write_results(text)


if __name__ == "__main__":
    main()
