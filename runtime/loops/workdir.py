"""Where a map agent works: a small interface, so a git worktree per agent can drop in later.

Today every agent works in the run's own directory (`SharedDir`): parallel agents see each
other's files, and `cleanup()` has nothing to remove. A worktree implementation provides the
same two things: `path` (the directory its commands run in) and `cleanup()` (called once
when the agent ended, whatever its outcome), plus `exclusive` (the directory belongs to this
agent alone, so git history made in it is the agent's own work).
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
