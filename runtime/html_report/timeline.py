"""The timeline: one bar per node attempt read from the event log, laid out in slot lanes.

The event log says when each node started and finished, not which slot of the pool ran it, so
slots are inferred: bars are placed greedily, in start order, into the first lane free at
their start (an item's next step into the lane its previous step used, when free, so an agent
reads as one row). The lane count is then the most nodes that ran at once. Loop nodes (a map,
a foreach) hold no slot of their own while their items run: they are drawn in a row above the
lanes. The compiler's control nodes (barriers, gates, handlers) are left out unless they failed,
as the console leaves them out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prodigy.runtime.report_lines import LOOP_KINDS, hidden

# node_finished status -> outcome class (what the bar's colour says)
_OUTCOME = {"succeeded": "ok", "failed": "failed", "handled": "failed",
            "interrupted": "interrupted", "not_run": "skipped", "skipped": "skipped"}
_EPSILON = 1e-3  # event timestamps are rounded to microseconds; a step follows its previous


@dataclass(frozen=True, slots=True)
class Bar:
    node: str
    label: str
    kind: str
    start: float
    end: float
    outcome: str  # ok | failed | retried | reused | skipped | interrupted | running
    item: str = ""  # the map item's id (`item_3`), "" outside items
    item_label: str = ""
    exit_code: int | None = None
    cost_usd: float | None = None
    message: str = ""
    attempt: int = 1
    lane: int = -1  # -1: the loops row

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def loop(self) -> str:
        """The loop the bar's node runs in (`map` for `map[item_0]/map.agent.0`)."""
        return self.node.split("[", 1)[0] if "[" in self.node else ""


@dataclass(frozen=True, slots=True)
class Timeline:
    bars: tuple[Bar, ...]
    lanes: int
    start: float
    end: float
    # (start, end) of each attempt of the run: the chart leaves out the time between them
    # (a resume may come days later)
    segments: tuple[tuple[float, float], ...] = ()


# A bar before its lane is known: (its start event, end, outcome, its end event, attempt)
_Pending = tuple[Mapping[str, Any], float, str, Mapping[str, Any], int]
_NODE_EVENTS = frozenset({"node_started", "node_finished", "node_retrying", "node_reused",
                          "node_skipped"})


def build_timeline(events: Sequence[dict[str, Any]], *, running: bool, now: float) -> Timeline:
    """Bars from `events`; a bar still open at the end is `running` (its run is live) or
    `interrupted` (its run stopped without finishing it), and ends at `now` or the last event."""
    pending: list[_Pending] = []
    open_: dict[str, tuple[int, Mapping[str, Any]]] = {}  # node -> (attempt number, its start)
    last_ts = float(events[0]["ts"]) if events else now
    segments: list[list[float]] = []

    def close(node: str, end: float, outcome: str, done: Mapping[str, Any]) -> None:
        attempt, began = open_.pop(node)
        pending.append((began, end, outcome, done, attempt))

    for event in events:
        kind, ts = event.get("event"), float(event.get("ts", last_ts))
        if kind in ("run_started", "run_resumed"):
            for stale in list(open_):  # the previous attempt stopped without finishing them
                close(stale, last_ts, "interrupted", {})
            segments.append([ts, ts])
        last_ts = max(last_ts, ts)
        if segments:
            segments[-1][1] = last_ts
        node = event.get("node")
        if kind not in _NODE_EVENTS or not isinstance(node, str) or hidden(event):
            continue
        if kind == "node_started":
            if node in open_:
                close(node, ts, "interrupted", {})
            open_[node] = (int(event.get("attempt") or 1), event)
        elif kind == "node_finished" and node in open_:
            close(node, ts, _OUTCOME.get(str(event.get("status")), "failed"), event)
        elif kind == "node_retrying":
            if node in open_:
                close(node, ts, "retried", event)
            elif pending and pending[-1][0]["node"] == node:
                pending[-1] = (*pending[-1][:2], "retried", *pending[-1][3:])
        elif kind in ("node_reused", "node_skipped"):
            pending.append((event, ts, "reused" if kind == "node_reused" else "skipped", event, 0))
    end = now if running else last_ts
    for node in list(open_):
        close(node, end, "running" if running else "interrupted", {})
    pending.sort(key=lambda p: (float(p[0]["ts"]), p[1]))
    lanes, count = assign_lanes(pending)
    bars = tuple(_bar(*p, lane) for p, lane in zip(pending, lanes, strict=True))
    start = min((b.start for b in bars), default=last_ts)
    end = max([end, *(b.end for b in bars)])
    if segments:
        segments[0][0] = min(segments[0][0], start)
        segments[-1][1] = end
    return Timeline(bars, count, start, end, tuple((a, b) for a, b in segments))


def _bar(began: Mapping[str, Any], end: float, outcome: str, done: Mapping[str, Any],
         attempt: int, lane: int) -> Bar:
    code, cost, start = done.get("exit_code"), done.get("cost_usd"), float(began["ts"])
    item = str(began.get("item") or "")
    return Bar(str(began["node"]), str(began.get("label") or began["node"]),
               str(began.get("kind") or done.get("kind") or ""), start, max(end, start),
               outcome, item, str(began.get("item_label") or item),
               code if isinstance(code, int) else None,
               float(cost) if isinstance(cost, int | float) else None,
               str(done.get("message") or ""), attempt, lane)


def assign_lanes(pending: Sequence[_Pending]) -> tuple[list[int], int]:
    """The lane of each bar (greedy, in the given start order; -1: the loops row) and the
    number of lanes used."""
    free_at: list[float] = []  # lane -> when its last bar ends
    item_lane: dict[str, int] = {}  # `node's loop/item` -> the lane of its previous bar
    lanes: list[int] = []
    for began, end, _, done, _ in pending:
        item, start = began.get("item"), float(began["ts"])
        if not item and (began.get("kind") or done.get("kind")) in LOOP_KINDS:
            lanes.append(-1)
            continue
        key = f"{str(began['node']).split('[', 1)[0]}/{item}" if item else ""
        lane = item_lane.get(key, -1) if key else -1
        if lane < 0 or free_at[lane] > start + _EPSILON:
            lane = next((i for i, busy in enumerate(free_at) if busy <= start + _EPSILON),
                        len(free_at))
        if lane == len(free_at):
            free_at.append(end)
        free_at[lane] = max(free_at[lane], end)
        if key:
            item_lane[key] = lane
        lanes.append(lane)
    return lanes, len(free_at)
