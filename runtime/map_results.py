"""`map.results` without holding it: a spool while the map runs, a file after, loaded on use.

A 100,000-item map must not keep 100,000 result entries in the driver. As items finish, their
entries are appended to a spool file (in finishing order); when the map ends, the spool is
sorted into the results file (`map.results_file`, a JSON array in item order) and removed.
The map node publishes the counts and the file's path, not the array: a node whose params
read `${map.results...}` gets the array loaded from the file into its own scope when it is
prepared (`inject`), and drops it with that scope. What a node reads is decided from its
params (the encoded templates name their variables), once per node definition.
"""

from __future__ import annotations

import json
import os
import re
from array import array
from collections.abc import MutableMapping
from pathlib import Path
from typing import IO, Any

from prodigy.runtime.nodes import NodeParams, params_to_json
from prodigy.runtime.plan import canonical_json

RESULTS, RESULTS_FILE = "map.results", "map.results_file"
_READS = re.compile(r'\["map","results"[\],]')


class ResultSpool:
    """Result entries appended as items finish; `finish()` writes them in item order.

    Memory: one file offset per item (an array of 8-byte integers), never the entries: the
    results file is written by reading the spool back entry by entry in index order.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = target.with_name(target.name + ".spool")
        self._file: IO[bytes] | None = None
        self._offsets = array("q")  # item index -> offset of its entry in the spool, or -1

    def add(self, index: int, entry: dict[str, Any]) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w+b")
        if index >= len(self._offsets):
            self._offsets.extend([-1] * (index + 1 - len(self._offsets)))
        self._offsets[index] = self._file.tell()
        self._file.write(json.dumps(entry, ensure_ascii=False, default=str).encode() + b"\n")

    def finish(self) -> Path:
        tmp = self.target.with_name(f".{self.target.name}.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as out:
            out.write(b"[")
            first = True
            if self._file is not None:
                self._file.flush()
                for offset in self._offsets:
                    if offset < 0:
                        continue
                    self._file.seek(offset)
                    out.write((b"\n" if first else b",\n") + self._file.readline().rstrip(b"\n"))
                    first = False
                self._file.close()
                self.path.unlink()
            out.write(b"]\n" if first else b"\n]\n")
        os.replace(tmp, self.target)
        return self.target


_SEEN: dict[str, bool] = {}  # node fingerprint -> reads map.results


def reads_results(fingerprint: str, params: NodeParams) -> bool:
    """Whether a node's params reference `map.results` (or a part of it)."""
    hit = _SEEN.get(fingerprint)
    if hit is None:
        if len(_SEEN) > 4096:
            _SEEN.clear()
        hit = _SEEN[fingerprint] = bool(_READS.search(canonical_json(params_to_json(params))))
    return hit


def inject(scope: MutableMapping[str, Any], fingerprint: str, params: NodeParams) -> None:
    """Put `map.results` into a node's scope if it reads it and a map published the file."""
    path = scope.get(RESULTS_FILE)
    if not path or RESULTS in scope or not reads_results(fingerprint, params):
        return
    try:
        scope[RESULTS] = json.loads(Path(str(path)).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"map.results: cannot read {path}: {exc}") from None
