"""What the user sees while a run goes and when it ends.

Three reporters consume the run's (already masked) event records:
- `JsonReporter` (`--json`): every event as one JSON line on stdout, nothing else there.
- `PlainReporter`: one line per node outcome on stderr; used when stderr is not a terminal or
  NO_COLOR is set, so CI logs stay readable.
- `LiveReporter`: a rich live view on stderr (overall progress, running nodes with elapsed
  time), with finished nodes printed above it; redrawn at most 10 times a second.
The end-of-run summary (failed nodes with their output tail and log path, the resume command)
goes to stderr for the human reporters.

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

MANY_NODES = 500  # above this, successes are not listed one by one
ITEM_LINES = 20  # loops with more items do not list the nodes inside each item
MAX_ITEM_FAILURES = 20  # failed items listed before "and more" (the DLQ has them all)


class Reporter(Protocol):
    def on_event(self, record: dict[str, Any]) -> None: ...

    def summary(self, outcome: Any) -> None: ...

    def close(self) -> None: ...


def make_reporter(json_mode: bool, stream: IO[str] | None = None) -> Reporter:
    """--json: events on stdout. A terminal (stdout and stderr both; NO_COLOR and TERM=dumb
    opt out): the live view. Anything else (CI, pipes, files): plain lines."""
    if json_mode:
        return JsonReporter(sys.stdout)
    err = stream or sys.stderr
    interactive = sys.stdout.isatty() and err.isatty()
    if interactive and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb":
        return LiveReporter(err)
    return PlainReporter(err)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.1f}s"


def event_line(record: dict[str, Any]) -> str | None:
    """A one-line human rendering of an event record (also used by `prodigy events`)."""
    kind = record.get("event")
    label = record.get("label") or record.get("node") or ""
    if record.get("item") and kind != "item_failed":
        label = f"{label} [{record['item']}]"  # a node inside a loop item
    if kind == "node_finished":
        status = record.get("status")
        if status == "succeeded":
            return f"ok       {label} ({_duration(record.get('duration_s'))})"
        if status == "handled":
            return f"handled  {label} (its on_failure handler ran; the run goes on)"
        if status == "interrupted":
            return f"stopped  {label} (interrupted)"
        detail = record.get("message") or record.get("reason") or ""
        if record.get("reason") == "tolerated":
            detail = f"{detail}; tolerated by its handler".lstrip("; ")
        return f"FAILED   {label}: {detail}"
    if kind == "node_started":
        return f"start    {label}" + (f" (attempt {record['attempt']})"
                                      if record.get("attempt", 1) > 1 else "")
    if kind == "node_reused":
        return f"reused   {label} (checkpoint)"
    if kind == "node_skipped":
        reason = str(record.get("reason") or "").replace("_", " ")
        cause = f" {record['cause']}" if record.get("cause") else ""
        word = "not run " if record.get("status") == "not_run" else "skipped "
        return f"{word} {label} ({reason}{cause})"
    if kind == "node_retrying":
        if record.get("handler"):
            return f"retry    {record.get('node')} after its handler (attempt {record['attempt']})"
        return (f"retry    {record.get('node')} in {record.get('delay_s')}s: "
                f"{record.get('message') or 'failed'}")
    if kind == "handler_started":
        return f"handler  {record.get('handler')} for {record.get('node')}"
    if kind == "loop_started":
        retry = f", retrying {record['retry']}" if record.get("retry") else ""
        return (f"{record.get('kind', 'loop'):<8} {label}: {record.get('total')} items, "
                f"{record.get('window')} at a time{retry}")
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
        return f"FAILED   {record.get('node')} {record.get('item')}: {record.get('message')}{after}"
    if kind == "attempt_scored":
        if record.get("kind") == "goal_seek":
            value = f"score {record.get('score')}"
        else:
            value = f"{record.get('completion')}% complete ({record.get('status')})"
        return (f"measure  {record.get('node')} attempt {record.get('attempt')}: {value}, "
                f"threshold {record.get('threshold')}")
    if kind == "run_note":
        return f"note     {record.get('message')}"
    if kind == "agent_tool_use":
        where = f" {record['item']}" if record.get("item") else ""
        return (f"agent    {record.get('label')}{where}: {record.get('tool')} "
                f"(turn {record.get('turn')})")
    if kind == "agent_message":
        return None  # the agent's prose: in the event log and with -v, not in the scroll
    if kind == "item_merged":
        commits = record.get("commits") or []
        return (f"merged   {record.get('node')} {record.get('item')}: {len(commits)} "
                f"commit{'s' * (len(commits) != 1)} from {record.get('branch')}")
    if kind in ("run_started", "run_resumed"):
        verb = "resuming" if kind == "run_resumed" else "running"
        return (f"{verb} {record.get('workflow') or record.get('source')} as "
                f"{record.get('run_id')} ({record.get('nodes')} nodes, "
                f"{record.get('executor')} executor, {record.get('jobs')} jobs)")
    if kind == "run_finished":
        counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in
                           (record.get("counts") or {}).items())
        return f"run {record.get('status')} in {_duration(record.get('duration_s'))}: {counts}"
    return None


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
        self.queued: dict[str, int] = {}  # map node -> items sent to the DLQ
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
            if record.get("dlq"):
                node = str(record.get("node"))
                self.queued[node] = self.queued.get(node, 0) + 1
            self.failures += 1
            return self.failures > MAX_ITEM_FAILURES + 1
        return "item" in record and self.big and kind != "item_failed"

    def line(self, record: dict[str, Any]) -> str | None:
        """The event's line; the failure past the listed ones says where the rest are."""
        if record.get("event") == "item_failed" and self.failures == MAX_ITEM_FAILURES + 1:
            return (f"FAILED   {record.get('node')}: more items failed (see `prodigy dlq list` "
                    "or `prodigy events`)")
        return event_line(record)

    def notes(self, run_id: str) -> list[str]:
        return [f"  {count} item(s) of {node} in the dead-letter queue: prodigy dlq list "
                f"{run_id}" for node, count in self.queued.items()]


