"""Startup + validation speed: `prodigy validate` on the whole upstream corpus in one call,
against `check-jsonschema` with our schema on the same files (the generic tool a user would
reach for). Both are timed as whole processes in the same run; the ratio is what counts.

    python bench/bench_validate.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "prodigy"
INVALID_YAML = {"capture-parallel-analysis.yml", "mapreduce-json-input.yml",
                "implement-with-tests.yml"}


def corpus_files() -> list[str]:
    files = []
    for folder in ("workflows", "examples", "templates", "tests"):
        for path in sorted((CORPUS / folder).rglob("*.y*ml")):
            if "data" in path.relative_to(CORPUS).parts or path.name in INVALID_YAML:
                continue
            files.append(str(path))
    return files


def timed(cmd: list[str], repeat: int) -> tuple[float, int]:
    runs = []
    code = 0
    for _ in range(repeat):
        start = time.perf_counter()
        code = subprocess.run(cmd, capture_output=True).returncode
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    opts = parser.parse_args()
    files = corpus_files()
    if not files:
        sys.exit(f"no corpus at {CORPUS}")
    bindir = Path(sys.executable).parent
    ours, ours_code = timed([str(bindir / "prodigy"), "validate", *files], opts.repeat)
    theirs, theirs_code = timed(
        [str(bindir / "check-jsonschema"), "--schemafile",
         str(REPO / "schemas" / "workflow.schema.json"), *files], opts.repeat)
    print(f"files: {len(files)}  (median of {opts.repeat} runs, whole processes)")
    print(f"prodigy validate : {ours * 1000:8.1f} ms  exit {ours_code}")
    print(f"check-jsonschema : {theirs * 1000:8.1f} ms  exit {theirs_code}")
    print(f"ratio prodigy/check-jsonschema: {ours / theirs:.2f}x  (goal <= 1.0x)")


if __name__ == "__main__":
    main()
