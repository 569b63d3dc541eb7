"""Whether a map's `input` can only be meant as a file: shared by the compiler's lint (P602)
and the map at run time, which must agree, and light enough for `prodigy validate` to import.

A map input is read as a JSON file when a file of that name exists in the run's directory, and
run as a shell command otherwise; a missing `items.json` would run as a command and fail with
exit 127, far from the cause.
"""

from __future__ import annotations

import re
from pathlib import Path

# One word of path characters: no spaces, quotes, `$`, `~` or other shell syntax.
_PATH_WORD = re.compile(r"[\w./@+,-]+")
_DATA_SUFFIXES = (".json", ".jsonl", ".ndjson")


def looks_like_file(value: str) -> bool:
    """Whether a map input can only be meant as a file name, never as a command (one word of
    path characters ending in .json, .jsonl or .ndjson, or containing a `/`)."""
    return _PATH_WORD.fullmatch(value) is not None and (
        value.lower().endswith(_DATA_SUFFIXES) or "/" in value)


def missing_file(source: str, cwd: Path) -> str | None:
    """Why `source` cannot be the input: it looks like a file and there is none (else None).
    Run as a command it would fail with exit 127, far from the cause."""
    if not looks_like_file(source) or (cwd / source).is_file():
        return None
    return (f"map input file {source} does not exist in the run's directory ({cwd}); in a "
            "worktree only committed files exist: commit it, or create it in setup:")
