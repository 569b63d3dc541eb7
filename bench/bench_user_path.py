"""User-path benchmark (issue 19): what a user runs, whole process, on real workflow files.

N trivial items, each `touch out/ITEM`, two at a time, in the same run on the same machine:
  limit    a Python loop keeping 2 `sh -c "touch out/ITEM"` in flight (the Popen limit)
  xargs    `xargs -P2 -I{} sh -c "touch out/{}"`: no bookkeeping, the reference
  foreach  `prodigy run foreach.yml --jobs 2 --in-place`: a literal `foreach:` list, parallel 2
  map      `prodigy run map.yml --jobs 2 --in-place`: a MapReduce map, max_parallel 2
Every contender starts from an empty out/ and must leave exactly N files in it. Measurements are
interleaved (a noisy neighbour hurts all alike); each figure is the best of --repeat, and the
ratios are taken within this one run. `--git` adds the map without --in-place in a fresh git
repository (one worktree a run, its agents in worktrees of their own): what worktrees add.

Then validation, whole process: `prodigy validate` on the valid corpus files against
`check-jsonschema --schemafile` with a trivial schema ({"type": "object"}), and one file alone.

    python bench/bench_user_path.py [--sizes 1000 5000] [--repeat 3] [--git]
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
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_validate import corpus_files

BIN = Path(sys.executable).parent
COMMAND = "touch out/{}"
FOREACH = """\
name: bench-foreach
commands:
  - foreach:
      foreach: {items}
      parallel: 2
      do:
        - shell: "touch out/${{item:sh}}"
