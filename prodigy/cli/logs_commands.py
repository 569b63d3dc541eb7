"""`prodigy logs RUN_ID [NODE]`: a claude node's transcript, readably, or what a run's agents did.

A run's claude nodes are found in its event log (`node_started` of kind claude, and every event
that names a transcript) and, for what the log does not name (a run killed before it wrote the
event), among the `logs/*.jsonl` files. NODE is a node id, the transcript's file name, an item
id (`item_3`), or a suffix or a part of a node id that names one node. Only reads the state dir,
so it works on a run in progress.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.cli.common import ExitCode, invalid_input, resolve_state_dir

LISTED = 10  # candidates named in an error message


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = commands.add_parser(
        "logs", help="print a claude node's transcript readably, or a summary of a run's agents",
        description="Print the transcript of a run's claude node (turns, tool calls, results, "
                    "cost), or with --summary what each agent used and cost.")
    logs.add_argument("run_id", metavar="RUN_ID")
    logs.add_argument("node", nargs="?", metavar="NODE",
                      help="a node id, a unique part of one, or an item id (item_3)")
    logs.add_argument("--tail", type=int, metavar="N", help="only the last N entries")
    logs.add_argument("--summary", action="store_true",
                      help="per node: turns, tools used, tokens and cost, plus a total")
    logs.add_argument("--json", action="store_true", help="the summary as JSON")
    logs.add_argument("--state-dir", metavar="DIR")
    logs.set_defaults(handler=cmd_logs)


@dataclass(slots=True)
class Agent:
    node: str
    item: str | None
    path: Path
    status: str


def cmd_logs(args: argparse.Namespace) -> ExitCode:
    from prodigy.runtime.transcripts import read_transcript, render

    if args.tail is not None and args.tail < 1:
        return invalid_input(f"--tail expects a number of entries of at least 1, got {args.tail}")
    state = resolve_state_dir(args)
    run_dir = state.run_dir(args.run_id)
    if "/" in args.run_id or args.run_id in ("", ".", "..") or not run_dir.is_dir():
        return invalid_input(f"no run {args.run_id!r} in {state.root}", code="P505")
    if isinstance(sys.stdout, io.TextIOWrapper):  # a terminal that cannot show `→` gets `?`
        sys.stdout.reconfigure(errors="replace")
    agents = _agents(state.events_path(args.run_id), state.log_dir(args.run_id))
    if args.node is not None:
        chosen = _resolve(args.node, agents, args.run_id)
        if isinstance(chosen, str):
            return invalid_input(chosen)
        agents = [chosen]
    if args.summary or args.json:
        return _summary(args.run_id, agents, args.json)
    if not agents:
        print(f"run {args.run_id} has no claude transcripts", file=sys.stderr)
        return ExitCode.OK
    if len(agents) > 1:
        return _listing(args.run_id, agents)
    agent = agents[0]
    entries = read_transcript(agent.path).entries
    shown = entries[-args.tail:] if args.tail else entries
    item = f" ({agent.item})" if agent.item else ""
    print(f"{agent.node}{item} · {agent.status} · {agent.path}")
    for line in render(shown, skipped=len(entries) - len(shown)) or ["(empty transcript)"]:
        print(line)
    return ExitCode.OK


def _agents(events_path: Path, log_dir: Path) -> list[Agent]:
    """The run's claude nodes that have a transcript, in the order they started."""
    from prodigy.runtime.events import read_events
    from prodigy.runtime.store import safe_name

    found: dict[str, Agent] = {}
    try:
        for event in read_events(events_path):
            node, kind = event.get("node"), event.get("event")
            if not isinstance(node, str):
                continue
            started = kind == "node_started" and event.get("kind") == "claude"
            if node not in found and (started or "transcript" in event):
                path = log_dir / f"{safe_name(node)}.jsonl"
                named = event.get("transcript")
                if not path.exists() and isinstance(named, str) and Path(named).exists():
                    path = Path(named)
                item = event.get("item")
                found[node] = Agent(node, str(item) if item else None, path, "unfinished")
            agent = found.get(node)
            if agent is None:
                continue
            if kind == "node_finished":
                agent.status = str(event.get("status") or "finished")
            elif kind in ("node_retrying", "node_reused"):
                agent.status = "retrying" if kind == "node_retrying" else "reused"
    except (OSError, UnicodeDecodeError):
        pass  # an unreadable event log: the files alone still tell
    agents = [agent for agent in found.values() if agent.path.is_file()]
    claimed = {agent.path.resolve() for agent in agents}
    if log_dir.is_dir():
        agents += [Agent(path.stem, None, path, "?") for path in sorted(log_dir.glob("*.jsonl"))
                   if path.resolve() not in claimed]
    return agents


