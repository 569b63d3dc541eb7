"""`prodigy runs [list|show RUN_ID]` and `prodigy events RUN_ID`: what runs did, read back;
`prodigy clean`: delete the state of runs that are over. `checkpoints list|show|clean` is
upstream's name for the three.

`runs` and `events` only read the state dir (a run's record and its event log), so they work
while the run is still going; `events --follow` keeps reading until the run ends. What `clean`
removes, and what never, is `runtime/run_cleanup.py`'s docstring.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodigy.cli.common import (
    ExitCode,
    invalid_input,
    local_time,
    older_than_seconds,
    resolve_state_dir,
)

if TYPE_CHECKING:
    from prodigy.runtime.store import RunRecord, StateDir


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = commands.add_parser(
        "runs", help="list past and current runs, or show one",
        description="List the runs in the state dir (status, start, time, workflow), or show "
                    "one: its steps, its map items (failed ones by label, with the command "
                    "that shows them) and what its agents cost.")
    runs.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    runs.add_argument("run_id", nargs="?", metavar="RUN_ID")
    runs.add_argument("--state-dir", metavar="DIR")
    runs.add_argument("--json", action="store_true", help="print JSON")
    runs.set_defaults(handler=cmd_runs)

    events = commands.add_parser(
        "events", help="print a run's event log",
        description="Print RUN_ID's event log as lines (or --json: as recorded); --follow "
                    "keeps printing while the run goes on.")
    events.add_argument("run_id", metavar="RUN_ID")
    events.add_argument("--state-dir", metavar="DIR")
    events.add_argument("--json", action="store_true", help="print the raw JSON lines")
    events.add_argument("--follow", "-f", action="store_true",
                        help="keep printing new events until the run ends")
    events.set_defaults(handler=cmd_events)

    clean = commands.add_parser(
        "clean", help="delete the state of finished runs",
        description="Delete the state of runs that are over (succeeded, failed, or interrupted "
                    "with no process left): run dir, checkpoint records, DLQ; and input groups "
                    "with no run left. A running run is never touched; worktrees are `prodigy "
                    "worktree clean`'s.")
    _clean_options(clean)

    # Upstream's names: `checkpoints list|show RUN_ID|clean` are `runs list|show` and `clean`.
    checkpoints = commands.add_parser("checkpoints", help="runs list | show | clean, by "
                                                          "upstream's name",
                                      description="Aliases: `runs list`, `runs show RUN_ID`, "
                                                  "`clean`.")
    actions = checkpoints.add_subparsers(dest="checkpoints_action", metavar="ACTION",
                                      required=True)
    for name, aliases in (("list", ["ls"]), ("show", [])):
        action = actions.add_parser(name, aliases=aliases, help=f"= prodigy runs {name}",
                                    description=f"The same as `prodigy runs {name}`.")
        if name == "show":
            action.add_argument("run_id", metavar="RUN_ID")
        action.add_argument("--state-dir", metavar="DIR")
        action.add_argument("--json", action="store_true", help="print JSON")
        action.set_defaults(handler=cmd_runs, action=name, **({"run_id": None}
                                                              if name == "list" else {}))
    _clean_options(actions.add_parser("clean", help="= prodigy clean",
                                      description="The same as `prodigy clean`."))


def _clean_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--older-than", metavar="DURATION",
                        help="only runs that ended more than DURATION ago (30m, 12h, 7d; "
                             "units s m h d)")
    parser.add_argument("--dry-run", action="store_true", help="list what would go; delete "
                                                               "nothing")
    parser.add_argument("--state-dir", metavar="DIR")
    parser.add_argument("--json", action="store_true", help="print what went as JSON")
    parser.set_defaults(handler=cmd_clean)


def cmd_runs(args: argparse.Namespace) -> ExitCode:
    state = resolve_state_dir(args)
    if args.action == "show":
        return _show(args, state)
    records, damaged = state.scan_runs()
    for problem in damaged:  # listed after the readable runs' table: exit 2 says so
        print(f"prodigy: {problem}", file=sys.stderr)
    done = ExitCode.INVALID if damaged else ExitCode.OK
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=1))
        return done
    if not records:
        print(f"no runs in {state.root}", file=sys.stderr)
        return done
    print(f"{'RUN_ID':<32} {'STATUS':<12} {'STARTED':<20} {'TIME':>8}  WORKFLOW")
    for r in records:
        took = f"{_ended(state, r) - r.created_at:.1f}s"
        print(f"{r.run_id:<32} {r.status!s:<12} {local_time(r.created_at):<20} {took:>8}  "
              f"{r.workflow or r.source}")
    return done


def cmd_events(args: argparse.Namespace) -> ExitCode:
    from prodigy.runtime.events import follow, pid_alive, read_events
    from prodigy.runtime.store import RunStatus

    state = resolve_state_dir(args)
    record = state.read_run(args.run_id)
    if record is None:
        return invalid_input(f"no run {args.run_id!r} in {state.root}", code="P505")
    path = state.events_path(args.run_id)

    def alive() -> bool:
        current = state.read_run(args.run_id)
        return bool(current and current.status is RunStatus.RUNNING and pid_alive(current.pid))

    try:
        _print_events(follow(path, alive) if args.follow else read_events(path), args)
    except UnicodeDecodeError as exc:
        return invalid_input(_not_utf8(path, exc))
    return ExitCode.OK


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> str:
    return (f"{path}: the event log is damaged (byte {exc.start} of a line is not UTF-8): "
            "delete the run's directory to forget the run")


def _print_events(stream: Any, args: argparse.Namespace) -> None:
    from prodigy.runtime.report_lines import event_line

    for event in stream:
        if args.json:
            print(json.dumps(event, ensure_ascii=False), flush=args.follow)
            continue
        line = event_line(event)
        if line is not None:
            print(f"{time.strftime('%H:%M:%S', time.localtime(event['ts']))} {line}",
                  flush=args.follow)


def cmd_clean(args: argparse.Namespace) -> ExitCode:
    from prodigy.runtime.errors import CheckpointError
    from prodigy.runtime.run_cleanup import clean

    older_than = older_than_seconds(args.older_than)
    if isinstance(older_than, ExitCode):
        return older_than
    state = resolve_state_dir(args)
    try:
        result = clean(state, older_than=older_than, dry_run=args.dry_run, now=time.time())
    except CheckpointError as exc:  # an unreadable run record or checkpoint store
        return invalid_input(f"{exc}; nothing was removed (delete that run's directory by "
                             "hand, or fix it)")
    if args.json:
        print(json.dumps({"dry_run": args.dry_run,
                          "runs": [{"run_id": c.run_id, "status": c.status, "ended": c.ended,
                                    "worktree": c.worktree or None, "records": c.records}
                                   for c in result.runs],
                          "groups": list(result.groups),
                          "kept": [{"run_id": r, "why": why} for r, why in result.kept]},
                         indent=1))
        return ExitCode.OK
    verb = "would remove" if args.dry_run else "removed"
    for c in result.runs:
        print(f"{verb} {c.run_id:<32} {c.status:<12} ended {local_time(c.ended)}")
        if c.worktree:
            print(f"  its worktree {c.worktree} stays: `prodigy worktree clean {c.run_id}` "
                  "removes it")
    for group_id in result.groups:
        print(f"{verb} input group {group_id}")
    for run_id, why in result.kept:
        print(f"kept {run_id}: {why}", file=sys.stderr)
    count = len(result.runs)
    print(f"{verb} {count} run{'s' * (count != 1)} of {state.root}"
          + (f" and {len(result.groups)} input group{'s' * (len(result.groups) != 1)}"
             if result.groups else ""), file=sys.stderr)
    return ExitCode.OK


def _show(args: argparse.Namespace, state: StateDir) -> ExitCode:
    from prodigy.runtime.events import read_events
    from prodigy.runtime.report_lines import counts_text
    from prodigy.runtime.run_outcome import failed_items
    from prodigy.runtime.store import CheckpointStore, RunStatus
    from prodigy.runtime.usage import from_events

    if not args.run_id:
        return invalid_input("runs show needs a RUN_ID")
    record = state.read_run(args.run_id)
    if record is None:
        return invalid_input(f"no run {args.run_id!r} in {state.root}", code="P505")
    try:
        seen = _digest(state.events_path(args.run_id))
        usage = from_events(read_events(state.events_path(args.run_id)))
    except UnicodeDecodeError as exc:
        return invalid_input(_not_utf8(state.events_path(args.run_id), exc))
    for node_id, agent in usage["agents"].items():
        if node_id in seen.item_labels:
            agent["item_label"] = seen.item_labels[node_id]
    store = CheckpointStore.for_reading(state.cache_dir)
    try:
        store.expect_run(args.run_id)
        queued, total = failed_items(store, args.run_id)
    finally:
        store.close()
    if args.json:
        print(json.dumps({**record.to_json(), "nodes": seen.states, "cost_usd": usage["cost_usd"],
                          "tokens": usage["tokens"], "agents": usage["agents"],
                          "maps": usage["maps"], "loops": seen.loops,
                          "failed_items": queued, "failed_items_total": total}, indent=1))
        return ExitCode.OK
    for key in ("run_id", "status", "workflow", "source", "cwd", "attempts", "resume"):
        print(f"{key + ':':<10} {getattr(record, key)}")
    print(f"{'started:':<10} {local_time(record.created_at)}")
    if record.finished_at:
        print(f"{'finished:':<10} {local_time(record.finished_at)}")
    elif record.status is RunStatus.INTERRUPTED:  # its driver died without a word
        print(f"{'stopped:':<10} {local_time(_ended(state, record))} (its process "
              f"{record.pid} is gone)")
    print(f"{'counts:':<10} {counts_text(seen.steps, seen.items, record.counts)}")
    for node_id, status in seen.states.items():
        if node_id in seen.labels:
            print(f"  {status:<12} {node_id:<12} {seen.labels[node_id]}")
    for node_id, loop in seen.loops.items():
        print(f"{'items:':<10} {seen.labels.get(node_id, node_id)}: {loop.get('total')} items, "
              f"{loop.get('succeeded')} succeeded, {loop.get('failed')} failed"
              + (f", {loop['skipped']} skipped" if loop.get("skipped") else ""))
    for item in queued:
        step = f" in {item['failed_step']}" if item.get("failed_step") else ""
        print(f"  failed       {item['item_label']} ({item['item_id']} of {item['loop']}): "
              f"{item['error']}{step}\n"
              f"               details: prodigy dlq show {args.run_id} {item['item_id']}")
    if total > len(queued):
        print(f"  ... and {total - len(queued)} more: prodigy dlq list {args.run_id}")
    if usage["agents"]:
        print(f"{'agents:':<10} {len(usage['agents'])}, ${usage['cost_usd']:.4f}, "
              f"{sum(usage['tokens'].values()):,} tokens {json.dumps(usage['tokens'])}")
        for node_id, agent in usage["agents"].items():
            tokens = sum(agent["tokens"].values())
            who = (f"[{agent['item_label']}] {agent.get('label') or node_id}"
                   if agent.get("item_label") else node_id)
            print(f"  ${agent['cost_usd']:<9.4f} {tokens:>9,} tokens  "
                  f"{agent.get('turns') or 0:>3} turns  {who}"
                  + (f"  {agent['transcript']}" if agent.get("transcript") else ""))
    return ExitCode.OK


@dataclass
class _Seen:
    """What `runs show` reads from the event log: each node's last state (nodes inside loop
    items aside), the labels of the steps worth listing, items' labels by node, each loop's
    last progress, and the last outcome's steps and items."""

    states: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    item_labels: dict[str, str] = field(default_factory=dict)
    loops: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)


