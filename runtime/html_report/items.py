"""The per-item table of a run's loops: one row per map item that started.

Two sources, as far as each goes: a map writes each finished item's entry (status, attempts,
duration, commits, cost) to its results spool and, when the map ends, to its results file
(`runs/RUN_ID/map/<loop>.json`, see `map_results.py`); the event log tells which items started
and which steps each ran, which is all there is for an item still running, or one whose run
stopped before it finished.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.runtime.html_report.timeline import Bar
from prodigy.runtime.store import safe_name


@dataclass(frozen=True, slots=True)
class ItemRow:
    loop: str
    item_id: str
    label: str
    status: str  # succeeded | failed | skipped | running | interrupted
    attempts: int
    duration: float
    cost_usd: float | None
    tokens: int
    commits: int
    log: str  # the failed step's log, else the item's last step's; "" when none
    transcript: str  # a claude step's transcript beside that log, "" when none


def item_rows(run_dir: Path, bars: Sequence[Bar], *, running: bool) -> list[ItemRow]:
    """Every item seen in `bars`, in loop then index order, completed from the results."""
    seen: dict[tuple[str, str], list[Bar]] = {}
    for bar in bars:
        if bar.item:
            seen.setdefault((bar.loop, bar.item), []).append(bar)
    entries = {loop: dict(_entries(run_dir, loop)) for loop in {loop for loop, _ in seen}}
    rows = [_row(loop, item, steps, entries[loop].get(item), run_dir, running)
            for (loop, item), steps in seen.items()]
    return sorted(rows, key=lambda r: (r.loop, _index(r.item_id), r.item_id))


def _row(loop: str, item: str, steps: list[Bar], entry: dict[str, Any] | None,
         run_dir: Path, running: bool) -> ItemRow:
    costs = [b.cost_usd for b in steps if b.cost_usd is not None]
    if entry is None:  # not finished: still running, or its run stopped
        status = "running" if running else "interrupted"
        duration = max(b.end for b in steps) - min(b.start for b in steps)
        attempts, commits, tokens, log = 1, 0, 0, ""
    else:
        status = str(entry.get("status") or "succeeded")
        duration = float(entry.get("duration") or 0.0)
        attempts = int(entry.get("attempts") or 1)
        commits = len(entry.get("commits") or ())
        tokens = sum(v for v in (entry.get("tokens") or {}).values() if isinstance(v, int))
        log = str(entry.get("log") or "")
        if isinstance(entry.get("cost_usd"), int | float):
            costs = [float(entry["cost_usd"])]
    log = log or _last_log(run_dir, steps)
    transcript = str(Path(log).with_suffix(".jsonl")) if log.endswith(".log") else ""
    return ItemRow(loop, item, steps[0].item_label or item, status, attempts, duration,
                   round(sum(costs), 6) if costs else None, tokens, commits, log,
                   transcript if transcript and Path(transcript).exists() else "")


def _last_log(run_dir: Path, steps: list[Bar]) -> str:
    """The log of the item's last step: `logs/` names it after the node id (store.safe_name)."""
    path = run_dir / "logs" / f"{safe_name(steps[-1].node)}.log"
    return str(path) if path.exists() else ""


def _entries(run_dir: Path, loop: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(item id, entry) from the loop's results file, else from its spool (a live map)."""
    target = run_dir / "map" / f"{safe_name(loop)}.json"
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = list(_spool(target.with_name(target.name + ".spool")))
    for entry in data if isinstance(data, list) else ():
        if isinstance(entry, dict) and entry.get("item_id"):
            yield str(entry["item_id"]), entry


def _spool(path: Path) -> Iterator[Any]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    for line in lines:
        try:
            yield json.loads(line)
        except ValueError:  # the line being written when the report was made
            continue


def _index(item_id: str) -> int:
    digits = item_id.rpartition("_")[2]
    return int(digits) if digits.isdigit() else -1