"""
MAP = """\
name: bench-map
mode: mapreduce
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: "touch out/${item:sh}"
"""


def prepare(work: Path, count: int) -> list[str]:
    work.mkdir(parents=True, exist_ok=True)
    items = [f"i{i:06d}" for i in range(count)]
    (work / "items.json").write_text(json.dumps(items))
    (work / "items.txt").write_text("\n".join(items) + "\n")
    (work / "foreach.yml").write_text(FOREACH.format(items=json.dumps(items)))
    (work / "map.yml").write_text(MAP)
    return items


def limit(work: Path, items: list[str]) -> None:
    running: dict[int, subprocess.Popen[bytes]] = {}

    def reap() -> None:
        pid, status = os.waitpid(-1, 0)
        running.pop(pid).returncode = os.waitstatus_to_exitcode(status)

    for item in items:
        if len(running) >= 2:
            reap()
        proc = subprocess.Popen(["sh", "-c", COMMAND.format(item)], cwd=work)
        running[proc.pid] = proc
    while running:
        reap()


def xargs(work: Path, items: list[str]) -> None:
    subprocess.run(["sh", "-c", "xargs -P2 -I{} sh -c 'touch out/{}' < items.txt"], cwd=work,
                   check=True)


def prodigy(workflow: str, in_place: bool = True) -> Callable[[Path, list[str]], None]:
    def run(work: Path, items: list[str]) -> None:
        shutil.rmtree(work / ".prodigy", ignore_errors=True)
        cmd = [str(BIN / "prodigy"), "run", workflow, "--jobs", "2", "-y"]
        with (work / "run.log").open("w") as log:
            proc = subprocess.run(cmd + (["--in-place"] if in_place else []), cwd=work,
                                  stdout=subprocess.DEVNULL, stderr=log,
                                  env={**os.environ, "NO_COLOR": "1"})
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{(work / 'run.log').read_text()[-2000:]}")
    return run


def git_repo(work: Path) -> None:
    """Make work a git repository with everything committed (what worktrees hold)."""
    (work / ".gitignore").write_text(".prodigy/\n")
    # Agents' worktrees hold only committed files: out/ must exist in the commit.
    (work / "out").mkdir(exist_ok=True)
    (work / "out" / ".keep").touch()
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"],
                ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "bench"]):
        subprocess.run(["git", *cmd], cwd=work, check=True)


def timed(fn: Callable[[Path, list[str]], None], work: Path, items: list[str]) -> float:
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    started = time.perf_counter()
    fn(work, items)
    wall = time.perf_counter() - started
    made = len([p for p in out.iterdir() if p.name != ".keep"])
    if made != len(items):
        raise SystemExit(f"{fn}: {made} files in out/, expected {len(items)}")
    return wall


def bench_sizes(sizes: list[int], repeat: int, git: bool) -> None:
    contenders: dict[str, Callable[[Path, list[str]], None]] = {
        "limit": limit, "xargs": xargs, "foreach": prodigy("foreach.yml"),
        "map": prodigy("map.yml")}
    print("| N | limit | xargs -P2 | foreach | map | xargs/limit | foreach/limit | map/limit |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-user-") as tmp:
            work = Path(tmp)
            items = prepare(work, n)
            best = {name: float("inf") for name in contenders}
            for _ in range(repeat):
                for name, fn in contenders.items():
                    best[name] = min(best[name], timed(fn, work, items))
            lim = best["limit"]
            print(f"| {n:,} | {lim:.2f} | {best['xargs']:.2f} | {best['foreach']:.2f} | "
                  f"{best['map']:.2f} | {best['xargs'] / lim:.2f}x | "
                  f"{best['foreach'] / lim:.2f}x | {best['map'] / lim:.2f}x |", flush=True)
        if git and n == sizes[0]:
            bench_git(n, repeat)


def bench_git(n: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-user-git-") as tmp:
        work = Path(tmp)
        items = prepare(work, n)
        git_repo(work)
        runs = {"limit": limit, "map --in-place": prodigy("map.yml"),
                "map in worktrees": prodigy("map.yml", in_place=False)}
        best = {name: float("inf") for name in runs}
        for _ in range(repeat):
            for name, fn in runs.items():
                best[name] = min(best[name], time_git(fn, work, items, name))
        lim = best["limit"]
        print(f"git repo, N={n:,}: " + ", ".join(
            f"{name} {sec:.2f}s ({sec / lim:.2f}x)" for name, sec in best.items())
            + f"; worktrees add {(best['map in worktrees'] - best['map --in-place']) / n * 1e3:.2f}"
            " ms an item", flush=True)


def time_git(fn: Callable[[Path, list[str]], None], work: Path, items: list[str],
             name: str) -> float:
    """Like timed(), but a worktree run starts from a clean checkout and is reset after."""
    if "worktrees" not in name:
        return timed(fn, work, items)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, check=True,
                          capture_output=True, text=True).stdout.strip()
    clean(work, head)
    started = time.perf_counter()
    fn(work, items)
    wall = time.perf_counter() - started
    # An agent's uncommitted files stay in its worktree (only commits merge back), so check
    # the run's own summary line instead of out/.
    summary = f"{len(items)} items ({len(items)} succeeded)"
    if summary not in (work / "run.log").read_text():
        raise SystemExit(f"{name}: no {summary!r} in:\n{(work / 'run.log').read_text()[-1500:]}")
    clean(work, head)
    return wall


def clean(work: Path, head: str) -> None:
    # This is the benchmark's own scratch repository, not the project's.
    subprocess.run(["git", "reset", "-q", "--hard", head], cwd=work, check=True)
    subprocess.run(["git", "clean", "-qfdx", "-e", ".prodigy"], cwd=work, check=True)


def bench_validate(repeat: int) -> None:
    files = corpus_files()
    with tempfile.TemporaryDirectory(prefix="bench-schema-") as tmp:
        schema = Path(tmp) / "trivial.json"
        schema.write_text('{"type": "object"}')
        runs = {
            "prodigy validate (corpus)": [str(BIN / "prodigy"), "validate", *files],
            "check-jsonschema trivial (corpus)": [str(BIN / "check-jsonschema"),
                                                  "--schemafile", str(schema), *files],
            "prodigy validate (1 file)": [str(BIN / "prodigy"), "validate", files[0]],
            "check-jsonschema trivial (1 file)": [str(BIN / "check-jsonschema"),
                                                  "--schemafile", str(schema), files[0]]}
        best = {name: float("inf") for name in runs}
        for _ in range(repeat):
            for name, cmd in runs.items():
                started = time.perf_counter()
                code = subprocess.run(cmd, capture_output=True).returncode
                best[name] = min(best[name], time.perf_counter() - started)
                # Some corpus files are top-level lists, which {"type": "object"} rejects
                # (exit 1) after reading and checking every file: the work is the same.
                if code != 0 and name.startswith("prodigy"):
                    raise SystemExit(f"{name}: exit {code}")
    print(f"\nvalidate, {len(files)} files, best of {repeat}, whole processes:")
    for name, sec in best.items():
        print(f"  {name:36s} {sec * 1000:7.1f} ms")
    print(f"  corpus ratio prodigy / check-jsonschema: "
          f"{best['prodigy validate (corpus)'] / best['check-jsonschema trivial (corpus)']:.2f}x")
    print(f"  single file ratio: "
          f"{best['prodigy validate (1 file)'] / best['check-jsonschema trivial (1 file)']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--git", action="store_true")
    parser.add_argument("--no-validate", action="store_true")
    parser.add_argument("--validate-only", action="store_true")
    opts = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"best of {opts.repeat}, seconds, whole processes\n")
    if not opts.validate_only:
        bench_sizes(opts.sizes, opts.repeat, opts.git)
    if not opts.no_validate:
        bench_validate(max(opts.repeat, 5))


if __name__ == "__main__":
    main()
