"""A workflow run once per input (`prodigy run FILE --args V... --map GLOB...`): the inputs'
variables, and the group record that makes the loop resumable.

Each input is a run of its own, `GROUP-1` .. `GROUP-N` (its own record, checkpoints, worktree
and merge), so `prodigy resume GROUP-2` continues that input alone. The group record,
`groups/GROUP/group.json` in the state dir, lists the inputs in order with their run ids, and
`groups/GROUP/K.plan.json` keeps each input's compiled plan: `prodigy resume GROUP` skips the
inputs whose run succeeded, resumes the one that stopped, and starts the rest from their
stored plans, without compiling anything again (the runtime never imports the compiler).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prodigy.runtime.store import StateDir, atomic_write


@dataclass(frozen=True, slots=True)
class RunInput:
    """One input: `arg` is `$ARG`; `path` the matched file of a `--map` input."""

    index: int  # 1-based
    total: int
    arg: str
    path: str | None = None

    def bindings(self) -> dict[str, str]:
        """The workflow variables of this input: ARG, ARG_PATH (a file), INDEX, TOTAL."""
        found = {"ARG": self.arg, "INDEX": str(self.index), "TOTAL": str(self.total)}
        if self.path is not None:
            found["ARG_PATH"] = self.path
        return found

    def environment(self) -> dict[str, str]:
        """What every step's environment gets: upstream's `PRODIGY_ARG`, and the rest
        under the same prefix, for scripts that read the environment rather than `${ARG}`."""
        env = {"PRODIGY_ARG": self.arg, "PRODIGY_INDEX": str(self.index),
               "PRODIGY_TOTAL": str(self.total)}
        if self.path is not None:
            env["PRODIGY_ARG_PATH"] = self.path
        return env


def map_arg(path: str) -> str:
    """`$ARG` of a `--map` file, as upstream binds it: the file's stem up to its first `-`
    (`specs/65-foo.md` -> `65`), so spec files numbered by name give their number; a stem
    that starts with `-` is kept whole."""
    stem = Path(path).stem
    return stem.split("-", 1)[0] or stem


def inputs_of(values: list[str], files: list[str]) -> list[RunInput]:
    """The inputs in order: each `--args` value, then each `--map` file."""
    raw: list[tuple[str, str | None]] = [(v, None) for v in values]
    raw += [(map_arg(f), f) for f in files]
    return [RunInput(i, len(raw), arg, path) for i, (arg, path) in enumerate(raw, start=1)]


@dataclass(slots=True)
class RunGroup:
    """The record of a run over several inputs; each input's run id is `GROUP-INDEX`."""

    group_id: str
    source: str  # the workflow file
    cwd: str
    inputs: list[RunInput]
    keep_going: bool = False
    created_at: float = field(default_factory=time.time)

    def run_id(self, item: RunInput) -> str:
        return f"{self.group_id}-{item.index}"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "inputs": [asdict(i) for i in self.inputs]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunGroup:
        return cls(**{**data, "inputs": [RunInput(**i) for i in data["inputs"]]})


def group_dir(state: StateDir, group_id: str) -> Path:
    return state.root / "groups" / group_id


def write_group(state: StateDir, group: RunGroup, plans: list[str]) -> None:
    """The group's record and each input's plan text (written before the first input runs)."""
    folder = group_dir(state, group.group_id)
    folder.mkdir(parents=True, exist_ok=True)
    state.ignore_in_git()
    for item, text in zip(group.inputs, plans, strict=True):
        atomic_write(folder / f"{item.index}.plan.json", text)
    atomic_write(folder / "group.json", json.dumps(group.to_json(), indent=1) + "\n")


def read_group(state: StateDir, group_id: str) -> RunGroup | None:
    """The group `group_id`, or None; an unreadable record is None too (not a group)."""
    try:
        data = json.loads((group_dir(state, group_id) / "group.json").read_text("utf-8"))
        return RunGroup.from_json(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_plan_text(state: StateDir, group: RunGroup, item: RunInput) -> str:
    """Input `item`'s stored plan (OSError when it is gone)."""
    return (group_dir(state, group.group_id) / f"{item.index}.plan.json").read_text("utf-8")


def list_groups(state: StateDir) -> list[RunGroup]:
    root = state.root / "groups"
    if not root.is_dir():
        return []
    found = [read_group(state, p.name) for p in sorted(root.iterdir()) if p.is_dir()]
    return [g for g in found if g is not None]
