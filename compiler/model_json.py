"""Model values that reach the plan as plain JSON-shaped data (frozen: tuples, not lists).

Node params and workflow metadata hold only JSON-shaped values, so configurations such as
`commit_config:` are flattened here, with the key names the runtime reads (documented in
runtime/nodes.py). Retry and error policies need no such copy: they are the runtime's own
`policies` classes, written with their `to_json()`.
"""

from __future__ import annotations

from typing import Any

from prodigy.compiler.model import CommitConfig
from prodigy.compiler.model_workflow import WorktreeConfig


def commit_json(config: CommitConfig | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {
        "message_template": config.message_template,
        "message_pattern": config.message_pattern,
        "sign": config.sign,
        "author": config.author,
        "include_files": config.include_files,
        "exclude_files": config.exclude_files,
        "squash": config.squash,
    }


def worktree_json(config: WorktreeConfig | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {
        "parallel_worktrees": config.parallel_worktrees,
        "allocation_strategy": config.allocation_strategy,
        "cleanup": dict(config.cleanup),
        "limits": dict(config.limits),
        "branch_prefix": config.branch_prefix,
    }
