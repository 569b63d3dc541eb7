"""Peer benchmark (issue 19): prodigy against the tools a user could run instead, same work.

Work: N items; each task runs `sh -c "touch out/ITEM"`, two at a time, and the run must leave
exactly the N files out/ITEM (checked after every run, with the exit code: a contender that
does less work fails the bench loudly). Every contender is one top-level process started from
an empty out/ in the same temporary directory (not a git repository):

  limit      limit.py: a Python loop keeping 2 `sh -c` in flight (Popen; the machine's limit)
  xargs      xargs -P2 -I{} sh -c 'touch out/{}' < items.txt: no bookkeeping, the reference
  parallel   GNU parallel -j2 --joblog (PARALLEL_SHELL=/bin/sh), where installed
  dask       dask_run.py: one dask.delayed task an item, `processes` scheduler, 2 workers,
             each task a subprocess.run of the same command; nothing kept
  snakemake  a wildcard rule `out/{item}`, --cores 2; skipped at every size after the first
             one it does not finish within --snakemake-timeout (a note says so)
  foreach    prodigy run foreach.yml --jobs 2 --in-place -y: literal `foreach:`, parallel 2
  map        prodigy run map.yml --jobs 2 --in-place -y: MapReduce, max_parallel 2
  resume     (separately) a finished map of --resume-items items, then `prodigy resume RUN`,
             which must run nothing (out/ is emptied first and must stay empty)

Rounds are interleaved (each round runs every contender once, in turn), so a noisy neighbour
hurts all alike; each contender's figures come from its fastest round, and its ratio is to the
limit's time in that same round. CPU a task: user+sys of the contender's whole process tree
(wait4 of the top process plus any orphan it left, which this process reaps as a child
subreaper) over N. Peak RSS: the largest ru_maxrss among those processes, i.e. the biggest
single process of the tree (not a sum over processes alive at once).

The table replaces the `## Peers (issue 19)` section of bench/RESULTS.md (up to the next `## `
heading), so the section is generated whole: keep commentary in a section of its own.

    python bench/bench_peers.py [--sizes 1000 5000 20000] [--repeat 3] [--only map,limit]
                                [--resume-items 10000] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench_user_path import FOREACH, MAP  # the same workflow files as the user-path bench
from peers_report import Measure, write_results

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
NAMES = ("limit", "xargs", "parallel", "dask", "snakemake", "foreach", "map", "resume")
LIMIT_PY = """\
import os, subprocess, sys
running, failed = {}, 0
def reap():
    global failed
    pid, status = os.waitpid(-1, 0)
    # Popen must learn its child is reaped, or its clean-up would reap another one.
    running.pop(pid).returncode = code = os.waitstatus_to_exitcode(status)
    failed += code != 0
for item in open(sys.argv[1]).read().split():
    if len(running) >= 2:
        reap()
    proc = subprocess.Popen(["sh", "-c", f"touch out/{item}"])
    running[proc.pid] = proc
while running:
    reap()
sys.exit(1 if failed else 0)
"""
DASK_PY = """\
import subprocess, sys
import dask
def task(item):
    subprocess.run(["sh", "-c", f"touch out/{item}"], check=True)
if __name__ == "__main__":
    items = open(sys.argv[1]).read().split()
    dask.compute(*[dask.delayed(task)(i) for i in items], scheduler="processes", num_workers=2)
"""
SNAKEFILE = """\
shell.executable("/bin/sh")
ITEMS = open("items.txt").read().split()
rule all:
    input: expand("out/{item}", item=ITEMS)
rule touch:
    output: "out/{item}"
    shell: "touch out/{wildcards.item}"
"""
PRODIGY = [str(BIN / "prodigy"), "run", "--jobs", "2", "--in-place", "-y"]
COMMANDS = {
    "limit": [sys.executable, "limit.py", "items.txt"],
    "xargs": ["xargs", "-P2", "-I{}", "-a", "items.txt", "sh", "-c", "touch out/{}"],
    "parallel": ["parallel", "--will-cite", "-j2", "--joblog", "joblog.txt", "touch out/{}",
                 "::::", "items.txt"],
    "dask": [sys.executable, "dask_run.py", "items.txt"],
    "snakemake": [str(BIN / "snakemake"), "--cores", "2", "--quiet", "all"],
    "foreach": [*PRODIGY, "foreach.yml"],
    "map": [*PRODIGY, "map.yml"],
}


@dataclass(frozen=True)
class Tree:
    """What one contender's process tree cost."""

    code: int
    wall: float
    cpu: float  # user+sys seconds of every process of the tree
    maxrss_kib: int  # the largest single process
    timed_out: bool
    leftover: int  # processes still running after the top one exited (killed, then reaped)