class PlainReporter:
    def __init__(self, err: IO[str]) -> None:
        self.err = err
        self.total = 0
        self.loops = LoopView()

    def on_event(self, record: dict[str, Any]) -> None:
        kind = record.get("event")
        if kind in ("run_started", "run_resumed"):
            self.total = int(record.get("nodes") or 0)
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
            if kind == "node_finished" and record.get("output") and not record.get("item"):
                # A few last lines of what the step printed, as CI logs show them.
                for text in str(record["output"]).splitlines():
                    self.err.write(f"         | {text}\n")
            self.err.flush()

    def summary(self, outcome: Any) -> None:
        write_summary(self.err, outcome, self.loops.notes(outcome.run_id))

    def close(self) -> None:
        self.err.flush()


class LiveReporter:
    """rich Live: a progress bar and the running nodes; finished nodes scroll above it."""

    def __init__(self, err: IO[str]) -> None:
        from rich.console import Console
        from rich.live import Live

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
                      Text(f"{done}/{self.total} nodes, {len(busy)} running"
                           + (f", {queued} queued" if queued else "")))
        now = time.monotonic()
        for loop in list(self.loops.progress.values()):
            failed = f", {loop.get('failed')} failed" if loop.get("failed") else ""
            table.add_row(ProgressBar(total=max(1, int(loop.get("total") or 0)),
                                      completed=int(loop.get("done") or 0), width=40),
                          Text(f"{loop.get('label') or loop.get('node')}: {loop.get('done')}/"
                               f"{loop.get('total')} items{failed}, {loop.get('running')} "
                               "running"))
        for node, (label, since) in list(self.running.items())[:len(busy)][:12]:
            doing = self.agent_doing.get(node)
            table.add_row(Text(f"  {_duration(now - since)}", style="cyan"),
                          Text(label + (f"  · {doing}" if doing else "")))
        if len(busy) > 12:
            table.add_row(Text(""), Text(f"... and {len(busy) - 12} more"))
        return table

    def on_event(self, record: dict[str, Any]) -> None:
        kind, node = record.get("event"), str(record.get("node"))
        if kind in ("agent_tool_use", "agent_message"):
            if kind == "agent_tool_use":  # shown beside the agent's row, not scrolled
                self.agent_doing[node] = f"{record.get('tool')} (turn {record.get('turn')})"
            return
        if kind in ("node_finished", "node_skipped"):
            self.agent_doing.pop(node, None)
        quiet = self.loops.quiet(record)
        if kind in ("run_started", "run_resumed"):
            self.total = int(record.get("nodes") or 0)
            self.jobs = int(record.get("jobs") or 0)
        elif "item" in record and kind != "item_failed":
            # Nodes inside loop items: the loop's own row counts them.
            if kind == "node_started" and not quiet:
                self.running[node] = (str(record.get("label") or node), time.monotonic())
                return
            self.running.pop(node, None)
            if quiet:
                return
        elif kind == "node_started":
            self.running[node] = (str(record.get("label") or node), time.monotonic())
            return
        elif kind in ("node_finished", "node_reused", "node_skipped"):
            self.running.pop(node, None)
            self.done.add(node)
        line = self.loops.line(record)
        if line is None or kind in ("run_finished", "run_started", "run_resumed",
                                    "loop_progress") or quiet:
            return
        quiet = self.total > MANY_NODES and record.get("status") in (None, "succeeded")
        if not quiet:
            from rich.text import Text

            style = "red" if "FAILED" in line else "dim" if kind == "node_skipped" else ""
            self.console.print(Text(line, style=style), highlight=False)
            if kind == "node_finished" and record.get("output") and "item" not in record:
                for text in str(record["output"]).splitlines():
                    self.console.print(Text(f"         | {text}", style="dim"), highlight=False)

    def summary(self, outcome: Any) -> None:
        self.close()
        write_summary(self.console.file, outcome, self.loops.notes(outcome.run_id))

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()


