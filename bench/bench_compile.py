"""Compile-time benchmark: a 100,000-item literal foreach and 2,000 sequential steps.

Each case runs in a fresh subprocess, twice: once for wall time and peak RSS
(resource.getrusage), once under tracemalloc for the Python heap's peak, which is what the
goal "< 1 KiB of driver memory per node" is measured against. Run from the repository root:

    .venv/bin/python bench/bench_compile.py            # prints a table, writes nothing
    .venv/bin/python bench/bench_compile.py --append   # also appends it to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = {
    "foreach-100k": 100_000,
    "sequential-2k": 2_000,
}
GOAL_SECONDS = 3.0
GOAL_BYTES_PER_NODE = 1024


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
import json, resource, sys, time, tracemalloc
from prodigy.compiler import pipeline
from prodigy.compiler.plan_build import build_plan
path, traced = sys.argv[1], sys.argv[2] == "1"
if traced:
    tracemalloc.start()
timings = {}
start = time.perf_counter()
unit = pipeline.Unit(path, None, None)
for name, stage in pipeline.STAGES:
    began = time.perf_counter()
    stage(unit)
    timings[name] = time.perf_counter() - began
    assert not unit.failed, unit.diagnostics
began = time.perf_counter()
plan = build_plan(unit.lowered, unit.workflow, unit.cache, unit.path, unit.loaded.text)
timings["plan"] = time.perf_counter() - began
elapsed = time.perf_counter() - start
del unit
peak = retained = 0
if traced:
    retained, peak = tracemalloc.get_traced_memory()
start = time.perf_counter()
text = plan.dumps()
dump_s = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "timings": timings, "dump_seconds": dump_s,
                  "nodes": len(plan.nodes), "json_bytes": len(text), "traced_peak": peak,
                  "retained": retained,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def measure(path: Path, traced: bool) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), "1" if traced else "0"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--append", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case, size in CASES.items():
            path = Path(tmp) / f"{case}.yml"
            path.write_text(workflow_text(case, size), encoding="utf-8")
            timed = measure(path, traced=False)
            traced = measure(path, traced=True)
            stages: dict[str, float] = timed["timings"]  # type: ignore[assignment]
            front = stages["load"] + stages["schema"]
            nodes = int(timed["nodes"])
            rows.append((case, nodes, timed["seconds"], front, timed["seconds"] - front,
                         timed["dump_seconds"], traced["traced_peak"] / nodes,
                         traced["retained"] / nodes, timed["maxrss_kib"] / 1024,
                         timed["json_bytes"] / 1e6))
    header = ("| case | nodes | compile_file s | load+schema s | normalize..plan s | dumps s "
              "| peak B/node | plan B/node | max RSS MiB | plan.json MB |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [header] + [
        f"| {c} | {n} | {s:.2f} | {f:.2f} | {m:.2f} | {d:.2f} | {p:.0f} | {k:.0f} | {r:.0f} "
        f"| {j:.1f} |" for c, n, s, f, m, d, p, k, r, j in rows]
    table = "\n".join(lines)
    print(table)
    for c, n, s, _, m, _, p, k, _, _ in rows:
        if c.startswith("foreach"):
            print(f"goal for {n} nodes: < {GOAL_SECONDS:.0f} s -> {s:.2f} s "
                  f"({'met' if s < GOAL_SECONDS else 'missed'}; without YAML load and "
                  f"schema check {m:.2f} s); < {GOAL_BYTES_PER_NODE} B/node -> peak {p:.0f}, "
                  f"plan {k:.0f} ({'met' if p < GOAL_BYTES_PER_NODE else 'missed'})")
    if args.append:
        results = Path(__file__).with_name("RESULTS.md")
        env = f"Python {platform.python_version()}, {platform.machine()}, {platform.system()}"
        section = (f"\n## Compile\n\n{env}. Command: `.venv/bin/python bench/bench_compile.py`\n"
                   "(each case in a fresh process; `compile s` is `compile_file` wall time, "
                   "`traced peak` the tracemalloc peak of that call divided by the plan's "
                   f"node count).\n\n{table}\n")
        with results.open("a", encoding="utf-8") as handle:
            handle.write(section)


if __name__ == "__main__":
    main()
