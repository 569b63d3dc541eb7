"""The runtime's exception root. Node failures are values (results), never exceptions."""

from __future__ import annotations


class ProdigyError(Exception):
    """Root of every error prodigy raises on purpose."""


class PlanError(ProdigyError):
    """A plan file that cannot be run: not JSON, wrong schema, unknown format_version or kind."""

    def __init__(self, message: str, code: str = "P401", line: int = 1, col: int = 1) -> None:
        super().__init__(message)
        self.code = code
        self.line = line
        self.col = col


class CheckpointError(ProdigyError):
    """The checkpoint store is unusable (corrupt, locked by a live run, wrong version)."""


class ExecutorUnavailable(ProdigyError):
    """The requested executor cannot be used here (missing extra, bad scheduler address)."""


class InternalError(ProdigyError):
    """Prodigy reached a state it should not: a bug, reported as such (exit 3)."""