def write_summary(err: IO[str], outcome: Any, notes: list[str] | None = None) -> None:
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in outcome.counts.items())
    err.write(f"run {outcome.run_id} {outcome.status} in {_duration(outcome.duration)}: "
              f"{counts}\n")
    if outcome.message:
        err.write(f"  {outcome.message}\n")
    if getattr(outcome, "spend", None) is not None:
        err.write(f"  agents: {outcome.spend.agents}, {outcome.spend.line()}\n")
    for note in notes or ():
        err.write(note + "\n")
    for failed in outcome.failed:
        reason = failed["message"] or failed["reason"]
        err.write(f"  FAILED {failed['label']} [{failed['node']}]: {reason}\n")
        tail = failed["output"].rstrip("\n").splitlines()[-20:]
        for line in tail:
            err.write(f"    | {line}\n")
        err.write(f"    log: {failed['log']}\n")
    if str(outcome.status) != "succeeded":
        err.write(f"resume with: prodigy resume {outcome.run_id}\n")
    err.flush()


def decisions_text(rows: list[tuple[PlanNode, Decision]]) -> str:
    """`--dry-run`: one line per node: action, id, label, and why."""
    width = max((len(node.id) for node, _ in rows), default=0)
    lines = [f"{d.action!s:<6} {node.id:<{width}}  {node.label}  ({d.explain()})"
             for node, d in rows]
    return "\n".join(lines) + "\n"


def decisions_json(rows: list[tuple[PlanNode, Decision]]) -> str:
    return json.dumps([{"node": node.id, "label": node.label, **d.to_json()}
                       for node, d in rows], indent=1) + "\n"
