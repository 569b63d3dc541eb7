"""The report's charts as drawing instructions for the template's inline SVG: the timeline
(bars, lanes, phase bands, a time axis) and horizontal cost bars. Coordinates are computed
here, in user units of a fixed-width viewBox the page scales to its width."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from prodigy.runtime.html_report.gather import Cost, Phase
from prodigy.runtime.html_report.timeline import Bar, Timeline

WIDTH = 1000.0  # the plot's width (user units)
GUTTER = 64.0  # lane names, left of the plot
LANE = 14.0  # a lane's height
GAP = 3.0
HEAD = 18.0  # the phase names, above the lanes
AXIS = 34.0  # the time axis and the resume marks, below them
MIN_BAR = 1.5  # a reused or skipped node takes no time, and is still drawn


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    outcome: str
    tip: str


@dataclass(frozen=True, slots=True)
class Band:
    x: float
    w: float
    name: str


@dataclass(frozen=True, slots=True)
class TimelineView:
    rects: tuple[Rect, ...]
    bands: tuple[Band, ...]
    ticks: tuple[tuple[float, str], ...]  # x, label
    rows: tuple[tuple[float, str], ...]  # y, name of each lane
    height: float
    outcomes: tuple[str, ...]  # those drawn, for the legend
    resumes: tuple[float, ...]  # x of each resume


def timeline_view(timeline: Timeline, phases: Sequence[Phase]) -> TimelineView:
    scale = _Scale(timeline)
    x = scale.x
    looped = any(b.lane < 0 for b in timeline.bars)
    first = HEAD + (LANE + GAP if looped else 0.0)
    rows = ([(HEAD, "loops")] if looped else []) + [
        (first + i * (LANE + GAP), f"slot {i + 1}") for i in range(timeline.lanes)]
    rects = tuple(Rect(x(b.start), HEAD if b.lane < 0 else first + b.lane * (LANE + GAP),
                       max(MIN_BAR, round(x(b.end) - x(b.start), 1)), b.outcome, tip(b))
                  for b in timeline.bars)
    height = first + timeline.lanes * (LANE + GAP) + AXIS
    bands = tuple(Band(x(p.start), max(MIN_BAR, round(x(p.end) - x(p.start), 1)), p.name)
                  for p in phases)
    ticks = tuple((round(GUTTER + t / scale.active * WIDTH, 1), clock(t))
                  for t in _ticks(scale.active))
    resumes = tuple(x(start) for start, _ in timeline.segments[1:])
    drawn = {r.outcome for r in rects}
    order = ("ok", "failed", "retried", "reused", "skipped", "interrupted", "running")
    return TimelineView(rects, bands, ticks, tuple(rows), height,
                        tuple(o for o in order if o in drawn), resumes)


class _Scale:
    """Time -> x over the attempts only: the idle time between two attempts takes no width."""

    def __init__(self, timeline: Timeline) -> None:
        self.segments = list(timeline.segments) or [(timeline.start, timeline.end)]
        self.starts = [start for start, _ in self.segments]
        self.before: list[float] = []  # active time before each segment
        total = 0.0
        for start, end in self.segments:
            self.before.append(total)
            total += max(0.0, end - start)
        self.active = max(total, 1e-6)

    def x(self, ts: float) -> float:
        i = bisect.bisect_right(self.starts, ts) - 1
        start, end = self.segments[max(i, 0)]
        offset = self.before[max(i, 0)] + min(max(ts - start, 0.0), max(0.0, end - start))
        return round(GUTTER + offset / self.active * WIDTH, 1)


def tip(bar: Bar) -> str:
    """The bar's hover text: step, item, duration, outcome, exit code, cost."""
    lines = [bar.label]
    if bar.item:
        lines.append(f"item: {bar.item_label}" + (f" ({bar.item})" if bar.item_label != bar.item
                                                  else ""))
    facts = [clock(bar.duration), bar.outcome]
    if bar.exit_code is not None:
        facts.append(f"exit code {bar.exit_code}")
    if bar.cost_usd is not None:
        facts.append(f"${bar.cost_usd:.4f}")
    if bar.attempt > 1:
        facts.append(f"attempt {bar.attempt}")
    lines.append(" · ".join(facts))
    if bar.message and bar.message != f"exit code {bar.exit_code}":
        lines.append(bar.message[:300])
    return "\n".join(lines)


def _ticks(span: float) -> list[float]:
    """Round offsets (1, 2 or 5 times a power of ten seconds) about eight to the span."""
    raw = span / 8
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(int(span / step) + 1)]


def clock(seconds: float) -> str:
    """A duration as people read it: 120ms, 4.2s, 3m 05s, 1h 02m."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


@dataclass(frozen=True, slots=True)
class CostBar:
    y: float
    w: float
    name: str
    value: str


def cost_bars(costs: Sequence[Cost], limit: int = 25) -> tuple[tuple[CostBar, ...], float]:
    """The `limit` largest as bars (width relative to the largest), and the chart's height."""
    shown = list(costs[:limit])
    top = max((c.cost_usd for c in shown), default=0.0) or 1.0
    bars = tuple(CostBar(i * (LANE + GAP), round(c.cost_usd / top * (WIDTH - 300), 1),
                         c.name[:60], f"${c.cost_usd:.4f} · {c.tokens:,} tokens")
                 for i, c in enumerate(shown))
    return bars, len(shown) * (LANE + GAP)
