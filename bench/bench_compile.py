"""Compile-time benchmark: a 100,000-item literal foreach and 2,000 sequential steps.

What is measured is what `prodigy compile FILE -o plan.json` does: `compile_file`, then the
plan streamed into the file by the CLI's own `write_atomically(path, emit(plan, "json"))`
(temp file, fsync, rename). Each case runs in a fresh subprocess, twice: once for wall time and
peak RSS (resource.getrusage), once under tracemalloc for the Python heap's peak over compile
and write together, which is what the goal "< 1 KiB of driver memory per node" is measured
against. Run from the repository root:

    .venv/bin/python bench/bench_compile.py            # prints a table, writes nothing
    .venv/bin/python bench/bench_compile.py --append   # also adds it to the Compile section
                                                       # of bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "foreach-100k": 100_000,
    "sequential-2k": 2_000,
}
GOAL_SECONDS = 3.0
GOAL_BYTES_PER_NODE = 1024
RESULTS = Path(__file__).with_name("RESULTS.md")


def workflow_text(case: str, size: int) -> str:
    if case.startswith("foreach"):
        items = "\n".join(f"        - item-{i:06d}" for i in range(size))
        return ("- shell: \"echo start\"\n"
                "- foreach:\n"
                "    foreach:\n"
                f"{items}\n"
                "    do:\n"
                "      - shell: \"process ${item} (${index}/${total})\"\n"
                "- shell: \"echo done\"\n")
    steps = [f"- shell: \"echo step {i}\"\n  capture_output: out_{i}\n" if i % 10 == 0 else
             f"- shell: \"echo step {i} after ${{out_{i - i % 10}}}\"\n" for i in range(size)]
    return "".join(steps)


CHILD = r"""
import json, os, resource, sys, time, tracemalloc
from pathlib import Path
from prodigy.cli.compile_commands import write_atomically
from prodigy.compiler import pipeline
from prodigy.compiler.emit import emit
from prodigy.compiler.plan_build import build_plan
path, out, traced = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "1"
if traced:
    tracemalloc.start()
timings = {}
start = time.perf_counter()
# compile_file, stage by stage
unit = pipeline.Unit(path, None, None)
for name, stage in pipeline.STAGES:
    began = time.perf_counter()
    stage(unit)
    timings[name] = time.perf_counter() - began
    assert not unit.failed, unit.diagnostics
began = time.perf_counter()
plan = build_plan(unit.lowered, unit.workflow, unit.cache, unit.path, unit.loaded.text)
timings["plan"] = time.perf_counter() - began
compiled = time.perf_counter()
del unit
retained = tracemalloc.get_traced_memory()[0] if traced else 0
write_atomically(out, emit(plan, "json"))
done = time.perf_counter()
peak = tracemalloc.get_traced_memory()[1] if traced else 0
print(json.dumps({"seconds": compiled - start, "timings": timings,
                  "write_seconds": done - compiled, "nodes": len(plan.nodes),
                  "json_bytes": os.path.getsize(out), "traced_peak": peak,
                  "retained": retained,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def measure(path: Path, traced: bool) -> dict[str, float]:
    out = path.with_suffix(".plan.json")
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(out),
                           "1" if traced else "0"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_cases() -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for case, size in CASES.items():
            path = Path(tmp) / f"{case}.yml"
            path.write_text(workflow_text(case, size), encoding="utf-8")
            timed = measure(path, traced=False)
            traced = measure(path, traced=True)
            stages: dict[str, float] = timed["timings"]  # type: ignore[assignment]
            front = stages["load"] + stages["schema"]
            nodes = int(timed["nodes"])
            compile_s, write_s = timed["seconds"], timed["write_seconds"]
            rows.append((case, nodes, compile_s, front, compile_s - front, write_s,
                         compile_s + write_s, traced["traced_peak"] / nodes,
                         traced["retained"] / nodes, timed["maxrss_kib"] / 1024,
                         timed["json_bytes"] / 1e6))
    return rows


def table(rows: list[tuple[object, ...]]) -> str:
    header = ("| case | nodes | compile_file s | load+schema s | normalize..plan s | write s "
              "| total s | peak B/node | plan B/node | max RSS MiB | plan.json MB |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [header] + [
        f"| {c} | {n} | {s:.2f} | {f:.2f} | {m:.2f} | {w:.2f} | {t:.2f} | {p:.0f} | {k:.0f} "
        f"| {r:.0f} | {j:.1f} |" for c, n, s, f, m, w, t, p, k, r, j in rows]
    return "\n".join(lines)


def add_to_results(text: str) -> None:
    """Add the table at the end of the Compile section, leaving every other section as it is."""
    old = RESULTS.read_text(encoding="utf-8")
    start = old.index("## Compile\n")
    end = old.find("\n## ", start + 1)
    end = len(old) if end < 0 else end + 1
    section = old[start:end].rstrip("\n") + "\n\n" + text + "\n\n"
    RESULTS.write_text(old[:start] + section + old[end:], encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--append", action="store_true",
                        help="add the table to the Compile section of bench/RESULTS.md")
    args = parser.parse_args()
    rows = run_cases()
    text = table(rows)
    print(text)
    for c, n, s, _, m, w, t, p, k, _, _ in rows:
        if str(c).startswith("foreach"):
            print(f"goal for {n} nodes: < {GOAL_SECONDS:.0f} s -> {t:.2f} s compile + write "
                  f"({'met' if t < GOAL_SECONDS else 'missed'}; compile {s:.2f} s, of which "
                  f"{m:.2f} s after load and schema; write {w:.2f} s); "
                  f"< {GOAL_BYTES_PER_NODE} B/node -> peak {p:.0f}, plan {k:.0f} "
                  f"({'met' if p < GOAL_BYTES_PER_NODE else 'missed'})")
    if args.append:
        add_to_results(f"({time.strftime('%Y-%m-%d')})\n\n{text}")


if __name__ == "__main__":
    main()
