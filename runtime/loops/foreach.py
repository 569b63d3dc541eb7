"""`foreach` nodes whose items are known at run time (or that must stay one node).

Items are the node's literal `items`, or the non-empty, stripped stdout lines of its
`command` (run through the executor in the node's directory; a failing command fails the
node). `max_items` keeps the first N. The `do` sub-plan runs once per item with `${item}`,
`${index}` (0-based) and `${total}` bound (and PRODIGY_ITEM in the environment), at most
`parallel` items at once (items.py). Its steps are any kind, claude included.

A failed item fails the node unless `continue_on_error`; then no new item starts, the ones
running finish, and the node fails naming the first failure. The node publishes
`foreach.output` = "Foreach completed: T total, S successful, F failed" (upstream's line,
also written to the node's log), `foreach.total`, `foreach.successful`, `foreach.failed`.
Finished items are checkpointed one by one: a resumed run skips the ones that succeeded and
runs the failed and the unfinished ones again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prodigy.runtime.events import EventType
from prodigy.runtime.frame import Frame
from prodigy.runtime.loops.base import FrameOutcome, tail_lines
from prodigy.runtime.loops.items import ItemLoop, ItemRun
from prodigy.runtime.ops import NodeResult, Prepared
from prodigy.runtime.store import ItemStatus

if TYPE_CHECKING:
    from prodigy.runtime.run import Run


class ForeachLoop(ItemLoop):
    kind = "foreach"

    def __init__(self, host: Run, frame: Frame, node_id: str, prepared: Prepared) -> None:
        super().__init__(host, frame, node_id, prepared)
        self.body = self.params.body
        self.first_failure = ""

    def begin(self) -> None:
        if self.params.items is not None:
            self._use(list(self.params.items))
            return
        command = self.inputs["command"]
        self.note(f"$ {command}   # foreach items")
        self.run_shell("items", command, None)

    def aux_finished(self, tag: str, result: NodeResult) -> None:
        super().aux_finished(tag, result)
        if self.stopping:
            self.check_stopped()
            return
        if not result.ok:
            self.concluded = True
            message = f"foreach item command failed ({result.message}): {self.inputs['command']}"
            self.note(message)
            self.finish(False, message, output=result.output)
            return
        stdout = str(result.variables.get("stdout") or "")
        self._use([line.strip() for line in stdout.splitlines() if line.strip()])

    def _use(self, items: list[Any]) -> None:
        if self.params.max_items is not None:
            items = items[: max(0, self.params.max_items)]
        self.set_items(items)

    def parallelism(self) -> int:
        return int(self.params.parallel or 1)

    def item_vars(self, index: int) -> dict[str, Any]:
        assert self.items is not None
        return {"item": self.items[index], "index": index, "total": self.total}

    def item_done(self, run: ItemRun, outcome: FrameOutcome) -> None:
        assert self.items is not None
        item = self.items[run.index]
        result = {"item_id": self.item_id(run.index), "index": run.index, "item": item,
                  "status": "succeeded" if outcome.ok else "failed",
                  "output": outcome.output, "error": outcome.message or None}
        if outcome.ok:
            self.record(run, ItemStatus.SUCCEEDED, result)
            return
        self.record(run, ItemStatus.FAILED, result)
        self.host.events.emit(EventType.ITEM_FAILED, node=self.gid, kind=self.kind,
                              label=self.node.label, item=self.item_id(run.index),
                              item_label=self.label(run.index), message=outcome.message,
                              exit_code=outcome.exit_code, failed_node=outcome.node or None,
                              failed_step=outcome.label or None,
                              stderr=tail_lines(outcome.stderr or outcome.failed_output),
                              log=outcome.log or None)
        if not self.first_failure:
            self.first_failure = (f"item {run.index} ({self.label(run.index)}) failed at "
                                  f"{outcome.label}: {outcome.message}")
        if not self.params.continue_on_error:
            self.halt = self.first_failure

    def conclude(self) -> None:
        ok_, failed = self.counts["succeeded"], self.counts["failed"]
        summary = f"Foreach completed: {self.total} total, {ok_} successful, {failed} failed"
        self.note(summary)
        variables = {"foreach.output": summary, "foreach.total": self.total,
                     "foreach.successful": ok_, "foreach.failed": failed}
        if failed and not self.params.continue_on_error:
            self.finish(False, f"{self.first_failure} ({summary})", variables, summary)
        else:
            self.finish(True, "", variables, summary)
