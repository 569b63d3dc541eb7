"""The map phase at run time: work items in, one agent per item, results and the DLQ out.

    begin: render `input` (workflow env and setup captures: `$VAR`, `${VAR}`); a JSON file
           relative to the run's directory is read, anything else runs as a command (through
           the executor, 5 minutes at most) whose output is JSON, JSON lines or plain lines;
           then json_path -> filter -> sort -> distinct -> offset -> max_items (work_items.py)
    items: the agent sub-plan once per item (`item`, `item_index`, `item_total`, `item_id`,
           `item_json`), at most max_parallel at once (items.py), each in its own working
           directory context (workdir.py), under agent_timeout_secs / timeout_config
    end:   `map.results` (one entry per item, in item order: item_id, index, status, label,
           output, exit_code, duration (from its first command on), error, failed_node,
           failed_step, stderr and log (of a failure), attempts, commits, item),
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

In a run with a worktree of its own, each agent works in a worktree of its own too, on branch
`prodigy/<run id>.agents/<item id>` made from the run branch as it was when the map started (made on
a driver thread as the agent's slot opens, never all at once). When an agent succeeds, its
commits are merged into the run branch by the one merge queue while other agents go on; a
conflict fails the item (`merge_conflict`, into the DLQ) and keeps its branch and worktree, as
a failed agent's are kept (`git/agents.py`). A merged item whose record a crash lost is
recorded from its merge commit on resume, never run (and merged) twice.

Timeouts: `per_agent` (default) gives the agent agent_timeout_secs for all its commands;
`per_command` limits each command to command_timeouts[its node id or step id] (`*` for any
other), falling back to agent_timeout_secs; `hybrid` applies both. timeout_action: dlq
(default) and graceful_terminate queue the item (commands get the usual TERM, grace, KILL),
skip records it skipped, fail stops the map.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodigy.runtime.budgets import Budget
from prodigy.runtime.events import EventType
from prodigy.runtime.expr import from_json
from prodigy.runtime.frame import Frame
from prodigy.runtime.git import agents
from prodigy.runtime.git.repo import find_repo, head_of
from prodigy.runtime.git.worktrees import WorktreeHome, agent_branch
from prodigy.runtime.input_files import missing_file
from prodigy.runtime.loops.base import FrameOutcome, tail_lines
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
from prodigy.runtime.loops.workdir import SharedDir
from prodigy.runtime.map_results import RESULTS_FILE, ResultSpool
from prodigy.runtime.nodes import thaw
from prodigy.runtime.ops import NodeResult, Prepared
from prodigy.runtime.store import DlqDrop, DlqPut, ItemRecord, ItemStatus, safe_name
from prodigy.runtime.usage import Spend

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
        # Agents' own worktrees, when the run has one (`begin` reads the map's base commit).
        self.worktrees: WorktreeHome | None = None
        self.base = ""
        self.merged: dict[int, tuple[str, tuple[str, ...]]] = {}  # found on resume
        self.merging: dict[int, tuple[ItemRun, FrameOutcome]] = {}
        self.budget = Budget.of(self.params)  # the map's own spend limit (budgets.py)
        self.spend = Spend()

    # --- items -----------------------------------------------------------------------------

    def begin(self) -> None:
        ws = self.host.workspace
        if ws.isolated:
            repo = find_repo(Path(ws.worktree))
            if repo is None:
                self._fail(f"the run's worktree {ws.worktree} is not a git checkout any more")
                return
            self.worktrees = WorktreeHome(repo)
            self.base = head_of(Path(ws.worktree))
            if not self.fresh:
                self.merged = agents.merged_items(ws, self.gid)
        source = self.inputs["input"]
        if source and (self.cwd / source).is_file():
            try:
                data = read_input(source, self.cwd, {})
            except WorkItemError as exc:
                self._fail(str(exc))
                return
            self._select(data)
            return
        missing = missing_file(source, self.cwd)
        if missing is not None:
            self._fail(missing)
            return
        self.note(f"$ {source}   # map input command")
        self.run_shell("input", source, INPUT_COMMAND_TIMEOUT_S, on_driver=True)

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

    def parallelism(self) -> int:
        return int(self.params.max_parallel)

    def item_vars(self, index: int) -> dict[str, Any]:
        assert self.items is not None
        return item_variables(self.items[index], index, self.total)

    def reusable(self, record: ItemRecord) -> bool:
        return True  # failures are final: they are in the DLQ, and `dlq retry` reruns them

    def recovered(self, index: int) -> dict[str, Any] | None:
        found = self.merged.get(index)
        if found is None or self.items is None:
            return None
        merge_commit, commits = found
        if self.worktrees is not None:  # a crash may have cut its removal short
            item_id = self.item_id(index)
            self.worktrees.remove(self.worktrees.agent_path(self.host.run_id, item_id),
                                  agent_branch(self.host.run_id, item_id), keep_meta=False)
        return {"item_id": self.item_id(index), "index": index, "status": "succeeded",
                "label": self.label(index), "output": "", "exit_code": 0, "duration": 0.0,
                "error": None,
                "failed_node": None, "attempts": 1, "commits": list(commits),
                "branch": agent_branch(self.host.run_id, self.item_id(index)),
                "merge_commit": merge_commit, "item": self.items[index]}

    # --- agents' worktrees (runs with a worktree of their own) ------------------------------

    def _launch(self, index: int, attempt: int) -> None:
        if self.worktrees is None:
            super()._launch(index, attempt)
            return
        home, ws, item_id = self.worktrees, self.host.workspace, self.item_id(index)
        tag = f"worktree:{index}:{attempt}"
        self.starting += 1
        self.aux.add(tag)
        self.host.background(self, tag, lambda: agents.create(ws, home, self.host.run_id,
                                                              item_id, self.base))

    def job_finished(self, tag: str, future: Future[Any]) -> None:
        super().job_finished(tag, future)
        if not tag.startswith(("worktree:", "merge:", "cleanup:")):
            return  # the input command (Loop handles it)
        kind, index_text, attempt_text = [*tag.split(":"), ""][:3]
        index = int(index_text)
        error = future.exception()
        if kind == "worktree":
            self.starting -= 1
            if self.stopping:
                self.check_stopped()  # it runs again on resume (its worktree is remade)
                return
            if error is not None:
                run = ItemRun(index, int(attempt_text), time.time(), SharedDir(self.cwd))
                self.item_done(run, FrameOutcome(False, False, False,
                                                 f"cannot make the agent's worktree: {error}"))
                return
            self.spawn_item(index, int(attempt_text), future.result())
            return
        if kind == "cleanup":
            if error is not None:  # a leftover `worktree clean` removes; the item merged
                self.note(f"could not remove the worktree of item {index}: {error}")
            return
        run, outcome = self.merging.pop(index)
        merge = (future.result() if error is None
                 else agents.AgentMerge(error=f"merge failed: {error}", kept=True))
        if merge.ok:
            self._succeeded(run, outcome, merge)
            agent = run.workdir
            assert isinstance(agent, agents.AgentWorktree)
            self.aux.add(f"cleanup:{index}:{run.attempt}")
            self.host.background(self, f"cleanup:{index}:{run.attempt}",
                                 lambda: agents.remove(agent))
            return
        self._give_up(run, replace(outcome, ok=False, message=merge.error,
                                   failed_output="\n".join(merge.conflicts)))

    def _merge(self, run: ItemRun, outcome: FrameOutcome) -> None:
        agent = run.workdir
        assert isinstance(agent, agents.AgentWorktree)
        ws, run_id, label = self.host.workspace, self.host.run_id, self._label(run.index)
        self.merging[run.index] = (run, outcome)
        tag = f"merge:{run.index}"
        self.aux.add(tag)
        self.host.background(self, tag, lambda: agents.merge(ws, agent, run_id, self.gid,
                                                             run.index, label), serial=True)

    def _label(self, index: int) -> str:
        """The item in its merge commit's message: its id, and its label when that says more."""
        label, item_id = self.label(index), self.item_id(index)
        return item_id if label == item_id else f"{item_id} ({label})"

    def may_start(self, now: float) -> bool:
        return self.breaker is None or self.breaker.allow(now)

    def ahead_allowed(self) -> bool:
        p = self.params
        per_agent = p.agent_timeout_s and p.timeout_policy in ("per_agent", "hybrid")
        return self.worktrees is None and not per_agent and self.breaker is None

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

    def collect(self, index: int, result: dict[str, Any]) -> None:
        self.spool.add(index, result)
        if self.budget:
            self.spend.add_entry(result)
            why = self.budget.exceeded(self.spend, "the map's")
            if why is not None and self.halt is None:
                self.halt = why  # items not started stay pending: resume runs them

    def item_done(self, run: ItemRun, outcome: FrameOutcome) -> None:
        if outcome.ok and isinstance(run.workdir, agents.AgentWorktree):
            self._merge(run, outcome)
            return
        if outcome.ok:
            self._succeeded(run, outcome, None)
            return
        if isinstance(run.workdir, agents.AgentWorktree):
            agents.keep_failed(run.workdir, outcome.message)
        self._failed(run, outcome)

    def _succeeded(self, run: ItemRun, outcome: FrameOutcome,
                   merge: agents.AgentMerge | None) -> None:
        if self.breaker is not None:
            self.breaker.record(True, time.monotonic())
        result = self._result(run, "succeeded", outcome)
        if merge is not None and isinstance(run.workdir, agents.AgentWorktree):
            result.update(commits=list(merge.commits), branch=run.workdir.info.branch,
                          merge_commit=merge.merge_commit or None)
            if merge.commits:
                self.host.events.emit(EventType.ITEM_MERGED, node=self.gid, kind=self.kind,
                                      item=self.item_id(run.index), commits=list(merge.commits),
                                      branch=run.workdir.info.branch,
                                      merge_commit=merge.merge_commit)
        self.record(run, ItemStatus.SUCCEEDED, result)
        if run.index in self.queued:
            self.host.writes.append(DlqDrop(self.gid, run.index))
            self.queued.discard(run.index)

    def _failed(self, run: ItemRun, outcome: FrameOutcome) -> None:
        action = self.params.timeout_action if outcome.timed_out else "dlq"
        retry = self.policy.retry
        if retry is not None and action not in ("skip", "fail") and not self.stopping:
            delay = retry.next_delay(run.attempt, f"{outcome.message}\n{outcome.failed_output}",
                                     outcome.timed_out, 0.0)
            if delay is not None:
                self._failed_event(run, outcome, retrying=round(delay, 3))
                self.retry_later(run.index, run.attempt + 1, delay)
                return
        self._give_up(run, outcome, action)

    def _give_up(self, run: ItemRun, outcome: FrameOutcome, action: str = "dlq") -> None:
        """The item failed for good: skipped, or into the DLQ (and maybe the map stops)."""
        if self.breaker is not None:
            self.breaker.record(False, time.monotonic())
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
            self.halt = self.halt or self.policy.stop_reason(self.counts["failed"], self.total)

    def _queue(self, run: ItemRun, outcome: FrameOutcome) -> None:
        assert self.items is not None
        previous = (self.host.store.dlq_get(self.host.run_id, self.gid, run.index)
                    if run.index in self.queued else None)
        started_at, now = outcome.started_at or run.started_at, time.time()
        entry = make_entry(previous, run_id=self.host.run_id, loop=self.gid, index=run.index,
                           item=self.items[run.index], item_label=self.label(run.index),
                           message=outcome.message, timed_out=outcome.timed_out,
                           exit_code=outcome.exit_code, node=outcome.node, label=outcome.label,
                           attempts=run.attempt, output=outcome.failed_output,
                           stderr=outcome.stderr, log=outcome.log, started_at=started_at,
                           duration=max(0.0, now - started_at), now=now)
        self.host.writes.append(DlqPut(self.gid, run.index, self.host.masker.mask_data(entry)))
        self.queued.add(run.index)
        self.queued_now += 1

    def _failed_event(self, run: ItemRun, outcome: FrameOutcome, **extra: Any) -> None:
        self.host.events.emit(EventType.ITEM_FAILED, node=self.gid, kind=self.kind,
                              label=self.node.label, item=self.item_id(run.index),
                              item_label=self.label(run.index), attempt=run.attempt,
                              message=outcome.message, exit_code=outcome.exit_code,
                              failed_node=outcome.node or None,
                              failed_step=outcome.label or None,
                              stderr=tail_lines(outcome.stderr or outcome.failed_output),
                              log=outcome.log or None,
                              timed_out=outcome.timed_out or None, **extra)

    def _result(self, run: ItemRun, status: str, outcome: FrameOutcome) -> dict[str, Any]:
        assert self.items is not None
        # `commits` stays empty when agents share the run's checkout (in place): parallel
        # agents' commits cannot be told apart there. `_succeeded` fills it from the merge.
        spend = run.spend.to_json() if run.spend is not None and run.spend.agents else {}
        # From its first command on: time spent waiting for a slot or a worktree is not its.
        started = outcome.started_at or run.started_at
        failed = not outcome.ok
        return {"item_id": self.item_id(run.index), "index": run.index, "status": status,
                "label": self.label(run.index),
                "output": outcome.output, "exit_code": 0 if outcome.ok else outcome.exit_code,
                "duration": round(max(0.0, time.time() - started), 3),
                "error": outcome.message or None, "failed_node": outcome.node or None,
                "failed_step": outcome.label or None,
                "stderr": outcome.stderr if failed else None,
                "log": (outcome.log or None) if failed else None,
                "attempts": run.attempt, "commits": [], "item": self.items[run.index],
                **({"cost_usd": spend["cost_usd"], "tokens": spend["tokens"]} if spend else {})}

    # --- the end ---------------------------------------------------------------------------

    def conclude(self) -> None:
        if self.worktrees is not None and agents.sweep(self.worktrees, self.host.run_id):
            self.note("removed agent worktrees a crash left behind")
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
        # The map is the gate of the reduce steps (`compiler/lower_loops.py`): no items, no
        # reduce. Kept in its checkpoint, so a resume decides the same.
        assert self.result is not None
        self.result = replace(self.result, gate=self.total > 0)


def _decode(encoded: Any) -> Any:
    return None if encoded is None else from_json(thaw(encoded))
