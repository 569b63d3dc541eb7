"""Startup + validation speed: `prodigy validate` on the whole upstream corpus in one call,
against `check-jsonschema` with our schema on the same files (the generic tool a user would
reach for). Both are timed as whole processes in the same run; the ratio is what counts.
`--trivial` checks against `{"type": "object"}` instead: check-jsonschema's start-up and file
reading alone, the bar issue 19 sets (it exits 1 on the corpus files whose top level is a list,
after reading and checking all of them).

    python bench/bench_validate.py [--repeat 7] [--trivial] [--one]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
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
    parser.add_argument("--trivial", action="store_true",
                        help='check-jsonschema with {"type": "object"}, not our schema')
    parser.add_argument("--one", action="store_true", help="the first corpus file only")
    opts = parser.parse_args()
    files = corpus_files()[:1] if opts.one else corpus_files()
    if not files:
        sys.exit(f"no corpus at {CORPUS}")
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="bench-schema-") as tmp:
        schema = REPO / "schemas" / "workflow.schema.json"
        if opts.trivial:
            schema = Path(tmp) / "trivial.json"
            schema.write_text('{"type": "object"}')
        ours, ours_code = timed([str(bindir / "prodigy"), "validate", *files], opts.repeat)
        theirs, theirs_code = timed(
            [str(bindir / "check-jsonschema"), "--schemafile", str(schema), *files],
            opts.repeat)
    # A timing of a run that did not do the work is no figure: prodigy must accept every
    # file; check-jsonschema exits 1 when a file fails the schema (the corpus's top-level
    # lists, against the trivial one) and anything else when it could not check at all.
    if ours_code != 0 or theirs_code not in (0, 1):
        sys.exit(f"a contender failed: prodigy validate exit {ours_code}, "
                 f"check-jsonschema exit {theirs_code}")
    print(f"files: {len(files)}  (median of {opts.repeat} runs, whole processes)")
    print(f"prodigy validate : {ours * 1000:8.1f} ms  exit {ours_code}")
    print(f"check-jsonschema : {theirs * 1000:8.1f} ms  exit {theirs_code}")
    print(f"ratio prodigy/check-jsonschema: {ours / theirs:.2f}x  (goal <= 1.0x)")


if __name__ == "__main__":
    main()