def _resolve(query: str, agents: list[Agent], run_id: str) -> Agent | str:
    """The one agent `query` names, or why there is none (unknown, or which ones it matches)."""
    levels = (
        lambda a: query in (a.node, a.path.name, a.path.stem),
        lambda a: a.item == query,
        lambda a: a.node.endswith(query),
        lambda a: query in a.node or query in a.path.stem,
    )
    for matches in levels:
        hits = [agent for agent in agents if matches(agent)]
        if len(hits) == 1:
            return hits[0]
        if hits:
            return (f"{query!r} matches {len(hits)} claude nodes of run {run_id}: "
                    f"{_names(hits)}; name one of them (a node id, a unique part of one, or "
                    f"an item id)")
    if not agents:
        return f"run {run_id} has no claude transcripts (so no node {query!r})"
    names = [a.node for a in agents] + sorted({a.item for a in agents if a.item})
    close = difflib.get_close_matches(query, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"no claude node {query!r} in run {run_id}{hint} (its claude nodes: {_names(agents)})"


def _names(agents: list[Agent]) -> str:
    names = ", ".join(a.node for a in agents[:LISTED])
    return names + (f", … and {len(agents) - LISTED} more" if len(agents) > LISTED else "")


def _listing(run_id: str, agents: list[Agent]) -> ExitCode:
    from prodigy.runtime.transcripts import read_transcript

    rows: list[tuple[str, ...]] = [("NODE", "ITEM", "TURNS", "COST", "STATUS", "TRANSCRIPT")]
    for agent in agents:
        summary = read_transcript(agent.path).summary()
        rows.append((agent.node, agent.item or "-", str(summary["turns"]),
                     _cost(summary["cost_usd"]), agent.status, str(agent.path)))
    print(f"run {run_id}: {len(agents)} claude nodes; `prodigy logs {run_id} NODE` prints one")
    _table(rows)
    return ExitCode.OK


def _summary(run_id: str, agents: list[Agent], as_json: bool) -> ExitCode:
    from prodigy.runtime.transcripts import read_transcript, token_text
    from prodigy.runtime.usage import TOKEN_KINDS

    nodes: list[dict[str, Any]] = []
    for agent in agents:
        nodes.append({"node": agent.node, "item": agent.item, "status": agent.status,
                      **read_transcript(agent.path).summary(), "transcript": str(agent.path)})
    tools: dict[str, int] = {}
    for node in nodes:
        for name, count in node["tools"].items():
            tools[name] = tools.get(name, 0) + count
    costs = [n["cost_usd"] for n in nodes if n["cost_usd"] is not None]
    total = {"nodes": len(nodes), "turns": sum(n["turns"] for n in nodes),
             "tools": dict(sorted(tools.items(), key=lambda kv: (-kv[1], kv[0]))),
             "tokens": {k: sum(n["tokens"].get(k, 0) for n in nodes) for k in TOKEN_KINDS},
             "cost_usd": round(sum(costs), 6) if costs else None}
    if as_json:
        print(json.dumps({"run_id": run_id, "nodes": nodes, "total": total}, indent=1))
        return ExitCode.OK
    if not nodes:
        print(f"run {run_id} has no claude transcripts", file=sys.stderr)
        return ExitCode.OK
    rows: list[tuple[str, ...]] = [("NODE", "TURNS", "COST", "TOKENS", "TOOLS")]
    for n in [*nodes, {**total, "node": f"total ({len(nodes)} nodes)"}]:
        rows.append((n["node"], str(n["turns"]), _cost(n["cost_usd"]), token_text(n["tokens"]),
                     ", ".join(f"{name} {count}" for name, count in n["tools"].items()) or "-"))
    _table(rows if len(nodes) > 1 else rows[:-1])
    return ExitCode.OK


def _cost(cost: float | None) -> str:
    return "-" if cost is None else f"${cost:.4f}"


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)),
                         row[-1]]).rstrip())
