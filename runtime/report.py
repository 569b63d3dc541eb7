"""What the user sees while a run goes and when it ends.

Three reporters consume the run's (already masked) event records:
- `JsonReporter` (`--json`): every event as one JSON line on stdout, nothing else there.
- `PlainReporter`: one line per node outcome on stderr; used when stderr is not a terminal or
  NO_COLOR is set, so CI logs stay readable.
- `LiveReporter`: a rich live view on stderr (overall progress, running nodes with elapsed
  time), with finished nodes printed above it; redrawn at most 10 times a second.
The end-of-run summary (`report_lines.write_summary`: counts in steps and items, failed steps
with their output tail and log path, failed items with the `prodigy dlq show` command, the
resume command) goes to stderr for the human reporters. Lines leave out what is no news
(`report_lines.hidden`): handler, barrier and gate nodes doing their job, handlers not needed.

Loops (map, foreach) report as a whole: a line when they start, a progress line at most every
few seconds (done/failed/total, running), and each failed item (the first MAX_ITEM_FAILURES).
The nodes inside their items are listed one by one only for loops of at most ITEM_LINES
items; the live view shows a progress bar per running loop instead.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import IO, Any, Protocol

from prodigy.runtime.decide import Decision
from prodigy.runtime.plan import PlanNode
from prodigy.runtime.report_lines import (
    CONTROL_KINDS,
    LOOP_KINDS,
    duration,
    event_line,
    hidden,
    item_name,
    write_summary,
)

MANY_NODES = 500  # above this, successes are not listed one by one
ITEM_LINES = 20  # loops with more items do not list the nodes inside each item
MAX_ITEM_FAILURES = 20  # failed items listed before "and more" (the DLQ has them all)


class Reporter(Protocol):
    def on_event(self, record: dict[str, Any]) -> None: ...

    def summary(self, outcome: Any) -> None: ...

    def close(self) -> None: ...


def make_reporter(json_mode: bool, stream: IO[str] | None = None,
                  verbose: int = 0) -> Reporter:
    """--json: events on stdout. A terminal (stdout and stderr both; NO_COLOR and TERM=dumb
    opt out): the live view. Anything else (CI, pipes, files): plain lines. `verbose` (-v)
    also prints what claude agents write as they write it."""
    if json_mode:
        return JsonReporter(sys.stdout)
    err = stream or sys.stderr
    interactive = sys.stdout.isatty() and err.isatty()
    if interactive and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb":
        return LiveReporter(err, verbose)
    return PlainReporter(err, verbose)


def output_line(record: dict[str, Any]) -> str:
    """-v: a line a running command printed (`node_output`), labelled by its step."""
    where = f" [{item_name(record)}]" if record.get("item") else ""
    return f"out      {record.get('label')}{where}: {record.get('text')}"


def agent_text(record: dict[str, Any]) -> list[str]:
    """-v: an agent's message as lines (`agent_message` events), its first line labelled."""
    where = f" [{item_name(record)}]" if record.get("item") else ""
    lines = str(record.get("text") or "").strip().splitlines() or [""]
    return [f"says     {record.get('label')}{where}: {lines[0]}",
            *(f"         | {line}" for line in lines[1:])]


