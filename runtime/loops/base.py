"""Loop and expansion nodes at run time: what they share.

A loop node (map, foreach, validate, goal_seek) does not run as one task. When the run loop
reaches it, the driver builds the `Loop` of the node's kind (`LOOPS`), which runs its sub-plans
as frames (`frame.py`: one per item or attempt, created when needed, dropped when they end)
and may run helper commands of its own (`run_shell`: a map's input command, a foreach's item
command, a goal_seek's scoring command) through the same executor. The host calls:

    begin()                    once, when the node starts
    pump()                     every round: start what may start now (windows, timers)
    frame_finished(frame)      a frame it created ended
    aux_finished(tag, result)  a helper command ended
    job_finished(tag, future)  background git work it asked for ended (map agents' worktrees)
    interrupt()                the run is stopping: start nothing more

and completes the node with `result` once it is set and nothing is `busy`. A loop's node is
checkpointed like any other (its done record holds what it publishes: `map.*`,
`validation.*`, ...), so a resumed run reuses a finished loop whole.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodigy.runtime.decide import checkpoint_key
from prodigy.runtime.frame import Frame, FrameSpec, Template, stderr_tail
from prodigy.runtime.nodes import thaw
from prodigy.runtime.ops import OPS, NodeResult, Prepared, Task
from prodigy.runtime.scheduler import NodeState, Reason
from prodigy.runtime.store import safe_name

if TYPE_CHECKING:
    from prodigy.runtime.run import Run

OUTPUT_CAP = 16 * 1024  # an item's `output` in map.results keeps this much of its tail
PROGRESS_S = 2.0  # a progress event at most this often


@dataclass(frozen=True, slots=True)
class FrameOutcome:
    """How a frame (one item, one attempt) ended."""

    ok: bool
    interrupted: bool
    timed_out: bool
    message: str = ""
    exit_code: int | None = None
    node: str = ""  # the template id of the node that failed
    label: str = ""
    output: str = ""  # the stdout of its nodes, in plan order (tail of OUTPUT_CAP)
    failed_output: str = ""  # the output tail of the node that failed
    log: str = ""
    variables: Mapping[str, Any] | None = None  # what its nodes captured
    stderr: str = ""  # the failed command's stderr tail
    started_at: float = 0.0  # unix: when its first command started (0: none did)


def tail_lines(text: str, lines: int = 6) -> str | None:
    """A failure's last few lines for a console line (`item_failed`'s `stderr`); its log and
    the DLQ entry keep more."""
    kept = text.rstrip("\n").splitlines()[-lines:]
    return "\n".join(line[:200] for line in kept) or None


# A node's own failure, as opposed to one that only followed another's: it failed
# unhandled, after its handler's last attempt (`fail_workflow`), or its handler failed.
_OWN_FAILURE = (None, Reason.ATTEMPTS_EXHAUSTED, Reason.HANDLER_FAILED)


def culprit(frame: Frame) -> str | None:
    """The node whose failure is the frame's, in plan order: one that failed on its own;
    else one whose handler cycle the frame's end cut short; else (a frame out of time whose
    late command a handler handled) one whose command failed or timed out."""
    states, reasons, results = frame.sched.state, frame.sched.reason, frame.results
    ran = [n for n in frame.tpl.graph.order
           if (r := results.get(n)) is not None and not r.ok and states[n] is not
           NodeState.INTERRUPTED and reasons.get(n) is not Reason.TOLERATED]
    for wanted in (_OWN_FAILURE, (Reason.RUN_FAILED,)):
        found = [n for n in ran if states[n] is NodeState.FAILED and reasons.get(n) in wanted]
        if found:
            return found[0]
    return next((n for n in ran if results[n].timed_out), ran[0] if ran else None)


def outcome_of(frame: Frame) -> FrameOutcome:
    states = frame.sched.state
    # Stopped by an interrupt: a node was cut short, or skipped because the run stopped (the
    # frame may have no failure at all, yet it did not finish its work).
    interrupted = any(s is NodeState.INTERRUPTED for s in states.values()) or any(
        r is Reason.INTERRUPTED for r in frame.sched.reason.values())
    parts = []
    for node_id in frame.tpl.graph.order:
        result = frame.results.get(node_id)
        if result is not None and states[node_id] in (NodeState.SUCCEEDED, NodeState.FAILED,
                                                       NodeState.HANDLED):
            kind = frame.tpl.nodes[node_id].kind
            parts.append(str(result.variables.get(f"{kind}.output", result.output) or ""))
    output = "".join(p if p.endswith("\n") or not p else p + "\n" for p in parts)[-OUTPUT_CAP:]
    # When its work began, not when it was queued: an item's duration is its own.
    started = min((r.started_at for r in frame.results.values() if r.started_at), default=0.0)
    ok = not frame.sched.failed and not interrupted and not frame.timed_out
    failed_id = None if ok else culprit(frame)
    if failed_id is None:
        message = "" if ok else ("interrupted" if interrupted else
                                 "timed out" if frame.timed_out else "failed")
        return FrameOutcome(ok, interrupted, frame.timed_out, message, output=output,
                            variables=frame.exit_variables(), started_at=started)
    result = frame.results[failed_id]
    node = frame.tpl.nodes[failed_id]
    return FrameOutcome(False, interrupted, frame.timed_out or result.timed_out,
                        result.message or "failed", result.exit_code, failed_id, node.label,
                        output, result.output[-4000:],
                        f"{frame.host.log_dir}/{safe_name(frame.gid(failed_id))}.log",
                        frame.exit_variables(), stderr_tail(node.kind, result), started)


class Loop:
    """Base of the loop kinds: bookkeeping of frames and helper commands, the result."""

    def __init__(self, host: Run, frame: Frame, node_id: str, prepared: Prepared) -> None:
        self.host, self.frame, self.node_id = host, frame, node_id
        self.node = frame.tpl.nodes[node_id]
        self.params: Any = self.node.params
        self.gid = frame.gid(node_id)
        self.key = frame.keys[node_id]
        self.inputs = prepared.inputs
        self.cwd = Path(prepared.cwd) if prepared.cwd else frame.spec.cwd
        self.variables = frame.variables_at(node_id)  # captured values it and its body see
        self.scope = {**frame.spec.scope, **self.variables, **thaw(self.params.bindings)}
        self.result: NodeResult | None = None
        self.live: set[Frame] = set()
        self.aux: set[str] = set()
        self.on_driver: set[str] = set()  # helper commands running on a driver thread
        self.stopping = False
        self.started = time.monotonic()
        self.started_at = time.time()
        self.log_path = f"{host.log_dir}/{safe_name(self.gid)}.log"
        self.forced = self.gid in host.options.force  # its checkpointed frames rerun too
        self.fresh = False  # set by the host: the node never started before in this run

    @property
    def busy(self) -> bool:
        return bool(self.live or self.aux)

    # --- the host's calls (subclasses override what they need) -----------------------------

    def begin(self) -> None:
        raise NotImplementedError

    def pump(self) -> None:
        return None

    def release(self) -> None:
        """After a batch of results: say which items sent ahead run now (`loops/items.py`)."""
        return None

    def frame_finished(self, frame: Frame) -> None:
        self.live.discard(frame)

    def aux_finished(self, tag: str, result: NodeResult) -> None:
        self.aux.discard(tag)

    def job_finished(self, tag: str, future: Future[Any]) -> None:
        """Background work it gave the host (`host.background`) ended."""
        self.aux.discard(tag)
        if tag in self.on_driver:  # a helper command run on a driver thread
            self.on_driver.discard(tag)
            error = future.exception()
            self.aux_finished(tag, future.result() if error is None else NodeResult(
                ok=False, message=f"helper command failed: {error!r}"))

    def interrupt(self) -> None:
        self.stopping = True
        self.check_stopped()

    def stop_starting(self, why: str) -> None:
        """A spend limit was reached: start no more frames (item loops override this; the
        frames of other loops are stopped by the host as they are made)."""
        return None

    # --- helpers ---------------------------------------------------------------------------

    def check_stopped(self) -> None:
        """Once interrupted and idle, the node ends interrupted (it runs again on resume)."""
        if self.stopping and self.host.interrupted and not self.busy and self.result is None:
            self.result = NodeResult(ok=False, message="interrupted",
                                     duration=time.monotonic() - self.started)

    def spawn(self, subplan: str, tag: str, loop_vars: Mapping[str, Any], *,
              checkpoint: bool, outer: Mapping[str, Any] | None = None, **spec: Any) -> Frame:
        """A frame of `subplan` named `<loop node>[tag]/`, seeing the loop node's variables
        plus `loop_vars` (template-only) and `outer` (captured: exported to commands)."""
        tpl: Template = self.host.template(subplan)
        spec.setdefault("forced", self.forced and checkpoint)
        extra = dict(outer or {})
        link = checkpoint_key(tpl.digest, {"tag": tag, "vars": loop_vars, "outer": extra},
                              {"@loop": self.key})
        frame = self.host.new_frame(tpl, FrameSpec(
            f"{self.gid}[{tag}]/", {**self.scope, **loop_vars}, {**self.variables, **extra},
            spec.pop("cwd", self.cwd), link, checkpoint, **spec), self)
        self.live.add(frame)
        return frame

    def run_shell(self, tag: str, command: str, timeout: float | None,
                  env: Mapping[str, str] | None = None, on_driver: bool = False) -> None:
        """Run a helper command through the executor; `aux_finished(tag, result)` gets it,
        its whole stdout as `result.variables['stdout']`. Its log is the loop node's log.
        `on_driver` runs it on a driver thread instead: a map's input command, which lists
        work and should not wait for (or boot) a pool of workers for itself."""
        overlay, _ = self.host.env.step_overlay({}, self.variables, self.scope.get("item"))
        inputs = {"command": command, "shell": "sh", "timeout": timeout, "capture": "stdout",
                  "capture_format": "string", "capture_streams": {"stderr": True}}
        task = Task(self.host.run_id, self.gid, "shell", self.node.label, 1, inputs,
                    {**overlay, **(env or {})}, str(self.cwd), self.log_path,
                    self.host.masker, read_output=True)
        self.aux.add(tag)
        if on_driver:
            self.on_driver.add(tag)
            self.host.background(self, tag, lambda: OPS["shell"].run(task))
        else:
            self.host.submit(self, tag, task)

    def note(self, text: str) -> None:
        """A line in the loop node's own log (summaries, attempts)."""
        path = Path(self.log_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(self.host.masker.mask(text.rstrip("\n") + "\n"))

    def finish(self, ok: bool, message: str = "", variables: Mapping[str, Any] | None = None,
               output: str = "") -> None:
        self.result = NodeResult(ok=ok, exit_code=0 if ok else 1, message=message,
                                 duration=time.monotonic() - self.started, output=output,
                                 variables=dict(variables or {}), started_at=self.started_at)