def become_subreaper() -> bool:
    """Orphans of a contender's tree are re-parented to us, so their CPU is counted too."""
    try:
        pr_set_child_subreaper = 36
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        return bool(prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def run_tree(cmd: list[str], work: Path, timeout: float, log: Path) -> Tree:
    env = {**os.environ, "NO_COLOR": "1", "PARALLEL_SHELL": "/bin/sh"}
    with log.open("w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                start_new_session=True)
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        timer.cancel()
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    cpu, rss, leftover, killed = usage.ru_utime + usage.ru_stime, usage.ru_maxrss, 0, False
    # Orphans (daemonised helpers, pool workers nobody joined) may still be running; give them
    # a moment to exit on their own, then kill the rest of the session so the next round starts
    # on a quiet machine. Their time is the contender's, not the next one's.
    deadline = time.monotonic() + 2.0
    while True:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            cpu, rss = cpu + usage.ru_utime + usage.ru_stime, max(rss, usage.ru_maxrss)
            leftover += killed
        elif time.monotonic() > deadline and not killed:
            killed, deadline = True, time.monotonic() + 10.0
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        elif time.monotonic() > deadline:
            raise SystemExit(f"{cmd[:3]}: processes of another session outlived it: stop them")
        else:
            time.sleep(0.01)
    return Tree(code, wall, cpu, rss, expired.is_set(), leftover)


def prepare(work: Path, count: int) -> list[str]:
    items = [f"i{i:06d}" for i in range(count)]
    (work / "items.json").write_text(json.dumps(items))
    (work / "items.txt").write_text("\n".join(items) + "\n")
    (work / "foreach.yml").write_text(FOREACH.format(items=json.dumps(items)))
    (work / "map.yml").write_text(MAP)
    (work / "limit.py").write_text(LIMIT_PY)
    (work / "dask_run.py").write_text(DASK_PY)
    (work / "Snakefile").write_text(SNAKEFILE)
    return items


def reset(work: Path) -> Path:
    for state in (".prodigy", ".snakemake", "out"):
        shutil.rmtree(work / state, ignore_errors=True)
    (work / "joblog.txt").unlink(missing_ok=True)
    (work / "out").mkdir()
    return work / "out"


def check(name: str, tree: Tree, out: Path, items: list[str], log: Path) -> None:
    made = {p.name for p in out.iterdir()}
    if tree.code != 0 or made != set(items):
        raise SystemExit(f"{name}: exit {tree.code}, {len(made)} files in out/ "
                         f"(expected {len(items)}, {len(made ^ set(items))} differ); "
                         f"stderr:\n{log.read_text()[-2000:]}")


def bench_size(n: int, names: list[str], repeat: int, opts: argparse.Namespace,
               notes: list[str], skip: set[str]) -> list[Measure]:
    rounds: dict[str, list[tuple[Tree, Tree]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        work = Path(tmp)
        items = prepare(work, n)
        for _ in range(repeat):
            lim = None
            for name in names:
                if name in skip:
                    continue
                out, log = reset(work), work / f"{name}.log"
                timeout = opts.snakemake_timeout if name == "snakemake" else 3600.0
                tree = run_tree(COMMANDS[name], work, timeout, log)
                if tree.timed_out and name != "snakemake":
                    raise SystemExit(f"{name}: {n:,} items not done in {timeout:.0f} s")
                if tree.timed_out:
                    skip.add(name)
                    notes.append(f"{name} did not finish {n:,} items within "
                                 f"{opts.snakemake_timeout:.0f} s (killed); not run at this "
                                 "size or larger.")
                    rounds[name] = []
                    continue
                check(name, tree, out, items, log)
                if tree.leftover:
                    notes.append(f"{name} at {n:,} items left processes running after it "
                                 "exited (killed 2 s later; their CPU is counted).")
                lim = tree if name == "limit" else lim
                rounds[name].append((tree, lim or tree))
            print(f"  N={n:,}: round done", file=sys.stderr, flush=True)
    measures = []
    for name, runs in rounds.items():
        if runs:
            tree, lim = min(runs, key=lambda r: r[0].wall)
            measures.append(Measure(n, name, tree.wall, tree.wall / lim.wall,
                                    tree.cpu / n * 1e3, tree.maxrss_kib / 1024))
    return measures


def bench_resume(items_count: int, repeat: int) -> tuple[float, float]:
    """Best no-op resume of a finished map, and the map's own time (for scale)."""
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as tmp:
        work = Path(tmp)
        items = prepare(work, items_count)
        out, log = reset(work), work / "resume.log"
        first = run_tree([*PRODIGY, "--run-id", "bench-resume", "map.yml"], work, 3600, log)
        check("map before resume", first, out, items, log)
        cmd = [str(BIN / "prodigy"), "resume", "bench-resume", "--jobs", "2", "--in-place", "-y"]
        best = float("inf")
        for _ in range(repeat):
            for stale in out.iterdir():
                stale.unlink()
            tree = run_tree(cmd, work, 600, log)
            ran = len(list(out.iterdir()))
            if tree.code != 0 or ran:
                raise SystemExit(f"resume: exit {tree.code}, {ran} items ran again "
                                 f"(expected none); stderr:\n{log.read_text()[-2000:]}")
            best = min(best, tree.wall)
        return best, first.wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=",".join(NAMES),
                        help=f"comma-separated contenders among {','.join(NAMES)}")
    parser.add_argument("--resume-items", type=int, default=10000)
    parser.add_argument("--snakemake-timeout", type=float, default=300.0)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    opts = parser.parse_args()
    wanted = [n.strip() for n in opts.only.split(",") if n.strip()]
    if unknown := set(wanted) - set(NAMES):
        parser.error(f"unknown contender(s) {', '.join(sorted(unknown))}; known: {NAMES}")
    names = [n for n in NAMES if n in wanted and n != "resume"]
    if "limit" not in names and names:
        names.insert(0, "limit")  # every ratio is to the limit of the same round
    notes: list[str] = []
    if not become_subreaper():
        notes.append("not a child subreaper here: orphans' CPU and RSS are not counted.")
    if "parallel" in names and not shutil.which("parallel"):
        names.remove("parallel")
        notes.append("GNU parallel not installed: skipped (`apt-get install parallel`).")
    load_start = os.getloadavg()
    started = time.perf_counter()
    measures: list[Measure] = []
    skip: set[str] = set()
    for n in opts.sizes:
        measures += bench_size(n, names, opts.repeat, opts, notes, skip)
    resume = bench_resume(opts.resume_items, opts.repeat) if "resume" in wanted else None
    load_end, cpus = os.getloadavg(), os.cpu_count() or 1
    notes.append("Peak RSS floor: a process's ru_maxrss keeps, across exec, the RSS of the "
                 "process it was forked from (this bench, "
                 f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB), so "
                 "figures near that mean small.")
    machine = (f"{platform.machine()}, nproc {cpus}, Python {platform.python_version()}, "
               f"load average at start {' '.join(f'{x:.2f}' for x in load_start)}, at end "
               f"{' '.join(f'{x:.2f}' for x in load_end)}; bench took "
               f"{time.perf_counter() - started:.0f} s")
    if load_start[0] >= cpus / 2:
        # The bench itself keeps ~2 processes busy, so only the load before it says "shared".
        notes.append(f"1-minute load average {load_start[0]:.2f} on {cpus} CPUs before the "
                     "bench started: others were using the machine, so the times are "
                     "pessimistic and noisier; ratios within a round compare alike.")
    command = "python bench/bench_peers.py " + " ".join(sys.argv[1:])
    text = write_results(RESULTS, command, machine, measures, resume, opts.resume_items, notes,
                         write=not opts.no_write)
    print(text)


if __name__ == "__main__":
    main()
