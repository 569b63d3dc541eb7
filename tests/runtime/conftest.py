"""Hand-built plans for runtime tests (no compiler involved, as `prodigy exec` sees them), and
commands the process tests share."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from prodigy.runtime.nodes import params_from_json
from prodigy.runtime.plan import FORMAT_VERSION, Plan, fingerprint

# A shell fragment starting a child that ignores SIGTERM and writes its pid to ./pid: what a
# timeout must still kill (with SIGKILL, after the grace period).
TERM_IGNORING_CHILD = (f"{sys.executable} -c \"import os, signal, time; "
                       "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                       "open('pid', 'w').write(str(os.getpid())); time.sleep(60)\"")
# A command's pause until the test touches `go` in its working dir (20 s at most): the test
# sees the command mid-way for certain, and waits no longer than it has to.
UNTIL_GO = "for k in $(seq 1000); do [ -f go ] && break; sleep 0.02; done"

Node = tuple[str, str, dict[str, Any]]  # id, kind, params
Edge = tuple[str, str, str]  # src, dst, kind


WORKFLOW_META: dict[str, Any] = {
    "name": "test", "mode": "standard", "source": "test.yml", "source_sha256": "0" * 64,
    "env": {}, "secrets": {}, "env_files": [], "profiles": {}, "profile": None, "args": {}}


def plan_json(nodes: Iterable[Node], edges: Iterable[Edge] = (),
              workflow: dict[str, Any] | None = None) -> dict[str, Any]:
    out = []
    for node_id, kind, params in nodes:
        out.append({"id": node_id, "kind": kind, "phase": "main", "label": f"{kind}: {node_id}",
                    "span": None, "fingerprint": fingerprint(params_from_json(kind, params)),
                    "params": params})
    return {"format_version": FORMAT_VERSION, "workflow": {**WORKFLOW_META, **(workflow or {})},
            "nodes": out, "edges": [{"from": s, "to": d, "kind": k} for s, d, k in edges],
            "subplans": {}}


def build_plan(nodes: Iterable[Node], edges: Iterable[Edge] = (),
               workflow: dict[str, Any] | None = None) -> Plan:
    return Plan.from_json(plan_json(nodes, edges, workflow))


def sh(node_id: str, command: str, **params: Any) -> Node:
    return (node_id, "shell", {"command": command, **params})


def chain(*ids: str) -> list[Edge]:
    return [(a, b, "sequence") for a, b in pairwise(ids)]


@pytest.fixture
def make_plan() -> Callable[..., Plan]:
    return build_plan


@pytest.fixture
def run_plan(tmp_path: Path) -> Callable[..., Any]:
    """Execute a plan in tmp_path with the inline executor; returns (outcome, events, state)."""
    from prodigy.runtime.events import read_events
    from prodigy.runtime.execute import execute
    from prodigy.runtime.run import RunOptions
    from prodigy.runtime.store import StateDir

    def run(plan: Plan, *, run_id: str = "r1", resume: bool = False, executor: str = "inline",
            jobs: int = 1, force: Iterable[str] = (), cwd: Path | None = None,
            **options: Any) -> Any:
        state = StateDir(tmp_path / "state")
        outcome = execute(plan, state=state, run_id=run_id, cwd=cwd or tmp_path,
                          options=RunOptions(jobs=jobs, executor=executor,
                                             force=frozenset(force), **options),
                          source="test", resume=resume)
        events = list(read_events(state.events_path(run_id)))
        return outcome, events, state

    return run


@pytest.fixture(params=["posix_spawn", "popen"])
def where(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Path:
    """A spawner test's step directory: the driver's own (the spawner uses posix_spawn) or
    another one (it uses Popen, which can change directory)."""
    from prodigy.runtime.executors import spawn

    monkeypatch.setattr(spawn, "KILL_GRACE_S", 0.5)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work if request.param == "posix_spawn" else tmp_path)
    return work


def spawner_pids() -> list[int]:
    """This process's spawner children (the executor's `python -m ...spawner`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"executors.spawner" in cmdline:
            found.append(int(entry.name))
    return found


@contextmanager
def spawner_killed_once(marker: Path) -> Iterator[None]:
    """Around a run: SIGKILL this process's spawner once a command has touched `marker`."""
    def kill_once() -> None:
        for _ in range(3000):  # 30 s: a run that never gets there fails its own asserts
            if marker.exists():
                break
            threading.Event().wait(0.01)
        for pid in spawner_pids():
            os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_once)
    killer.start()
    try:
        yield
    finally:
        killer.join()
