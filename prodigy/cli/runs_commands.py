"""`prodigy runs [list|show RUN_ID]` and `prodigy events RUN_ID`: what runs did, read back.

Both only read the state dir (a run's record and its event log), so they work while the run
is still going; `events --follow` keeps reading until the run ends.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from prodigy.cli.common import ExitCode, invalid_input, local_time, resolve_state_dir


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = commands.add_parser("runs", help="list past and current runs, or show one")
    runs.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    runs.add_argument("run_id", nargs="?", metavar="RUN_ID")
    runs.add_argument("--state-dir", metavar="DIR")
    runs.add_argument("--json", action="store_true", help="print JSON")
    runs.set_defaults(handler=cmd_runs)

    events = commands.add_parser("events", help="print a run's event log")
    events.add_argument("run_id", metavar="RUN_ID")
    events.add_argument("--state-dir", metavar="DIR")
    events.add_argument("--json", action="store_true", help="print the raw JSON lines")
    events.add_argument("--follow", "-f", action="store_true",
                        help="keep printing new events until the run ends")
    events.set_defaults(handler=cmd_events)


def cmd_runs(args: argparse.Namespace) -> ExitCode:
    from prodigy.runtime.events import read_events
    from prodigy.runtime.usage import from_events

    state = resolve_state_dir(args)
    if args.action == "show":
        if not args.run_id:
            return invalid_input("runs show needs a RUN_ID")
        record = state.read_run(args.run_id)
        if record is None:
            return invalid_input(f"no run {args.run_id!r} in {state.root}", code="P505")
        nodes = _node_states(state.events_path(args.run_id))
        usage = from_events(read_events(state.events_path(args.run_id)))
        if args.json:
            print(json.dumps({**record.to_json(), "nodes": nodes, "cost_usd": usage["cost_usd"],
                              "tokens": usage["tokens"], "agents": usage["agents"],
                              "maps": usage["maps"]}, indent=1))
            return ExitCode.OK
        for key in ("run_id", "status", "workflow", "source", "cwd", "attempts", "resume"):
            print(f"{key + ':':<10} {getattr(record, key)}")
        print(f"{'started:':<10} {local_time(record.created_at)}")
        if record.finished_at:
            print(f"{'finished:':<10} {local_time(record.finished_at)}")
        print(f"{'counts:':<10} {json.dumps(record.counts)}")
        for node_id, status in nodes.items():
            print(f"  {status:<12} {node_id}")
        if usage["agents"]:
            print(f"{'agents:':<10} {len(usage['agents'])}, ${usage['cost_usd']:.4f}, "
                  f"{sum(usage['tokens'].values()):,} tokens {json.dumps(usage['tokens'])}")
            for node_id, agent in usage["agents"].items():
                tokens = sum(agent["tokens"].values())
                print(f"  ${agent['cost_usd']:<9.4f} {tokens:>9,} tokens  "
                      f"{agent.get('turns') or 0:>3} turns  {node_id}"
                      + (f"  {agent['transcript']}" if agent.get("transcript") else ""))
        return ExitCode.OK
    records = state.list_runs()
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=1))
        return ExitCode.OK
    if not records:
        print(f"no runs in {state.root}", file=sys.stderr)
        return ExitCode.OK
    print(f"{'RUN_ID':<32} {'STATUS':<12} {'STARTED':<20} {'TIME':>8}  WORKFLOW")
    for r in records:
        took = f"{(r.finished_at or time.time()) - r.created_at:.1f}s"
        print(f"{r.run_id:<32} {r.status!s:<12} {local_time(r.created_at):<20} {took:>8}  "
              f"{r.workflow or r.source}")
    return ExitCode.OK


def cmd_events(args: argparse.Namespace) -> ExitCode:
    from prodigy.runtime.events import follow, pid_alive, read_events
    from prodigy.runtime.report import event_line
    from prodigy.runtime.store import RunStatus

    state = resolve_state_dir(args)
    record = state.read_run(args.run_id)
    if record is None:
        return invalid_input(f"no run {args.run_id!r} in {state.root}", code="P505")
    path = state.events_path(args.run_id)

    def alive() -> bool:
        current = state.read_run(args.run_id)
        return bool(current and current.status is RunStatus.RUNNING and pid_alive(current.pid))

    stream = follow(path, alive) if args.follow else read_events(path)
    for event in stream:
        if args.json:
            print(json.dumps(event, ensure_ascii=False), flush=args.follow)
            continue
        line = event_line(event)
        if line is not None:
            print(f"{time.strftime('%H:%M:%S', time.localtime(event['ts']))} {line}",
                  flush=args.follow)
    return ExitCode.OK


def _node_states(path: Path) -> dict[str, str]:
    from prodigy.runtime.events import read_events

    states: dict[str, str] = {}
    for event in read_events(path):
        node = event.get("node")
        if node is None or "item" in event:  # nodes inside loop items: the loop stands for them
            continue
        kind = event.get("event")
        if kind == "node_finished":
            states[node] = str(event.get("status"))
        elif kind == "node_reused":
            states[node] = "reused"
        elif kind == "node_skipped":
            states[node] = str(event.get("status"))
        elif kind == "node_started":
            states[node] = "running"
    return states
