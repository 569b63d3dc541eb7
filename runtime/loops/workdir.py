"""Where an item's frame works: `path` (the directory its commands run in), `exclusive` (the
directory belongs to this item alone, so git history made in it is its own work) and
`cleanup()` (called once when its frame ended, whatever its outcome).

Foreach items, and map agents of a run in place, share the run's directory (`SharedDir`). Map
agents of a run in a worktree get one of their own (`git/agents.py`, `AgentWorktree`), whose
fate (merged and removed, or kept) the map decides after the merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class AgentDir(Protocol):
    @property
    def path(self) -> Path: ...

    @property
    def exclusive(self) -> bool: ...

    def cleanup(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SharedDir:
    """The run's working directory, shared by every agent."""

    path: Path
    exclusive: bool = False

    def cleanup(self) -> None:
        return None  # the run's own checkout: nothing belongs to the agent alone


def agent_dir(run_cwd: Path, item_id: str) -> AgentDir:
    """The working directory context for one agent (one place to switch to worktrees)."""
    return SharedDir(run_cwd)
