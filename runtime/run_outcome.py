"""What the end of a run says: its counts, in plan nodes and in the user's terms, and what failed.

    outcome_of_run(run, status, duration, store) -> RunOutcome

`counts` count the main plan's nodes by state (the run record keeps them). `steps` count the
workflow's steps only: handler, barrier and gate nodes are the compiler's, not the user's, and
a handler body that was not needed is no step left undone. `items` add up what the main plan's
loops published (`map.successful`, `map.failed`, `map.skipped`, `map.total`, and foreach's),
reused loops included. `failed_items` are the map items in the dead-letter queue now, read
from the store, so a resume lists the items an earlier attempt queued as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prodigy.runtime.loops.work_items import item_label
from prodigy.runtime.scheduler import NodeState, Reason
from prodigy.runtime.store import CheckpointStore, RunStatus, safe_name

if TYPE_CHECKING:
    from prodigy.runtime.run import Run, RunOutcome

CONTROL_KINDS = frozenset({"handler", "barrier", "gate"})
NOT_NEEDED = frozenset({Reason.HANDLER_NOT_NEEDED, Reason.ON_SUCCESS_NOT_NEEDED,
                        Reason.EXIT_CODE_NOT_MATCHED})
FAILED_ITEMS_SHOWN = 20  # the summary lists this many; `prodigy dlq list` has them all


def outcome_of_run(run: Run, status: RunStatus, duration: float,
                   store: CheckpointStore) -> RunOutcome:
    from prodigy.runtime.run import RunOutcome

    main = run.main
    counts: dict[str, int] = {}
    steps: dict[str, int] = {}
    for node_id, node_state in main.sched.state.items():
        name = "reused" if node_id in main.reused else str(node_state)
        counts[name] = counts.get(name, 0) + 1
        if (main.tpl.nodes[node_id].kind not in CONTROL_KINDS
                and main.sched.reason.get(node_id) not in NOT_NEEDED):
            steps[name] = steps.get(name, 0) + 1
    if run.merge_nodes:
        counts["not_run"] = counts.get("not_run", 0) + len(run.merge_nodes)
    failed = []
    for node_id, node_state in main.sched.state.items():
        if node_state is NodeState.FAILED:
            result = main.results.get(node_id)
            failed.append({
                "node": node_id, "label": main.tpl.nodes[node_id].label,
                "reason": str(main.sched.reason.get(node_id) or ""),
                "message": result.message if result else "",
                "exit_code": result.exit_code if result else None,
                "output": result.output[-4000:] if result else "",
                "log": str(run.state.log_dir(run.run_id) / f"{safe_name(node_id)}.log"),
                "attempts": main.sched.attempts[node_id],
            })
    message = run.budget_stop or ""
    if run.timed_out:
        message = f"the workflow's timeout ({run.plan.workflow.get('timeout_s')}s) was reached"
    queued, total = failed_items(store, run.run_id)
    return RunOutcome(run.run_id, status, dict(sorted(counts.items())), failed, duration,
                      message, run.workspace, run.spend if run.spend.agents else None,
                      steps=dict(sorted(steps.items())), items=item_counts(run),
                      failed_items=queued, failed_items_total=total, signal=run.signal)


def item_counts(run: Run) -> dict[str, int]:
    """Items of the main plan's loops by outcome, from what each loop published."""
    main, out = run.main, {"succeeded": 0, "failed": 0, "skipped": 0, "not_started": 0}
    seen = False
    for node_id in main.tpl.graph.order:
        kind = main.tpl.nodes[node_id].kind
        result = main.results.get(node_id)
        if kind not in ("map", "foreach") or result is None:
            continue
        found = result.variables
        if f"{kind}.total" not in found:
            continue
        seen = True
        done = 0
        for key, name in (("successful", "succeeded"), ("failed", "failed"),
                          ("skipped", "skipped")):
            value = int(found.get(f"{kind}.{key}") or 0)
            out[name] += value
            done += value
        out["not_started"] += max(0, int(found[f"{kind}.total"]) - done)
    return {k: v for k, v in out.items() if v} if seen else {}


def failed_items(store: CheckpointStore, run_id: str,
                 limit: int = FAILED_ITEMS_SHOWN) -> tuple[list[dict[str, Any]], int]:
    """The first `limit` entries of the run's dead-letter queue (trimmed to what a summary
    shows), and how many there are."""
    indices = store.dlq_indices(run_id)
    shown = []
    for loop, index in indices[:limit]:
        entry = store.dlq_get(run_id, loop, index)
        if entry is None:
            continue
        shown.append({"loop": loop, "item_id": entry.get("item_id") or f"item_{index}",
                      "item_label": entry.get("item_label")
                      or item_label(entry.get("item"), index),
                      "error": entry.get("error") or "", "exit_code": entry.get("exit_code"),
                      "failed_step": entry.get("failed_step") or "",
                      "stderr": entry.get("stderr") or "",
                      "attempts": entry.get("attempts") or 1})
    return shown, len(indices)