def _digest(path: Path) -> _Seen:
    from prodigy.runtime.events import read_events
    from prodigy.runtime.report_lines import hidden

    seen = _Seen()
    for event in read_events(path):
        kind, node = event.get("event"), event.get("node")
        if kind == "run_finished":
            seen.steps, seen.items = event.get("steps") or {}, event.get("items") or {}
        elif kind == "loop_progress" and event.get("final"):
            seen.loops[str(node)] = {k: event.get(k) or 0 for k in
                                     ("total", "succeeded", "failed", "skipped")}
        if node is None:
            continue
        if "item" in event:  # nodes inside loop items: the loop stands for them
            if event.get("item_label"):
                seen.item_labels[node] = str(event["item_label"])
            continue
        status = {"node_finished": event.get("status"), "node_reused": "reused",
                  "node_skipped": event.get("status"), "node_started": "running"}.get(str(kind))
        if status is None:
            continue
        seen.states[node] = str(status)
        if hidden({**event, "status": status}):
            seen.labels.pop(node, None)
        elif event.get("label"):
            seen.labels[node] = str(event["label"])
    return seen


def _ended(state: StateDir, record: RunRecord) -> float:
    """When a run ended: as recorded; for a live run, now; for one whose driver died (kill
    -9), the last sign of life, its event log's last write, so its time stops growing."""
    from prodigy.runtime.store import RunStatus

    if record.finished_at:
        return record.finished_at
    if record.status is RunStatus.RUNNING:
        return time.time()
    try:
        return max(record.updated_at, state.events_path(record.run_id).stat().st_mtime)
    except OSError:
        return record.updated_at
