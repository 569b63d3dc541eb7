"""What flows between the driver and an op: a Task in, a NodeResult out. Both plain data.

An op has two halves. `prepare` runs in the driver: it renders the node's params against the
variables the node can see and returns the rendered inputs (these, minus secret values, go into
the checkpoint key). `run` runs wherever the executor puts it (a loky worker, the driver, a Dask
worker) and returns a NodeResult; a failed command is a result with `ok=False`, never an
exception. Control kinds (gate, handler, barrier) are `inline`: they only read the scope, so
the driver evaluates them itself, and they are not checkpointed (they are recomputed on resume).
Loop kinds are marked `loop` and have no useful `run`: the driver runs their sub-plans.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy.runtime.masking import Masker
from prodigy.runtime.nodes import NodeParams


@dataclass(frozen=True, slots=True)
class Failure:
    """The failure a handler body is reacting to (its `${error.*}` variables)."""

    node_id: str
    label: str
    kind: str
    exit_code: int | None
    message: str
    output: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Context:
    """What `prepare` may read. `scope` holds the variables visible to the node."""

    run_id: str
    node_id: str
    label: str
    scope: Mapping[str, Any]  # everything a template may reference
    variables: Mapping[str, Any]  # the captured part of it (exported as PRODIGY_VAR_*)
    cwd: Path
    env: Any  # environment.RunEnvironment (Any: ops must not import the driver side)
    failure: Failure | None = None
    state_dir: Path | None = None  # where run state lives (analysis results are saved there)


@dataclass(frozen=True, slots=True)
class Prepared:
    inputs: dict[str, Any]  # rendered, JSON-shaped, no secret values: hashed into the key
    env: dict[str, str] = field(default_factory=dict)  # overlay, secrets included
    cwd: str = ""


@dataclass(frozen=True, slots=True)
class Task:
    run_id: str
    node_id: str
    kind: str
    label: str
    attempt: int
    inputs: dict[str, Any]
    env: dict[str, str]
    cwd: str
    log_path: str
    masker: Masker
    read_output: bool = False  # a later node reads this node's output: keep stdout/stderr apart
    # A loop sending its items ahead (`Executor.set_lane`): the executor runs at most the
    # lane's limit of its tasks at once. 0: none.
    lane: int = 0


@dataclass(frozen=True, slots=True)
class NodeResult:
    ok: bool
    exit_code: int | None = None
    duration: float = 0.0
    message: str = ""  # why it failed, one line
    output: str = ""  # tail of the node's output (masked): `${shell.output}` in handlers
    variables: dict[str, Any] = field(default_factory=dict)  # what the node adds to the scope
    timed_out: bool = False
    gate: bool | None = None  # a gate's verdict
    started_at: float = 0.0
    # An agent's cost_usd, tokens, turns, session_id, model, tools, transcript (claude nodes):
    # kept in the checkpoint, so a resumed run counts what it already spent.
    usage: dict[str, Any] | None = None

    def to_record(self) -> dict[str, Any]:
        """What a checkpoint keeps: enough to restore the scope, not the output."""
        out: dict[str, Any] = {"ok": self.ok, "exit_code": self.exit_code,
                               "duration": round(self.duration, 6), "variables": self.variables}
        if self.gate is not None:
            out["gate"] = self.gate
        if self.usage is not None:
            out["usage"] = self.usage
        return out

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> NodeResult:
        return cls(ok=bool(data.get("ok", True)), exit_code=data.get("exit_code"),
                   duration=float(data.get("duration", 0.0)),
                   variables=dict(data.get("variables") or {}), gate=data.get("gate"),
                   usage=data.get("usage"))


@dataclass(frozen=True, slots=True)
class Command:
    """A node whose whole work is one process that writes its output straight to its log:
    an executor may start and wait for it itself (`executors/spawn.py`) instead of calling
    `run`, then hand the finished process (an `executors.process.ProcessResult`) to the op's
    `settle`, which makes the node's result exactly as `run` would have."""

    argv: list[str]
    env: dict[str, str]  # the overlay on the process environment (`Task.env`)
    clear_env: bool  # the overlay is the whole environment
    cwd: str
    log_path: str
    header: str
    timeout: float | None


@dataclass(frozen=True, slots=True)
class Op:
    prepare: Callable[[NodeParams, Context], Prepared]
    run: Callable[[Task], NodeResult]
    # The node as a plain process, when it is one (else None): see `Command`.
    command: Callable[[Task], Command | None] | None = None
    settle: Callable[[Task, Any, float], NodeResult] | None = None  # (task, proc, started_at)
    inline: bool = False
    checkpointed: bool = True
    # Loop and expansion kinds (map, foreach, validate, goal_seek): the driver builds the
    # loop object that runs the node's sub-plans as frames (its class: `LOOPS[kind]`, in
    # `runtime/loops/`); `run` is not used for them.
    loop: bool = False
    # `prepare` reads nothing but its params and context (no files, no clock), so a frame may
    # prepare once for all its nodes that share one params object and see the same scope (a
    # resume of 10,000 identical steps would otherwise render and hash them 10,000 times).
    pure_prepare: bool = False


def loop_op(prepare: Callable[[NodeParams, Context], Prepared]) -> Op:
    """The op of a loop kind. Its `prepare` renders what the loop itself reads, which goes into
    the node's checkpoint key; the driver adds the digests of the node's sub-plans, so editing a
    body changes the key too. The loop object is driver-side (`runtime/loops/`, `LOOPS`): ops
    must not import the driver."""
    return Op(prepare=prepare, run=_not_a_task, loop=True)


def _not_a_task(task: Task) -> NodeResult:
    # Loop nodes never reach an executor; reaching this is a driver bug, reported as a failure.
    return NodeResult(ok=False, message=f"{task.kind} nodes are run by the driver, not as tasks")


def resolve_dir(cwd: Path, working_dir: str | None) -> Path:
    if not working_dir:
        return cwd
    return (cwd / Path(working_dir).expanduser()).resolve()
