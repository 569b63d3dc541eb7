"""Loop and expansion nodes at run time (map, foreach, validate, goal_seek): driver side.

A loop node does not run as one task: the driver builds the `Loop` object of its kind
(`LOOPS`), which runs the node's sub-plans as frames. The modules:

    base.py          `Loop`, what every kind shares (frames, helper commands, the result)
    items.py         `ItemLoop`: a sub-plan once per item, lazily (map and foreach)
    foreach.py       `ForeachLoop`
    map.py           `MapLoop`: work items in, one agent per item, results and the DLQ out
    refine.py        `ValidateLoop`, `GoalSeekLoop`: measure, and refine while short
    work_items.py    where a map's work items come from, and how they are selected
    error_policy.py  what a map does when an item fails
    dlq.py           dead-letter queue entries
    scores.py        reading what validation and scoring commands report
    workdir.py       where a map agent works

`map.results` itself (spooled, then loaded by the nodes that read it) is in
`runtime/map_results.py`: every frame uses it, and the frame is below this package.
"""

from __future__ import annotations

from prodigy.runtime.loops.base import FrameOutcome, Loop, outcome_of
from prodigy.runtime.loops.foreach import ForeachLoop
from prodigy.runtime.loops.items import ItemLoop
from prodigy.runtime.loops.map import MapLoop
from prodigy.runtime.loops.refine import GoalSeekLoop, ValidateLoop

# The loop class of each loop kind (the kinds whose op says `loop`).
LOOPS: dict[str, type[Loop]] = {
    "map": MapLoop,
    "foreach": ForeachLoop,
    "validate": ValidateLoop,
    "goal_seek": GoalSeekLoop,
}

__all__ = ["LOOPS", "ForeachLoop", "FrameOutcome", "GoalSeekLoop", "ItemLoop", "Loop",
           "MapLoop", "ValidateLoop", "outcome_of"]
