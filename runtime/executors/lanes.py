"""The `local` executor's book of lanes: loops that send their items ahead of their window.

A lane is a loop's items (`Task.lane`): at most `limit` of them run at once, whatever the
executor holds. The spawner holds the limit of the commands it starts; the driver holds it
for a lane's worker tasks. A failed task pauses its lane until the loop, having seen the
failure, says it goes on (`seen`): a loop whose failure policy stops it then drops the
lane's waiting tasks instead, and none of them has started behind the failure.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

# Tasks sent ahead of a lane's limit, per slot of it: the executor's queue must outlast the
# driver's round (a batched commit may hold it ~50 ms: 16 a slot kept a 2-slot loop of 3 ms
# commands busy; bench/RESULTS.md).
AHEAD_PER_SLOT = 16
# How often a task whose command the executor lost (its spawner died) is put back before it
# fails like any task whose command could not run.
REQUEUE_LIMIT = 2
LOST_MESSAGE = "the process starting commands died"
_IDS = itertools.count(1)


def sent_ahead(capacity: int, window: int) -> int:
    """How many of a lane's tasks to keep submitted: the window plus AHEAD_PER_SLOT a slot,
    within what the executor takes at once."""
    return max(window, min(capacity, AHEAD_PER_SLOT * window))


def new_lane() -> int:
    """A lane id unique in the process (one executor may serve several runs)."""
    return next(_IDS)


@dataclass(slots=True)
class Lane:
    limit: int
    seen: int = 0  # failed tasks the loop has seen
    failed: int = 0  # failed tasks, either path (spawner or worker)

    @property
    def paused(self) -> bool:
        return self.failed > self.seen

    def spawner_message(self, lane: int) -> tuple[str, int, int, int, int]:
        """What tells the spawner this lane's state; `failed` lets a spawner that replaced a
        dead one count on from there."""
        return ("lane", lane, self.limit, self.seen, self.failed)


class Lanes:
    def __init__(self) -> None:
        self.known: dict[int, Lane] = {}
        self.dropped: set[int] = set()  # lanes whose loop stopped starting items

    def open(self, lane: int, limit: int) -> Lane:
        known = self.known.get(lane)
        if known is None:
            known = self.known[lane] = Lane(limit)
        known.limit = limit
        return known

    def failure(self, lane: int) -> None:
        self.known.setdefault(lane, Lane(1 << 30)).failed += 1

    def resume(self, lane: int, seen: int) -> Lane | None:
        """The lane, if the loop has seen more of its failures than before."""
        known = self.known.get(lane)
        if known is None or seen <= known.seen:
            return None
        known.seen = seen
        return known
