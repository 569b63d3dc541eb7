"""Running a sub-plan once per item, lazily: the shared engine of map and foreach.

Items are known once the loop starts (a file, a command's output, a literal list); the frames
that run them are not built up front. At most `window` items run at once (a map's
`max_parallel`, a foreach's `parallel`, never more than the executor keeps in flight), and a
new frame is created only when one ends, so a 100,000-item map holds a handful of frames and
one compact result per finished item, whatever its size.

Sending ahead: when an item is one plain command (a body of one shell step nobody reads,
no secrets to mask, no per-item deadline), up to AHEAD_PER_SLOT frames a slot are made at
once and their commands wait in the executor (`Executor.set_lane`), which holds the loop's
window itself: an item ending and the next starting then never wait for the driver, which
otherwise sits between every two items of a short-command loop. Items still queued when the
loop stops starting new ones (a failure policy, a spend limit) are dropped unstarted; a
failed command pauses the lane until the loop has seen it, so none starts behind a failure
that stops the loop. An item sent ahead is said to start (`node_started`) when the loop
counts it among the window's, in the order the executor starts them, not when it was queued.

The driver keeps no per-item state beyond counts: a finished item's result entry goes to its
record and to `collect` (a map spools them to a file), so memory stays flat.

The item is the unit of checkpointing: when its frame ends, an item record (its key, status
and result entry) goes into the same transaction as the round's other records. Resuming, an
item whose record matches its key now (the loop node's key, the body's digest and the item
itself) is not run again; one without a record (it was in flight) runs again whole. Which
recorded outcomes count as final is the subclass's call (a map keeps its failures: they are in
the DLQ; a foreach runs its failed items again). Items `prodigy dlq retry` names run again
whatever their records say.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from prodigy.runtime.decide import checkpoint_key
from prodigy.runtime.events import EventType
from prodigy.runtime.executors.lanes import LOST_MESSAGE, REQUEUE_LIMIT, new_lane, sent_ahead
from prodigy.runtime.frame import Frame
from prodigy.runtime.frame_pools import plain_command
from prodigy.runtime.loops.base import PROGRESS_S, FrameOutcome, Loop, outcome_of
from prodigy.runtime.loops.work_items import item_label
from prodigy.runtime.loops.workdir import AgentDir, agent_dir
from prodigy.runtime.ops import Prepared
from prodigy.runtime.store import ItemRecord, ItemStatus
from prodigy.runtime.usage import Spend

if TYPE_CHECKING:
    from prodigy.runtime.run import Run

REUSE_BATCH = 2000  # recorded items checked per round, so a huge resume stays responsive


@dataclass(slots=True)
class ItemRun:
    index: int
    attempt: int
    started_at: float  # unix: its frame was made (its first command may start later)
    workdir: AgentDir
    spend: Spend | None = None  # what its agents cost, once its frame ended


class ItemLoop(Loop):
    """Subclasses set `body` and implement `window`, `item_vars`, `item_done`, `conclude`,
    and call `set_items` from `begin` (at once, or when their item command finished)."""

    body = ""
    kind = "items"

    def __init__(self, host: Run, frame: Frame, node_id: str, prepared: Prepared) -> None:
        super().__init__(host, frame, node_id, prepared)
        self.items: list[Any] | None = None
        self.total = 0
        self.next = 0
        self.running: dict[Frame, ItemRun] = {}
        self.starting = 0  # items launched whose frame waits for its working directory
        self.retries: list[tuple[float, int, int]] = []  # (due, index, attempt)
        self.counts = dict.fromkeys(("succeeded", "failed", "skipped", "reused"), 0)
        self.halt: str | None = None  # why no new item starts (error policy)
        self.retry_set = self.host.options.retry_items.get(self.gid, frozenset())
        # `--force` on the loop node runs every item again; a `dlq retry` forces the node
        # too, but only its named items run again.
        self.replay = (self.gid not in self.host.options.force
                       or self.gid in self.host.options.retry_items)
        self.last_progress = time.monotonic()
        self.concluded = False
        self.lane = 0  # its executor lane, when it sends items ahead
        self.ahead = 0  # frames it may make beyond its window
        # Frames made ahead, oldest first: the executor starts them in this order as the
        # window frees, so the loop says they started then (not when they were queued).
        self.sent_ahead: deque[Frame] = deque()
        self.requeued: dict[int, int] = {}  # item -> times its lost command was put back

    # --- subclass hooks --------------------------------------------------------------------

    def parallelism(self) -> int:
        """How many items the workflow asks to run at once."""
        raise NotImplementedError

    def window(self) -> int:
        """How many run at once: what the workflow asks, within the executor's slots (more
        would only wait in the executor's queue, while the console claimed they ran)."""
        return max(1, min(self.parallelism(), self.host.slots))

    def item_vars(self, index: int) -> dict[str, Any]:
        raise NotImplementedError

    def item_done(self, run: ItemRun, outcome: FrameOutcome) -> None:
        raise NotImplementedError

    def reusable(self, record: ItemRecord) -> bool:
        return record.status is ItemStatus.SUCCEEDED

    def may_start(self, now: float) -> bool:
        return True

    def stop_starting(self, why: str) -> None:
        if self.halt is None:
            self.halt = why  # items not started stay pending (no record): resume runs them

    def recovered(self, index: int) -> dict[str, Any] | None:
        """The result entry of an item found done although it has no record, if any."""
        return None

    def frame_options(self, index: int, attempt: int) -> dict[str, Any]:
        return {}

    def ahead_allowed(self) -> bool:
        """Whether the subclass's items may be made before a slot is free for them (no
        per-item worktree or deadline: both would start with the frame)."""
        return True

    def conclude(self) -> None:
        raise NotImplementedError

    # --- the engine ------------------------------------------------------------------------

    def item_id(self, index: int) -> str:
        return f"item_{index}"

    def label(self, index: int) -> str:
        """The item as people see it (work_items.item_label): in events, lines, the DLQ."""
        assert self.items is not None
        return item_label(self.items[index], index)

    def item_key(self, index: int) -> str:
        assert self.items is not None
        return checkpoint_key(self.host.template(self.body).digest,
                              {"item": self.items[index], "index": index},
                              {"@loop": self.key})

    def set_items(self, items: list[Any]) -> None:
        self.items, self.total = items, len(items)
        self._open_lane()
        # The window it claims is what runs: when `--jobs` holds it below what the workflow
        # asks for, the event says both.
        asked = self.parallelism()
        self.host.events.emit(EventType.LOOP_STARTED, node=self.gid, kind=self.kind,
                              label=self.node.label, total=self.total, window=self.window(),
                              asked=asked if asked > self.window() else None,
                              jobs=self.host.slots if asked > self.window() else None,
                              retry=len(self.retry_set) or None)
        self.pump()

    def _open_lane(self) -> None:
        executor = self.host.executor
        tpl = self.host.template(self.body)
        if (executor is None or not self.ahead_allowed() or len(tpl.nodes) != 1
                or not plain_command(self.host, tpl, next(iter(tpl.nodes)))):
            return
        window = self.window()
        self.lane = new_lane()
        executor.set_lane(self.lane, window)
        self.ahead = sent_ahead(self.host.capacity, window) - window

    def pump(self) -> None:
        if self.items is None or self.concluded:
            return
        if self.lane:
            executor = self.host.executor
            assert executor is not None
            if self.halt is not None:  # what waits in its lane does not start
                executor.drop_lane(self.lane)
                self.lane = 0
            else:  # a failure paused the lane; this loop has seen it and goes on
                executor.resume_lane(self.lane, self.host.lane_failures.get(self.lane, 0))
        budget = REUSE_BATCH
        now = time.monotonic()
        room = self.window() + self.ahead
        while (not self.stopping and self.halt is None
               and len(self.running) + self.starting < room and budget > 0):
            due = self._next_due(now)
            if due is None:
                break
            index, attempt = due
            if attempt == 1 and self.replay and not self.fresh and index not in self.retry_set:
                record = self.host.store.get_item(self.host.run_id, self.gid, index)
                if record is not None and record.key == self.item_key(index) \
                        and self.reusable(record):
                    self.collect(index, record.result)
                    self.host.spend.add_entry(record.result)  # spent before the resume
                    self.counts[str(record.status)] += 1
                    self.counts["reused"] += 1
                    budget -= 1
                    continue
                found = self.recovered(index) if record is None else None
                if found is not None:  # done before a crash lost its record: record it now
                    self.host.writes.append(ItemRecord(self.gid, index, self.item_key(index),
                                                       ItemStatus.SUCCEEDED, found, time.time()))
                    self.collect(index, found)
                    self.counts["succeeded"] += 1
                    self.counts["reused"] += 1
                    continue
            if not self.may_start(now):
                self._defer(index, attempt, now)
                break
            self._launch(index, attempt)
        self.progress()
        if not self.running and not self.aux and (
                self.stopping or self.halt is not None
                or (self.next >= self.total and not self.retries)):
            self.retries.clear()
            if self.stopping and self.host.interrupted:
                self.concluded = True
                self.check_stopped()
            else:
                self.concluded = True
                self.progress(final=True)
                self.conclude()

    def _next_due(self, now: float) -> tuple[int, int] | None:
        if self.retries and self.retries[0][0] <= now:
            _, index, attempt = heapq.heappop(self.retries)
            return index, attempt
        if self.next < self.total:
            self.next += 1
            return self.next - 1, 1
        return None

    def _defer(self, index: int, attempt: int, now: float) -> None:
        heapq.heappush(self.retries, (now + 0.25, index, attempt))

    def retry_later(self, index: int, attempt: int, delay: float) -> None:
        heapq.heappush(self.retries, (time.monotonic() + delay, index, attempt))

    def _launch(self, index: int, attempt: int) -> None:
        """Start an item (a subclass may first prepare its directory, then `spawn_item`)."""
        self.spawn_item(index, attempt, agent_dir(self.cwd, self.item_id(index)))

    def spawn_item(self, index: int, attempt: int, workdir: AgentDir) -> None:
        item_id = self.item_id(index)
        frame = self.spawn(self.body, item_id, self.item_vars(index), checkpoint=False,
                           cwd=workdir.path, item=item_id, item_label=self.label(index),
                           first_attempt=attempt, lane=self.lane,
                           **self.frame_options(index, attempt))
        if self.lane and len(self.running) >= self.window():
            frame.queued = True
            self.sent_ahead.append(frame)
        self.running[frame] = ItemRun(index, attempt, time.time(), workdir)

    def frame_finished(self, frame: Frame) -> None:
        super().frame_finished(frame)
        run = self.running.pop(frame)
        if frame.queued:  # it ended before the loop counted it as running (or was dropped)
            self.sent_ahead.remove(frame)
        run.spend = frame.spend
        outcome = outcome_of(frame)
        run.workdir.cleanup()
        if outcome.interrupted and self.lane and not self.stopping and self.halt is None:
            # Not stopped by the run or the loop: the executor lost its command (queued or
            # running) with its spawner. It runs again, a few times at most.
            tries = self.requeued[run.index] = self.requeued.get(run.index, 0) + 1
            if tries <= REQUEUE_LIMIT:
                self.retry_later(run.index, run.attempt, 0.0)
            else:
                self.item_done(run, replace(outcome, interrupted=False,
                                            message=LOST_MESSAGE))
        elif outcome.interrupted or (self.host.interrupted and not outcome.ok):
            self.check_stopped()  # not recorded: it runs again on resume
        else:
            self.item_done(run, outcome)

    def release(self) -> None:
        # The next ones queued run now, unless an item stopped the loop (then they are dropped
        # unstarted, and nothing is said of them). Only once the whole batch of results is
        # in: a failure reported with the success that freed a slot paused the lane first.
        while (self.sent_ahead and self.halt is None and not self.stopping
               and len(self.running) - len(self.sent_ahead) < self.window()):
            self.sent_ahead.popleft().release_start()

    def collect(self, index: int, result: dict[str, Any]) -> None:
        """An item's result entry, as it finishes (or is found finished): kept by the map."""
        return None

    def record(self, run: ItemRun, status: ItemStatus, result: dict[str, Any]) -> None:
        self.collect(run.index, result)
        self.counts[str(status)] += 1
        self.host.writes.append(ItemRecord(self.gid, run.index, self.item_key(run.index),
                                           status, result, time.time()))

    def progress(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last_progress < PROGRESS_S:
            return
        self.last_progress = now
        done = self.counts["succeeded"] + self.counts["failed"] + self.counts["skipped"]
        self.host.events.emit(EventType.LOOP_PROGRESS, node=self.gid, kind=self.kind,
                              label=self.node.label, done=done, total=self.total,
                              succeeded=self.counts["succeeded"], failed=self.counts["failed"],
                              skipped=self.counts["skipped"] or None,
                              reused=self.counts["reused"] or None,
                              running=len(self.running) - len(self.sent_ahead),
                              final=final or None)
