"""Events and outcomes in words people read: the lines of the human reporters, `prodigy
events`, and the end-of-run summary.

Lines speak the workflow's terms, not the plan's: nodes by their label and items by theirs
(`loops/work_items.item_label`), why a node did not run in a phrase (`skipped  L: an earlier
step failed`, `FAILED   L: exit code 1 (failed after 3 attempts)`), counts as steps and items.
Which events deserve a line at all is the reporters' call (`report.py`, `hidden`).
"""

from __future__ import annotations

from typing import IO, Any

CONTROL_KINDS = frozenset({"handler", "barrier", "gate"})  # the compiler's nodes, not steps
LOOP_KINDS = frozenset({"map", "foreach", "validate", "goal_seek"})  # they run sub-plans
# Conditional bodies whose condition did not happen: no news.
NOT_NEEDED = frozenset({"handler_not_needed", "on_success_not_needed", "exit_code_not_matched"})

# Why a node did not run, as a phrase (scheduler.Reason values).
_NOT_RUN = {
    "upstream_failed": "an earlier step failed",
    "run_failed": "the run failed",
    "gate_closed": "its `when:` condition is false",
    "interrupted": "the run was interrupted",
    "budget": "a spend limit was reached",
    "no_worktree": "the run works in place: there is no branch to merge back",
    "handler_not_needed": "its on_failure handler was not needed",
    "on_success_not_needed": "its on_success step was not needed",
    "exit_code_not_matched": "no on_exit_code entry matched",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.1f}s"


def hidden(record: dict[str, Any]) -> bool:
    """Events with no line of their own: the compiler's control nodes doing their job,
    handler bodies that were not needed, a node going again after its handler."""
    kind = record.get("event")
    if kind in ("node_started", "node_finished", "node_skipped", "node_reused") \
            and record.get("kind") in CONTROL_KINDS:
        return record.get("status") not in ("failed", "interrupted")
    if kind == "node_retrying" and record.get("handler"):
        return True  # its next attempt's `start` line says so
    return kind == "node_skipped" and record.get("reason") in NOT_NEEDED


def item_name(record: dict[str, Any]) -> str:
    return str(record.get("item_label") or record.get("item") or "")


def _attempts(record: dict[str, Any]) -> int:
    return int(record.get("attempts") or 1)


def _failed(record: dict[str, Any]) -> str:
    """Why a node failed: its message, and what its handler had to do with it."""
    message, reason = record.get("message") or "", record.get("reason")
    if reason == "attempts_exhausted":
        n = _attempts(record)
        after = f"failed after {n} attempts" if n > 1 else "its on_failure handler ran"
        return f"{message} ({after})" if message else after
    why = {"handler_failed": "its on_failure handler failed too",
           "tolerated": "tolerated by its handler",
           "run_failed": "the run failed while its handler ran"}.get(str(reason))
    if why is not None:
        return f"{message} ({why})" if message else why
    return message or str(reason or "failed").replace("_", " ")


def event_line(record: dict[str, Any]) -> str | None:
    """A one-line human rendering of an event record (also used by `prodigy events`)."""
    kind = record.get("event")
    label = record.get("label") or record.get("node") or ""
    if record.get("item") and kind not in ("item_failed", "item_merged"):
        label = f"{label} [{item_name(record)}]"  # a node inside a loop item
    if kind == "node_finished":
        status = record.get("status")
        if status == "succeeded":
            return f"ok       {label} ({duration(record.get('duration_s'))})"
        if status == "handled":
            n = _attempts(record)
            times = f"failed {n} times" if n > 1 else "failed"
            return f"handled  {label} ({times}; its on_failure handler ran, the run goes on)"
        if status == "interrupted":
            return f"stopped  {label} (interrupted)"
        return f"FAILED   {label}: {_failed(record)}"
    if kind == "node_started":
        return f"start    {label}" + (f" (attempt {record['attempt']})"
                                      if (record.get("attempt") or 1) > 1 else "")
    if kind == "node_reused":
        return f"reused   {label} (checkpoint)"
    if kind == "node_skipped":
        reason = str(record.get("reason") or "")
        why = _NOT_RUN.get(reason, reason.replace("_", " "))
        if reason == "gate_closed" and record.get("cause") == "map":  # the reduce steps' gate
            why = "the map had no items"
        word = "not run " if record.get("status") == "not_run" else "skipped "
        return f"{word} {label}: {why}"
    if kind == "node_retrying":
        if record.get("handler"):
            return f"retry    {label} after its on_failure handler (attempt {record['attempt']})"
        return (f"retry    {label} in {record.get('delay_s')}s: "
                f"{record.get('message') or 'failed'}")
    if kind == "handler_started":
        return f"handler  {label}: running its on_failure handler"
    return _loop_line(kind, label, record) or _run_line(kind, record)


