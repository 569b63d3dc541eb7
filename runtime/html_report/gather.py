"""Everything the report shows, read from a run's own records: its run record, event log, DLQ,
map results and stored plan. Nothing here writes, so it works on a run that is still going."""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.runtime.events import read_events
from prodigy.runtime.html_report.items import ItemRow, item_rows
from prodigy.runtime.html_report.timeline import Timeline, build_timeline
from prodigy.runtime.report_lines import hidden
from prodigy.runtime.store import CheckpointStore, RunRecord, RunStatus, StateDir
from prodigy.runtime.usage import from_events


@dataclass(frozen=True, slots=True)
class Phase:
    name: str  # setup | map | reduce | merge (main when the workflow has no phases)
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Attempt:
    """One start of the run (`prodigy run`, then each resume) and what it did."""

    number: int
    resumed: bool
    start: float
    end: float | None  # its run_finished; None when it never wrote one
    status: str  # its run_finished status, "running" or "interrupted"
    ran: int  # nodes it started
    reused: int  # nodes it took from an earlier attempt's checkpoints


@dataclass(frozen=True, slots=True)
class Cost:
    name: str
    cost_usd: float
    tokens: int


@dataclass(frozen=True, slots=True)
class RunData:
    record: RunRecord
    start: float
    end: float
    steps: Mapping[str, int]  # the last run_finished's step counts (else the record's)
    items: Mapping[str, int]
    timeline: Timeline
    phases: tuple[Phase, ...]
    attempts: tuple[Attempt, ...]
    rows: tuple[ItemRow, ...]
    failures: tuple[Mapping[str, Any], ...]  # DLQ entries (runtime/loops/dlq.py)
    cost_usd: float
    tokens: Mapping[str, int]
    by_step: tuple[Cost, ...]
    by_item: tuple[Cost, ...]


def gather(state: StateDir, record: RunRecord) -> RunData:
    events = _events(state.events_path(record.run_id))
    running = record.status is RunStatus.RUNNING
    last = events[-1]["ts"] if events else record.updated_at
    now = time.time() if running else (record.finished_at or max(last, record.updated_at))
    timeline = build_timeline(events, running=running, now=now)
    finished = [e for e in events if e.get("event") == "run_finished"]
    usage = from_events(events)
    store = CheckpointStore.for_reading(state.cache_dir)
    try:
        failures = tuple(store.dlq_entries(record.run_id))
    finally:
        store.close()
    return RunData(
        record=record, start=record.created_at, end=now,
        steps=(finished[-1].get("steps") if finished else None) or record.counts,
        items=(finished[-1].get("items") if finished else None) or {},
        timeline=timeline, phases=_phases(state, record.run_id, timeline),
        attempts=_attempts(events, running), failures=failures,
        rows=tuple(item_rows(state.run_dir(record.run_id), timeline.bars, running=running)),
        cost_usd=float(usage["cost_usd"]), tokens=usage["tokens"],
        by_step=_costs(usage["agents"], None),
        by_item=_costs(usage["agents"], {(b.loop, b.item): b.item_label
                                         for b in timeline.bars if b.item}))


def _events(path: Path) -> list[dict[str, Any]]:
    """The event log without agents' live tool use and messages (most of a map's log, and
    nothing the report shows): those lines are skipped before they are parsed."""
    try:
        with path.open(encoding="utf-8") as handle:
            lines = [line for line in handle if '"event": "agent_' not in line[:260]]
    except FileNotFoundError:
        return []
    try:  # one decoder call: a 10,000-item map's log has some 60,000 lines left
        return [e for e in json.loads(f"[{','.join(lines)}]") if isinstance(e, dict)]
    except ValueError:  # a torn last line (a crash mid-write): parse line by line
        return list(read_events(path))


def _phases(state: StateDir, run_id: str, timeline: Timeline) -> tuple[Phase, ...]:
    """Each phase's span in each attempt, from the bars of the nodes that ran in it; phases are
    named by the stored plan (read as JSON: only each node's id and phase are needed). A
    workflow of one phase marks none."""
    try:
        nodes = json.loads(state.plan_path(run_id).read_text(encoding="utf-8"))["nodes"]
        phase_of = {str(n["id"]): str(n.get("phase") or "main") for n in nodes}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ()
    if set(phase_of.values()) <= {"main"}:
        return ()
    starts = [start for start, _ in timeline.segments]
    spans: dict[tuple[int, str], list[float]] = {}
    for bar in timeline.bars:
        name = phase_of.get(bar.loop or bar.node)
        if name is None or bar.outcome in ("reused", "skipped"):
            continue
        span = spans.setdefault((bisect.bisect_right(starts, bar.start), name),
                                [bar.start, bar.end])
        span[0], span[1] = min(span[0], bar.start), max(span[1], bar.end)
    return tuple(sorted((Phase(name, a, b) for (_, name), (a, b) in spans.items()),
                        key=lambda p: p.start))


def _attempts(events: Sequence[Mapping[str, Any]], running: bool) -> tuple[Attempt, ...]:
    found: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        if kind in ("run_started", "run_resumed"):
            found.append({"number": int(event.get("attempt") or len(found) + 1),
                          "resumed": kind == "run_resumed", "start": event["ts"], "end": None,
                          "status": "interrupted", "ran": 0, "reused": 0})
        elif not found:
            continue
        elif kind == "run_finished":
            found[-1].update(end=event["ts"], status=str(event.get("status")))
        elif kind == "node_started" and "item" not in event and not hidden(dict(event)):
            found[-1]["ran"] += 1
        elif kind == "node_reused":
            found[-1]["reused"] += 1
    if found and running and found[-1]["end"] is None:
        found[-1]["status"] = "running"
    return tuple(Attempt(**a) for a in found)


def _costs(agents: Mapping[str, Mapping[str, Any]],
           items: Mapping[tuple[str, str], str] | None) -> tuple[Cost, ...]:
    """Agents' spend added up per step (by label; items' agents under their step), or, given
    the items' labels by (loop, item id), per item; largest first."""
    sums: dict[str, list[float]] = {}
    for node, agent in agents.items():
        if items is None:
            name = str(agent.get("label") or node.rpartition("/")[2])
        elif agent.get("item"):
            item = str(agent["item"])
            name = items.get((node.split("[", 1)[0], item)) or item
        else:
            continue
        total = sums.setdefault(name, [0.0, 0])
        total[0] += float(agent.get("cost_usd") or 0)
        total[1] += sum(int(v) for v in (agent.get("tokens") or {}).values())
    return tuple(sorted((Cost(name, round(c, 6), int(t)) for name, (c, t) in sums.items()),
                        key=lambda c: -c.cost_usd))
