"""Model values that reach the plan as plain JSON-shaped data (frozen: tuples, not lists).

Node params and workflow metadata hold only JSON-shaped values, so policies such as `retry:`
are flattened here, with the key names the runtime reads (documented in runtime/nodes.py).
"""

from __future__ import annotations

from typing import Any

from prodigy.compiler.model import CommitConfig, Retry
from prodigy.compiler.model_workflow import ErrorPolicy, WorktreeConfig


def retry_json(retry: Retry | None) -> dict[str, Any] | None:
    if retry is None:
        return None
    return {
        "attempts": retry.attempts,
        "backoff": retry.backoff,
        "initial_delay_s": retry.initial_delay_s,
        "max_delay_s": retry.max_delay_s,
        "increment_s": retry.increment_s,
        "base": retry.base,
        "delays_s": retry.delays_s,
        "jitter": retry.jitter,
        "jitter_factor": retry.jitter_factor,
        "retry_on": retry.retry_on,
        "retry_on_patterns": retry.retry_on_patterns,
        "budget_s": retry.budget_s,
    }


def error_policy_json(policy: ErrorPolicy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    breaker = policy.circuit_breaker
    return {
        "on_item_failure": policy.on_item_failure,
        "custom_handler": policy.custom_handler,
        "continue_on_failure": policy.continue_on_failure,
        "max_failures": policy.max_failures,
        "failure_threshold": policy.failure_threshold,
        "error_collection": policy.error_collection,
        "batch_size": policy.batch_size,
        "circuit_breaker": None if breaker is None else {
            "failure_threshold": breaker.failure_threshold,
            "success_threshold": breaker.success_threshold,
            "timeout_s": breaker.timeout_s,
            "half_open_requests": breaker.half_open_requests,
        },
        "retry": retry_json(policy.retry),
    }


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