def _loop_line(kind: Any, label: str, record: dict[str, Any]) -> str | None:
    if kind == "loop_started":
        retry = f", retrying {record['retry']}" if record.get("retry") else ""
        held = (f" (it asks for {record['asked']}; --jobs {record['jobs']})"
                if record.get("asked") else "")
        return (f"{record.get('kind', 'loop'):<8} {label}: {record.get('total')} items, "
                f"{record.get('window')} at a time{held}{retry}")
    if kind == "loop_progress":
        extra = "".join(f", {record[k]} {k}" for k in ("skipped", "reused") if record.get(k))
        word = "done    " if record.get("final") else "progress"
        return (f"{word} {label}: {record.get('done')}/{record.get('total')} items "
                f"({record.get('succeeded')} ok, {record.get('failed')} failed{extra}), "
                f"{record.get('running')} running")
    if kind == "item_failed":
        after = (f"; retry in {record['retrying']}s" if record.get("retrying") is not None
                 else "; skipped" if record.get("skipped") else "; sent to the DLQ"
                 if record.get("dlq") else "")
        step = f" in {record['failed_step']}" if record.get("failed_step") else ""
        return (f"FAILED   {label} [{item_name(record)}]: {record.get('message')}{step}"
                f"{after}")
    if kind == "attempt_scored":
        if record.get("kind") == "goal_seek":
            value = f"score {record.get('score')}"
        else:
            value = f"{record.get('completion')}% complete ({record.get('status')})"
        return (f"measure  {record.get('node')} attempt {record.get('attempt')}: {value}, "
                f"threshold {record.get('threshold')}")
    if kind == "item_merged":
        commits = record.get("commits") or []
        return (f"merged   {record.get('node')} [{item_name(record)}]: {len(commits)} "
                f"commit{'s' * (len(commits) != 1)} from {record.get('branch')}")
    if kind == "agent_tool_use":
        where = f" [{item_name(record)}]" if record.get("item") else ""
        return (f"agent    {record.get('label')}{where}: {record.get('tool')} "
                f"(turn {record.get('turn')})")
    return None


def _run_line(kind: Any, record: dict[str, Any]) -> str | None:
    if kind == "run_note":
        return f"note     {record.get('message')}"
    if kind in ("run_started", "run_resumed"):
        verb = "resuming" if kind == "run_resumed" else "running"
        size = (f"{record['steps']} steps" if record.get("steps") is not None
                else f"{record.get('nodes')} nodes")
        return (f"{verb} {record.get('workflow') or record.get('source')} as "
                f"{record.get('run_id')} ({size}, {record.get('executor')} executor, "
                f"{record.get('jobs')} jobs)")
    if kind == "run_finished":
        if record.get("unchanged"):
            return f"run {record.get('status')}: {record.get('message')}"
        return (f"run {record.get('status')} in {duration(record.get('duration_s'))}: "
                f"{counts_text(record.get('steps'), record.get('items'), record.get('counts'))}")
    return None


def counts_text(steps: dict[str, int] | None, items: dict[str, int] | None,
                nodes: dict[str, int] | None = None) -> str:
    """`3 steps (2 succeeded, 1 reused); 3 items (2 succeeded, 1 failed)`; plain node counts
    when the step counts are not known (an event log written before they were)."""
    def part(counts: dict[str, int], noun: str) -> str:
        total = sum(counts.values())
        inner = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
        return f"{total} {noun}{'s' * (total != 1)} ({inner})" if total else f"0 {noun}s"

    if not steps and not items:
        return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in (nodes or {}).items())
    return "; ".join([part(steps or {}, "step")] + ([part(items, "item")] if items else []))


def write_summary(err: IO[str], outcome: Any) -> None:
    """The end of a run: its counts, what failed and why, where to look, how to go on."""
    if getattr(outcome, "unchanged", False):
        err.write(f"{outcome.message}\n")
        err.flush()
        return
    err.write(f"run {outcome.run_id} {outcome.status} in {duration(outcome.duration)}: "
              f"{counts_text(outcome.steps, outcome.items, outcome.counts)}\n")
    if outcome.message:
        err.write(f"  {outcome.message}\n")
    if getattr(outcome, "spend", None) is not None:
        err.write(f"  agents: {outcome.spend.agents}, {outcome.spend.line()}\n")
    for failed in outcome.failed:
        reason = _failed({**failed, "message": failed.get("message") or ""})
        err.write(f"  FAILED {failed['label']} [{failed['node']}]: {reason}\n")
        for line in failed["output"].rstrip("\n").splitlines()[-20:]:
            err.write(f"    | {line}\n")
        err.write(f"    log: {failed['log']}\n")
    _failed_items(err, outcome)
    if str(outcome.status) != "succeeded":
        err.write(f"resume with: prodigy resume {outcome.run_id}\n")
    err.flush()


def _failed_items(err: IO[str], outcome: Any) -> None:
    total = outcome.failed_items_total
    if not total:
        return
    run_id = outcome.run_id
    err.write(f"  {total} failed item{'s' * (total != 1)} in the dead-letter queue "
              f"(prodigy dlq list {run_id}):\n")
    for item in outcome.failed_items:
        step = f" in {item['failed_step']}" if item.get("failed_step") else ""
        err.write(f"  FAILED item {item['item_label']} of {item['loop']}: {item['error']}"
                  f"{step}\n")
        for line in str(item.get("stderr") or "").rstrip("\n").splitlines()[-3:]:
            err.write(f"    | {line[:200]}\n")
        err.write(f"    details: prodigy dlq show {run_id} {item['item_id']}\n")
    if total > len(outcome.failed_items):
        err.write(f"  ... and {total - len(outcome.failed_items)} more: "
                  f"prodigy dlq list {run_id}\n")
