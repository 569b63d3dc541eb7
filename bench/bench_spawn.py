"""Spawn probe: how long `os.posix_spawn` blocks its caller, in a bare interpreter and in one
that has imported prodigy's runtime (what the driver holds when it starts a shell node).

Each measurement is a fresh interpreter keeping 2 `sh -c true` in flight (the exec bench's
posix_spawn limit loop) and timing only the posix_spawn calls; the two kinds alternate so a
noisy neighbour hurts both alike. The exec bench found the driver blocked in posix_spawn for
~45% of a 5,000-node run; this isolates that cost from prodigy's own bookkeeping. Usage:

    python bench/bench_spawn.py [--spawns 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

PROBE = """
import os, sys, time
if sys.argv[1] == "runtime":
    import prodigy.runtime.run  # noqa: F401  (the driver's imports, nothing else)
env = {k.encode(): v.encode() for k, v in os.environ.items()}
count, running, blocked = int(sys.argv[2]), 0, 0.0
started = time.perf_counter()
for _ in range(count):
    if running >= 2:
        os.wait()
        running -= 1
    before = time.perf_counter()
    os.posix_spawn("/bin/sh", ["/bin/sh", "-c", "true"], env)
    blocked += time.perf_counter() - before
    running += 1
while running:
    os.wait()
    running -= 1
print(time.perf_counter() - started, blocked / count)
"""


def probe(kind: str, spawns: int) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, kind, str(spawns)], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"bare": [], "runtime": []}
    for _ in range(args.repeat):
        for kind in results:
            results[kind].append(probe(kind, args.spawns))
    print(f"{args.spawns} spawns, 2 in flight, {args.repeat} alternating runs each (median):")
    for kind, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        blocked = statistics.median(b for _, b in runs) * 1e6
        each = ", ".join(f"{b * 1e6:.0f}" for _, b in runs)
        print(f"  {kind:8} wall {wall:.2f} s, posix_spawn blocks {blocked:.0f} us (runs: {each})")


if __name__ == "__main__":
    main()
