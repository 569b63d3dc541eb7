"""`prodigy dlq list | show | retry | purge RUN_ID`: the dead-letter queue of a run's map.

    list RUN_ID                one line per failed item, named by its id and its label (the
                               item's value, id, name, path or file) (or --json: the entries)
    show RUN_ID ITEM           one entry in full: error, exit code, failed step, attempts,
                               stderr and output tails, log; ITEM is its id (item_3) or label
    retry RUN_ID [--filter EXPR] [--jobs N]
                               run the (matching) failed items again with the same agent
                               template, update their results, drop the ones that succeed
                               from the queue, and run reduce again over the merged results
    purge RUN_ID               empty the queue (the items stay recorded as failed)

`--filter` is a map-filter expression over the entries (`error_type == 'timeout'`,
`exit_code == 2`, `item.priority > 3`, `failure_count < 3`). A retry is a resume of the run
that forces its map node and everything after it, with the named items forced to run: setup
is reused from its checkpoints, the other items from their records. Exit codes as elsewhere:
0 ok (after a retry: every retried item succeeded), 1 a retried item still fails or the run
failed, 2 invalid input (no such run, item or a bad filter), 4 the state dir is locked by a
live run, 130 interrupted. The compiler is imported only to parse `--filter`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from prodigy.cli.common import (
    ExitCode,
    MergeChoice,
    invalid_input,
    local_time,
    resolve_state_dir,
    run_and_report,
    stored_plan,
)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = commands.add_parser("dlq", help="failed map items of a run: list, show, retry, purge",
                              description="The dead-letter queue of a run's map phase.")
    actions = dlq.add_subparsers(dest="dlq_action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("run_id", metavar="RUN_ID")
        sub.add_argument("--state-dir", metavar="DIR",
                         help="run state directory (default: $PRODIGY_STATE_DIR or ./.prodigy)")
        sub.add_argument("--json", action="store_true", help="print JSON")
        return sub

    action("list", "list the failed items").set_defaults(handler=cmd_list)
    show = action("show", "show one failed item in full")
    show.add_argument("item_id", metavar="ITEM",
                      help="item_N, or the item's label (as `dlq list` shows them)")
    show.set_defaults(handler=cmd_show)
    retry = action("retry", "run failed items again and reduce over the merged results")
    retry.add_argument("--filter", metavar="EXPR",
                       help="retry only entries matching EXPR (e.g. \"error_type == 'timeout'\")")
    retry.add_argument("--jobs", "-j", type=int, metavar="N",
                       help="commands running at once (default: the CPU count, or the map's "
                            "max_parallel when that is larger)")
    retry.add_argument("--executor", choices=("local", "inline", "dask"), default="local")
    retry.add_argument("-y", "--yes", action="store_true",
                       help="merge the run's branch back when the retry succeeds, without asking")
    retry.set_defaults(handler=cmd_retry)
    action("purge", "empty the queue").set_defaults(handler=cmd_purge)


def _entries(args: argparse.Namespace) -> tuple[Any, list[dict[str, Any]]] | int:
    from prodigy.runtime.errors import CheckpointError
    from prodigy.runtime.store import CheckpointStore

    state = resolve_state_dir(args)
    try:  # a damaged run record, store or entry is the state's fault: exit 2, naming it
        if state.read_run(args.run_id) is None:
            return invalid_input(f"no run {args.run_id!r} in {state.root} (see `prodigy runs`)")
        store = CheckpointStore.for_reading(state.cache_dir)
        try:
            store.expect_run(args.run_id)  # an emptied store is not an empty queue
            return state, store.dlq_entries(args.run_id)
        finally:
            store.close()
    except CheckpointError as exc:
        return invalid_input(str(exc))


def cmd_list(args: argparse.Namespace) -> int:
    found = _entries(args)
    if isinstance(found, int):
        return found
    _, entries = found
    if args.json:
        print(json.dumps(entries, indent=1, ensure_ascii=False))
        return ExitCode.OK
    if not entries:
        print(f"the dead-letter queue of {args.run_id} is empty", file=sys.stderr)
        return ExitCode.OK
    labels = [_label(e) for e in entries]
    width = min(40, max(len("LABEL"), *(len(label) for label in labels)))
    print(f"{'ITEM':<12} {'LABEL':<{width}} {'TYPE':<16} {'EXIT':>5} {'FAILS':>5}  "
          f"{'LAST FAILURE':<19}  ERROR")
    for e, label in zip(entries, labels, strict=True):
        when = local_time(e.get("last_failure_at"))
        error = str(e.get("error") or "").splitlines()[0][:80] if e.get("error") else ""
        print(f"{e['item_id']:<12} {label[:width]:<{width}} {e.get('error_type', ''):<16} "
              f"{_text(e.get('exit_code')):>5} {e.get('failure_count', 1):>5}  {when:<19}  "
              f"{error}")
    return ExitCode.OK


def cmd_show(args: argparse.Namespace) -> int:
    from prodigy.runtime.loops.dlq import index_of

    found = _entries(args)
    if isinstance(found, int):
        return found
    _, entries = found
    index = index_of(args.item_id)
    entry = next((e for e in entries if e.get("index") == index), None)
    if entry is None and index is None:  # a label, if it names one entry
        named = [e for e in entries if _label(e) == args.item_id.strip()]
        entry = named[0] if len(named) == 1 else None
    if entry is None:
        return invalid_input(f"{args.item_id!r} is not in the dead-letter queue of "
                             f"{args.run_id} (see `prodigy dlq list`)")
    if args.json:
        print(json.dumps(entry, indent=1, ensure_ascii=False))
        return ExitCode.OK
    print(f"{'item_id:':<20} {entry.get('item_id')}")
    print(f"{'item_label:':<20} {_label(entry)}")
    for key in ("loop", "error", "error_type", "exit_code", "failed_step",
                "attempts", "failure_count", "reprocess_eligible", "log"):
        print(f"{key + ':':<20} {_text(entry.get(key))}")
    for key in ("first_failure_at", "last_failure_at"):
        print(f"{key + ':':<20} {local_time(entry.get(key))}")
    print(f"{'item:':<20} {json.dumps(entry.get('item'), ensure_ascii=False)}")
    stderr = str(entry.get("stderr") or "").rstrip("\n").splitlines()
    if stderr:
        print("stderr (tail):")
        for line in stderr:
            print(f"  | {line}")
    tail = str(entry.get("output_tail") or "").rstrip("\n").splitlines()[-30:]
    if tail:
        print("output (tail):")
        for line in tail:
            print(f"  | {line}")
    return ExitCode.OK


def cmd_purge(args: argparse.Namespace) -> int:
    from prodigy.runtime.store import CheckpointStore, StateLocked

    found = _entries(args)
    if isinstance(found, int):
        return found
    state, _ = found
    try:
        state.lock(args.run_id)  # a live run may be writing to this queue
    except StateLocked as exc:
        print(f"prodigy: {exc}", file=sys.stderr)
        return ExitCode.LOCKED
    try:
        store = CheckpointStore(state.cache_dir)
        try:
            removed = store.dlq_purge(args.run_id)
        finally:
            store.close()
    finally:
        state.unlock()
    if args.json:
        print(json.dumps({"run_id": args.run_id, "purged": removed}))
    else:
        print(f"purged {removed} item(s) from the dead-letter queue of {args.run_id}",
              file=sys.stderr)
    return ExitCode.OK


def cmd_retry(args: argparse.Namespace) -> int:
    found = _entries(args)
    if isinstance(found, int):
        return found
    state, entries = found
    if args.jobs is not None and args.jobs < 1:
        return invalid_input("--jobs must be at least 1")
    if args.filter:
        from prodigy.compiler.expressions import parse_filter  # only here: the runtime never
        from prodigy.runtime.expr import filter_items  # imports the compiler

        expr, problems = parse_filter(args.filter)
        if expr is None:
            return invalid_input(f"--filter {args.filter!r}: "
                                 + "; ".join(p.message for p in problems))
        entries = filter_items(entries, expr)
    if not entries:
        print(json.dumps({"run_id": args.run_id, "retried": [], "succeeded": [],
                          "still_failing": []}) if args.json else
              f"nothing to retry in the dead-letter queue of {args.run_id}",
              file=sys.stdout if args.json else sys.stderr)
        return ExitCode.OK
    wanted: dict[str, set[int]] = {}
    for entry in entries:
        wanted.setdefault(str(entry["loop"]), set()).add(int(entry["index"]))
    return _retry(args, state, wanted)


def _retry(args: argparse.Namespace, state: Any, wanted: dict[str, set[int]]) -> ExitCode:
    from prodigy.runtime.run import RunOptions
    from prodigy.runtime.store import CheckpointStore

    record = state.read_run(args.run_id)
    plan = stored_plan(state, args.run_id)  # the same P401 as `resume` when it is unreadable
    if isinstance(plan, ExitCode):
        return plan
    options = RunOptions(jobs=args.jobs, executor=args.executor,
                         retry_items={loop: frozenset(ix) for loop, ix in wanted.items()})
    # --json prints one result object below, so no event lines on stdout before it.
    run = run_and_report(plan, state, options, run_id=args.run_id, source=record.source,
                         cwd=Path(record.cwd), resume=True, bound=record.args,
                         events="none" if args.json else "human", store_plan=False,
                         merge=MergeChoice(yes=args.yes, ask=not args.json, options=options))
    if run.outcome is None:
        return run.code
    store = CheckpointStore(state.cache_dir)
    try:
        queued = set(store.dlq_indices(args.run_id))
    finally:
        store.close()
    retried = sorted((loop, i) for loop, ix in wanted.items() for i in ix)
    still = [f"item_{i}" for loop, i in retried if (loop, i) in queued]
    fixed = [f"item_{i}" for loop, i in retried if (loop, i) not in queued]
    if args.json:
        print(json.dumps({"run_id": args.run_id, "status": str(run.outcome.status),
                          "retried": [f"item_{i}" for _, i in retried], "succeeded": fixed,
                          "still_failing": still}))
    else:
        print(f"dlq retry: {len(retried)} item(s) retried: {len(fixed)} now succeed (removed "
              f"from the queue), {len(still)} still fail", file=sys.stderr)
    if run.code is ExitCode.OK and still:
        return ExitCode.FAILED  # a map can succeed with items left in its queue; a retry cannot
    return run.code


def _label(entry: dict[str, Any]) -> str:
    """The item as `dlq list` names it (entries from before labels: made from the item)."""
    from prodigy.runtime.loops.work_items import item_label

    return str(entry.get("item_label") or item_label(entry.get("item"),
                                                       int(entry.get("index") or 0)))


def _text(value: Any) -> str:
    return "" if value is None else str(value)
