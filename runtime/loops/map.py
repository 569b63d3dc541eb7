"""The map phase at run time: work items in, one agent per item, results and the DLQ out.

    begin: render `input` (workflow env and setup captures: `$VAR`, `${VAR}`); a JSON file
           relative to the run's directory is read, anything else runs as a command (through
           the executor, 5 minutes at most) whose output is JSON, JSON lines or plain lines;
           then json_path -> filter -> sort -> distinct -> offset -> max_items (work_items.py)
    items: the agent sub-plan once per item (`item`, `item_index`, `item_total`, `item_id`,
           `item_json`), at most max_parallel at once (items.py), each in its own working
           directory context (workdir.py), under agent_timeout_secs / timeout_config
    end:   `map.results` (one entry per item, in item order: item_id, index, status, output,
           exit_code, duration, error, failed_node, attempts, commits, item),
           `map.successful`, `map.failed`, `map.skipped`, `map.total`, and
           `map.results_file` (the same JSON array in the run dir: reduce commands given a
           large result set read that, since argv and environment are size-limited). The
           driver never holds the array: results are spooled to disk as items finish, and a
           node that reads `${map.results}` has it loaded for itself (runtime/map_results.py).

An agent fails when one of its steps fails unhandled (upstream carried on; we do not), or
when it times out. A failed agent may be retried (error_policy); then its item goes to the
dead-letter queue, and the error policy decides whether the map goes on (error_policy.py).
Zero items is not an error: the map says so and succeeds with map.total = 0, and reduce runs
(upstream skipped reduce; running it lets reduce report "nothing to do" its own way).

Timeouts: `per_agent` (default) gives the agent agent_timeout_secs for all its commands;
`per_command` limits each command to command_timeouts[its node id or step id] (`*` for any
other), falling back to agent_timeout_secs; `hybrid` applies both. timeout_action: dlq
(default) and graceful_terminate queue the item (commands get the usual TERM, grace, KILL),
skip records it skipped, fail stops the map.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from prodigy.runtime.events import EventType
from prodigy.runtime.expr import from_json
from prodigy.runtime.frame import Frame
from prodigy.runtime.loops.base import FrameOutcome
from prodigy.runtime.loops.dlq import make_entry
from prodigy.runtime.loops.error_policy import CircuitBreaker, ErrorPolicy, ItemAction
from prodigy.runtime.loops.items import ItemLoop, ItemRun
from prodigy.runtime.loops.work_items import (
    INPUT_COMMAND_TIMEOUT_S,
    ItemPipeline,
    WorkItemError,
    item_variables,
    parse_command_output,
    read_input,
    select,
)
from prodigy.runtime.map_results import RESULTS_FILE, ResultSpool
from prodigy.runtime.nodes import thaw
from prodigy.runtime.ops import NodeResult, Prepared
from prodigy.runtime.store import DlqDrop, DlqPut, ItemRecord, ItemStatus, safe_name

if TYPE_CHECKING:
    from prodigy.runtime.run import Run


class MapLoop(ItemLoop):
    kind = "map"

    def __init__(self, host: Run, frame: Frame, node_id: str, prepared: Prepared) -> None:
        super().__init__(host, frame, node_id, prepared)
        self.body = self.params.agent
        self.policy = ErrorPolicy.from_params(self.params.error_policy)
        breaker = self.policy.breaker
        self.breaker = CircuitBreaker(breaker) if breaker else None
        # Items of this map already in the DLQ (a dlq retry, or a resume after an edit):
        # one that succeeds now leaves the queue, one that fails again updates its entry.
        self.queued = {i for loop, i in host.store.dlq_indices(host.run_id) if loop == self.gid}
        self.queued_now = 0
        self.spool = ResultSpool(host.state.run_dir(host.run_id) / "map"
                                 / f"{safe_name(self.gid)}.json")

    # --- items -----------------------------------------------------------------------------

    def begin(self) -> None:
        source = self.inputs["input"]
        if source and (self.cwd / source).is_file():
            try:
                data = read_input(source, self.cwd, {})
            except WorkItemError as exc:
                self._fail(str(exc))
                return
            self._select(data)
            return
        self.note(f"$ {source}   # map input command")
        self.run_shell("input", source, INPUT_COMMAND_TIMEOUT_S)

    def aux_finished(self, tag: str, result: NodeResult) -> None:
        super().aux_finished(tag, result)
        if self.stopping:
            self.check_stopped()
            return
        if not result.ok:
            tail = result.output.strip().splitlines()[-5:]
            self._fail(f"map input command failed ({result.message}): {self.inputs['input']}"
                       + ("\n" + "\n".join(tail) if tail else ""), result.output)
            return
        self._select(parse_command_output(str(result.variables.get("stdout") or "")))

    def _select(self, data: Any) -> None:
        p = self.params
        pipeline = ItemPipeline(p.json_path, _decode(p.filter), _decode(p.sort), p.distinct,
                                p.offset, p.max_items)
        try:
            items = select(data, pipeline)
        except (ValueError, TypeError) as exc:
            self._fail(f"map input: {exc}")
            return
        if not items:
            self.note("No work items to process: reduce runs with map.total = 0")
        self.set_items(items)

    def _fail(self, message: str, output: str = "") -> None:
        self.concluded = True
        self.note(message)
        self.finish(False, message, output=output)

    # --- agents ----------------------------------------------------------------------------

    def window(self) -> int:
        return max(1, min(int(self.params.max_parallel), self.host.capacity))

    def item_vars(self, index: int) -> dict[str, Any]:
        assert self.items is not None
        return item_variables(self.items[index], index, self.total)

    def collect(self, index: int, result: dict[str, Any]) -> None:
        self.spool.add(index, result)

    def reusable(self, record: ItemRecord) -> bool:
        return True  # failures are final: they are in the DLQ, and `dlq retry` reruns them

    def may_start(self, now: float) -> bool:
        return self.breaker is None or self.breaker.allow(now)

    def frame_options(self, index: int, attempt: int) -> dict[str, Any]:
        p = self.params
        limit = p.agent_timeout_s
        options: dict[str, Any] = {}
        if limit and p.timeout_policy in ("per_agent", "hybrid"):
            options["deadline"] = time.monotonic() + float(limit)
        if p.timeout_policy in ("per_command", "hybrid"):
            timeouts = {str(k): float(v) for k, v in p.command_timeouts.items()}
            if limit and p.timeout_policy == "per_command":
                timeouts.setdefault("*", float(limit))
            options["timeouts"] = timeouts
        return options

    def item_done(self, run: ItemRun, outcome: FrameOutcome) -> None:
        now = time.monotonic()
        if outcome.ok:
            if self.breaker is not None:
                self.breaker.record(True, now)
            self.record(run, ItemStatus.SUCCEEDED, self._result(run, "succeeded", outcome))
            if run.index in self.queued:
                self.host.writes.append(DlqDrop(self.gid, run.index))
                self.queued.discard(run.index)
            return
        action = self.params.timeout_action if outcome.timed_out else "dlq"
        retry = self.policy.retry
        if retry is not None and action not in ("skip", "fail") and not self.stopping:
            delay = retry.next_delay(run.attempt, f"{outcome.message}\n{outcome.failed_output}",
                                     outcome.timed_out, 0.0)
            if delay is not None:
                self._failed_event(run, outcome, retrying=round(delay, 3))
                self.retry_later(run.index, run.attempt + 1, delay)
                return
        if self.breaker is not None:
            self.breaker.record(False, now)
        skip = action == "skip" or (not outcome.timed_out and self.policy.action is ItemAction.SKIP)
        status = "skipped" if skip else "timeout" if outcome.timed_out else "failed"
        self.record(run, ItemStatus.SKIPPED if skip else ItemStatus.FAILED,
                    self._result(run, status, outcome))
        self._failed_event(run, outcome, skipped=skip or None, dlq=not skip or None)
        if skip:
            return
        self._queue(run, outcome)
        if action == "fail":
            self.halt = f"item {run.index} timed out and timeout_action is fail"
        else:
            self.halt = self.policy.stop_reason(self.counts["failed"], self.total)

    def _queue(self, run: ItemRun, outcome: FrameOutcome) -> None:
        assert self.items is not None
        previous = (self.host.store.dlq_get(self.host.run_id, self.gid, run.index)
                    if run.index in self.queued else None)
        entry = make_entry(previous, run_id=self.host.run_id, loop=self.gid, index=run.index,
                           item=self.items[run.index], message=outcome.message,
                           timed_out=outcome.timed_out, exit_code=outcome.exit_code,
                           node=outcome.node, label=outcome.label, attempts=run.attempt,
                           output=outcome.failed_output, log=outcome.log,
                           started_at=run.started_at, duration=time.monotonic() - run.started,
                           now=time.time())
        self.host.writes.append(DlqPut(self.gid, run.index, self.host.masker.mask_data(entry)))
        self.queued.add(run.index)
        self.queued_now += 1

    def _failed_event(self, run: ItemRun, outcome: FrameOutcome, **extra: Any) -> None:
        self.host.events.emit(EventType.ITEM_FAILED, node=self.gid, kind=self.kind,
                              item=self.item_id(run.index), attempt=run.attempt,
                              message=outcome.message, exit_code=outcome.exit_code,
                              failed_node=outcome.node or None, timed_out=outcome.timed_out
                              or None, **extra)

    def _result(self, run: ItemRun, status: str, outcome: FrameOutcome) -> dict[str, Any]:
        assert self.items is not None
        # `commits` stays empty while agents share the run's checkout: parallel agents'
        # commits cannot be told apart there. Agents in their own worktrees will fill it.
        return {"item_id": self.item_id(run.index), "index": run.index, "status": status,
                "output": outcome.output, "exit_code": 0 if outcome.ok else outcome.exit_code,
                "duration": round(time.monotonic() - run.started, 3),
                "error": outcome.message or None, "failed_node": outcome.node or None,
                "attempts": run.attempt, "commits": [], "item": self.items[run.index]}

    # --- the end ---------------------------------------------------------------------------

    def conclude(self) -> None:
        ok_, failed, skipped = (self.counts["succeeded"], self.counts["failed"],
                                self.counts["skipped"])
        path = self.spool.finish()
        # `map.results` itself is loaded from the file by the nodes that read it.
        variables = {"map.successful": ok_, "map.failed": failed, "map.skipped": skipped,
                     "map.total": self.total, RESULTS_FILE: str(path)}
        summary = (f"Map phase completed: {ok_} successful, {failed} failed"
                   + (f", {skipped} skipped" if skipped else "") + f" (total: {self.total})")
        if self.queued_now:
            summary += (f"; {self.queued_now} sent to the dead-letter queue "
                        f"(prodigy dlq list {self.host.run_id})")
        self.note(summary)
        if self.halt is not None:
            self.finish(False, f"map stopped: {self.halt}", variables, summary)
        else:
            self.finish(True, "", variables, summary)


def _decode(encoded: Any) -> Any:
    return None if encoded is None else from_json(thaw(encoded))
