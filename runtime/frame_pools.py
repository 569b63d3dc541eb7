"""A frame's pools sent ahead: the copies of a literal foreach whose item is one plain command.

A pool (the copies of a one-node foreach body; see `scheduler.py`) runs at most its `limit`
nodes at once. Held by the scheduler alone, every item ending has to reach the driver before
the next one starts, which is most of the cost of a loop of short commands. When the node is
one plain command (a shell step nobody reads, without handlers, secrets to mask or a time
limit counted from before it starts) in the main plan, the pool gets an executor lane, as a
loop's items do (`loops/items.py`): the lane holds the limit, the scheduler hands out up to
AHEAD_PER_SLOT nodes a slot, and the spawner starts the next as soon as one ends.

What the lane keeps, in order: a node sent ahead says it started (`node_started`) only when
it is among the `window` the pool counts as running, in the order the executor starts them;
a failed command pauses the lane until the frame has seen it, so nothing starts behind a
failure that stops the plan, and then the lane's waiting commands are dropped (their nodes
end skipped, like every node the failure left unstarted); a command lost with a dead spawner
is handed out again, REQUEUE_LIMIT times at most, then fails saying why.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prodigy.runtime.executors.lanes import LOST_MESSAGE, REQUEUE_LIMIT, new_lane, sent_ahead
from prodigy.runtime.ops import OPS, NodeResult

if TYPE_CHECKING:
    from prodigy.runtime.frame import Frame, Template
    from prodigy.runtime.run import Run


def plain_command(host: Run, tpl: Template, node_id: str) -> bool:
    """Whether the node is one plain command the executor may hold ahead of its window (for
    a pool here, for a loop's items in `loops/items.py`): the executor has lanes, nothing is
    masked, the spawner can start it, nobody reads its output or reacts to its outcome (a
    handler, an exit-code body), no phase deadline counts from before it starts, and it does
    not retry (its next attempt would queue behind the items after it, which must wait for
    it: `parallel: 1` keeps items in order)."""
    executor, node = host.executor, tpl.nodes[node_id]
    return (executor is not None and executor.lanes and not host.masker
            and node_id not in tpl.readers and OPS[node.kind].command is not None
            and host.phase_remaining(node.phase) is None
            and not getattr(node.params, "retry", None))


@dataclass(slots=True)
class PoolLane:
    lane: int  # 0: the pool cannot be sent ahead (the scheduler alone holds its limit)
    window: int = 1  # nodes counted as running: the limit, within the executor's slots
    counted: set[str] = field(default_factory=set)  # said to have started, not ended
    waiting: deque[str] = field(default_factory=deque)  # sent ahead, start held back
    dropped: bool = False


class FramePools:
    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.lanes: dict[str, PoolLane] = {}
        self.requeued: dict[str, int] = {}

    def lane_of(self, node_id: str) -> int:
        """The executor lane of the node's pool (0: none), opened when first asked for."""
        pool = self.frame.tpl.graph.pools.get(node_id)
        return self._open(pool, node_id).lane if pool is not None else 0

    def _open(self, pool: str, node_id: str) -> PoolLane:
        state = self.lanes.get(pool)
        if state is None:
            state = self.lanes[pool] = self._lane(pool, node_id)
        return state

    def _lane(self, pool: str, node_id: str) -> PoolLane:
        frame, host = self.frame, self.frame.host
        executor, graph = host.executor, frame.tpl.graph
        # Only the main plan's: a sub-plan's frames come and go an item at a time, and a lane
        # each would pile up in the executor (the scheduler holds their pools). Not once the
        # plan stopped (a body run on an exit code still drains: nothing may drop its items).
        # Every member is a copy of one body node: one answers for all.
        if (executor is None or not plain_command(host, frame.tpl, node_id)
                or frame is not host.main or frame.sched.stopped is not None
                or frame.spec.deadline is not None):
            return PoolLane(0)
        window = max(1, min(graph.limits[pool], host.slots))
        state = PoolLane(new_lane(), window)
        executor.set_lane(state.lane, window)
        frame.sched.allowance[pool] = sent_ahead(host.capacity, window)
        return state

    def hold(self, node_id: str) -> bool:
        """The node's command is being sent: whether its start is held back (the pool's
        window is full: it waits in the lane)."""
        state = self._state(node_id)
        if state is None:
            return False
        if len(state.counted) < state.window:
            state.counted.add(node_id)
            return False
        state.waiting.append(node_id)
        return True

    def ended(self, node_id: str) -> None:
        """The node's command ended (or never will)."""
        state = self._state(node_id)
        if state is None:
            return
        if node_id in state.counted:
            state.counted.discard(node_id)
        elif node_id in state.waiting:
            state.waiting.remove(node_id)

    def release(self) -> None:
        """After a batch of results: the next ones waiting run now, unless the plan stopped
        (then they are dropped unstarted, and say nothing). Not before the whole batch is in:
        a failure reported with the success that freed a slot paused the lane first."""
        for state in self.lanes.values():
            while (state.waiting and self.frame.sched.stopped is None
                   and len(state.counted) < state.window):
                released = state.waiting.popleft()
                state.counted.add(released)
                self.frame.release_start(released)

    def lost(self, node_id: str) -> None:
        """The executor gave the node back unstarted or lost it with its spawner."""
        frame = self.frame
        self.ended(node_id)
        if frame.host.interrupted:
            frame.sched.interrupt(node_id)
        elif frame.sched.stopped is not None:
            frame.sched.drop(node_id)
        else:
            tries = self.requeued[node_id] = self.requeued.get(node_id, 0) + 1
            if tries <= REQUEUE_LIMIT:
                frame.held.pop(node_id, None)  # it starts again: said then
                frame.sched.requeue(node_id)
            else:
                frame.complete(node_id, NodeResult(ok=False, message=LOST_MESSAGE))

    def pump(self) -> None:
        """After a round's results: a stopped plan drops what waits in its lanes; otherwise
        the failures the frame has seen no longer pause them."""
        frame = self.frame
        executor = frame.host.executor
        if executor is None:
            return
        for state in self.lanes.values():
            if not state.lane or state.dropped:
                continue
            if frame.sched.stopped is not None or frame.done:
                state.dropped = True
                executor.drop_lane(state.lane)
            else:
                executor.resume_lane(state.lane, frame.host.lane_failures.get(state.lane, 0))

    def _state(self, node_id: str) -> PoolLane | None:
        pool = self.frame.tpl.graph.pools.get(node_id)
        state = self.lanes.get(pool) if pool is not None else None
        return state if state is not None and state.lane else None