class JsonReporter:
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def on_event(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
        if record.get("event") in ("run_finished", "node_finished"):
            self.out.flush()

    def summary(self, outcome: Any) -> None:
        self.out.flush()

    def close(self) -> None:
        self.out.flush()


class LoopView:
    """What the human reporters remember about loops: which are big, what failed."""

    def __init__(self) -> None:
        self.big = False  # some loop has more than ITEM_LINES items
        self.failures = 0
        self.progress: dict[str, dict[str, Any]] = {}  # running loops: latest progress

    def quiet(self, record: dict[str, Any]) -> bool:
        """Whether to leave an event out of the scrolling lines."""
        kind = record.get("event")
        if kind == "loop_started":
            self.big = self.big or int(record.get("total") or 0) > ITEM_LINES
            self.progress[str(record.get("node"))] = {**record, "done": 0, "running": 0}
        elif kind == "loop_progress":
            node = str(record.get("node"))
            if record.get("final"):
                self.progress.pop(node, None)
            else:
                self.progress[node] = record
        elif kind == "item_failed":
            self.failures += 1
            return self.failures > MAX_ITEM_FAILURES + 1
        return hidden(record) or ("item" in record and self.big and kind != "item_failed")

    def line(self, record: dict[str, Any]) -> str | None:
        """The event's line; the failure past the listed ones says where the rest are."""
        if record.get("event") == "item_failed" and self.failures == MAX_ITEM_FAILURES + 1:
            return (f"FAILED   {record.get('node')}: more items failed (see `prodigy dlq list` "
                    "or `prodigy events`)")
        return event_line(record)

    def details(self, record: dict[str, Any]) -> list[str]:
        """Lines under an event's line: the end of what a step printed (as CI logs show
        it), and the stderr tail of a failed item."""
        kind = record.get("event")
        if kind == "node_finished" and record.get("output") and not record.get("item"):
            return str(record["output"]).splitlines()
        if kind == "item_failed" and record.get("stderr") \
                and self.failures <= MAX_ITEM_FAILURES:
            return str(record["stderr"]).splitlines()
        return []


class PlainReporter:
    def __init__(self, err: IO[str], verbose: int = 0) -> None:
        self.err = err
        self.total = 0
        self.loops = LoopView()
        self.verbose = verbose

    def on_event(self, record: dict[str, Any]) -> None:
        kind = record.get("event")
        if kind in ("agent_message", "node_output"):
            if self.verbose:
                lines = agent_text(record) if kind == "agent_message" else [output_line(record)]
                self.err.write("".join(line + "\n" for line in lines))
                self.err.flush()
            return
        if kind in ("run_started", "run_resumed"):
            self.total = int(record.get("steps") or record.get("nodes") or 0)
        if self.loops.quiet(record):
            return
        if kind == "node_started" and self.total > MANY_NODES:
            return
        if (kind in ("node_finished", "node_reused") and self.total > MANY_NODES
                and record.get("status") in (None, "succeeded")):
            return
        line = self.loops.line(record)
        if line is not None and kind != "run_finished":
            self.err.write(line + "\n")
            for text in self.loops.details(record):
                self.err.write(f"         | {text}\n")
            self.err.flush()

    def summary(self, outcome: Any) -> None:
        write_summary(self.err, outcome)

    def close(self) -> None:
        self.err.flush()


class LiveReporter:
    """rich Live: a progress bar and the running nodes; finished nodes scroll above it."""

    def __init__(self, err: IO[str], verbose: int = 0) -> None:
        from rich.console import Console
        from rich.live import Live

        self.verbose = verbose
        self.console = Console(file=err, stderr=True)
        self.total = 0
        self.jobs = 0  # the run's --jobs: at most that many of `running` really run
        self.done: set[str] = set()  # a set: a failed node may run again after its handler
        # Nodes handed to the executor, oldest first. It keeps a few queued beyond the slots
        # (so they start the moment one frees): the oldest `jobs` are the ones running.
        self.running: dict[str, tuple[str, float]] = {}
        self.agent_doing: dict[str, str] = {}  # a running agent's latest tool use
        self.loops = LoopView()
        self.live = Live(console=self.console, refresh_per_second=10, transient=True,
                         get_renderable=self._render, redirect_stdout=False,
                         redirect_stderr=False)
        self.live.start()

    def _render(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        # Text, not markup strings: Live renders this inside console.print calls too.
        table = Table.grid(padding=(0, 1))
        done = len(self.done)
        busy = list(self.running.values())
        if self.jobs:
            busy = busy[:self.jobs]
        queued = len(self.running) - len(busy)
        table.add_row(ProgressBar(total=max(1, self.total), completed=done, width=40),
                      Text(f"{done}/{self.total} steps, {len(busy)} running"
                           + (f", {queued} queued" if queued else "")))
        now = time.monotonic()
        for loop in list(self.loops.progress.values()):
            failed = f", {loop.get('failed')} failed" if loop.get("failed") else ""
            # Its items running now, as their nodes say (progress events come every few
            # seconds; a big loop's item nodes are not followed, so its last progress says).
            inside = f"{loop.get('node')}["
            running = len({n.split("]/", 1)[0] for n in self.running if n.startswith(inside)})
            table.add_row(ProgressBar(total=max(1, int(loop.get("total") or 0)),
                                      completed=int(loop.get("done") or 0), width=40),
                          Text(f"{loop.get('label') or loop.get('node')}: {loop.get('done')}/"
                               f"{loop.get('total')} items{failed}, "
                               f"{running or loop.get('running')} running"))
        for node, (label, since) in list(self.running.items())[:len(busy)][:12]:
            doing = self.agent_doing.get(node)
            table.add_row(Text(f"  {duration(now - since)}", style="cyan"),
                          Text(label + (f"  · {doing}" if doing else "")))
        if len(busy) > 12:
            table.add_row(Text(""), Text(f"... and {len(busy) - 12} more"))
        return table

    def on_event(self, record: dict[str, Any]) -> None:
        kind, node = record.get("event"), str(record.get("node"))
        if kind == "node_output":
            if self.verbose:
                from rich.text import Text

                self.console.print(Text(output_line(record), style="dim"), highlight=False)
            return
        if kind in ("agent_tool_use", "agent_message"):
            if kind == "agent_tool_use":  # shown beside the agent's row, not scrolled
                self.agent_doing[node] = f"{record.get('tool')} (turn {record.get('turn')})"
            elif self.verbose:
                from rich.text import Text

                for said in agent_text(record):
                    self.console.print(Text(said, style="dim"), highlight=False)
            return
        if kind in ("node_finished", "node_skipped"):
            self.agent_doing.pop(node, None)
        quiet = self.loops.quiet(record)
        control = record.get("kind") in CONTROL_KINDS and kind != "loop_started"
        if kind in ("run_started", "run_resumed"):
            self.total = int(record.get("steps") or record.get("nodes") or 0)
            self.jobs = int(record.get("jobs") or 0)
        elif control and kind in ("node_started", "node_finished", "node_skipped"):
            self.running.pop(node, None)  # the compiler's nodes: neither steps nor running
            if quiet:
                return
        elif "item" in record and kind != "item_failed":
            # Nodes inside loop items: the loop's own row counts them.
            if kind == "node_started" and not quiet:
                self.running[node] = (f"{record.get('label') or node} [{item_name(record)}]",
                                      time.monotonic())
                return
            self.running.pop(node, None)
            if quiet:
                return
        elif kind == "node_started":
            # A loop node holds no slot (its items do, and its row shows it): counted among
            # the running, it would make one of them look queued.
            if record.get("kind") not in LOOP_KINDS:
                self.running[node] = (str(record.get("label") or node), time.monotonic())
            return
        elif kind in ("node_finished", "node_reused", "node_skipped"):
            self.running.pop(node, None)
            self.done.add(node)
        line = self.loops.line(record)
        if line is None or kind in ("run_finished", "loop_progress") or quiet:
            return
        # The run's own lines (its id first of all) show however big it is.
        quiet = (not str(kind).startswith("run_") and self.total > MANY_NODES
                 and record.get("status") in (None, "succeeded"))
        if not quiet:
            from rich.text import Text

            style = "red" if "FAILED" in line else "dim" if kind == "node_skipped" else ""
            self.console.print(Text(line, style=style), highlight=False)
            for text in self.loops.details(record):
                self.console.print(Text(f"         | {text}", style="dim"), highlight=False)

    def summary(self, outcome: Any) -> None:
        self.close()
        write_summary(self.console.file, outcome)

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()


def decisions_text(rows: list[tuple[PlanNode, Decision]]) -> str:
    """`--dry-run`: one line per node: action, id, label, and why."""
    width = max((len(node.id) for node, _ in rows), default=0)
    lines = [f"{d.action!s:<6} {node.id:<{width}}  {node.label}  ({d.explain()})"
             for node, d in rows]
    return "\n".join(lines) + "\n"


def decisions_json(rows: list[tuple[PlanNode, Decision]]) -> str:
    return json.dumps([{"node": node.id, "label": node.label, **d.to_json()}
                       for node, d in rows], indent=1) + "\n"
