"""What a map does when an item fails: the workflow's `error_policy`, enforced.

(Upstream parses all of it and enforces none of it.) The semantics here:

- `on_item_failure`: `dlq` (default): the item goes to the dead-letter queue and the map goes
  on. `retry`: the agent runs again per `retry` (default 3 attempts in total, exponential
  backoff from 1 s), then goes to the DLQ. `skip`: the item is recorded `skipped`, not sent to
  the DLQ and not counted as a failure. `stop`: the first failure stops the map (in-flight
  agents finish; the map node fails). A custom handler name is treated as `dlq`.
- `retry` (a retry block) also applies with `dlq`: the agent is retried before it is queued.
- `continue_on_failure: false`: like `stop`, whatever `on_item_failure` says.
- `max_failures: N`: the map stops once more than N items failed.
- `failure_threshold: R` (0..1): the map stops once more than R x (number of items) failed,
  that is, as soon as the final failure rate can no longer stay at or below R.
- `circuit_breaker`: after `failure_threshold` failures in a row no new agent starts for
  `timeout_s`; then `half_open_requests` agents may start, and `success_threshold` successes
  in a row close the breaker again, while a failure re-opens it.
- `error_collection` (aggregate | immediate | batched) only shapes reporting: every failure
  is an `item_failed` event and a DLQ entry either way.
A map that stops fails its node (so the run fails and reduce does not run); items that never
started stay unrecorded, and `prodigy resume` or `prodigy dlq retry` runs them later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from prodigy.runtime import policies
from prodigy.runtime.policies import CircuitBreakerPolicy, RetryPolicy


class ItemAction(StrEnum):
    DLQ = "dlq"
    RETRY = "retry"
    SKIP = "skip"
    STOP = "stop"


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class ErrorPolicy:
    """The workflow's `policies.ErrorPolicy` as a map applies it: `action` is what its
    `on_item_failure` does, `retry` the retry that implies (a default one for `retry`)."""

    spec: policies.ErrorPolicy
    action: ItemAction
    retry: RetryPolicy | None

    @classmethod
    def from_params(cls, data: Mapping[str, Any] | None) -> ErrorPolicy:
        spec = policies.ErrorPolicy.from_json(data) if data else policies.ErrorPolicy()
        try:
            action = ItemAction(spec.on_item_failure)
        except ValueError:  # a custom handler name: its failures are queued like dlq
            action = ItemAction.DLQ
        retry = spec.retry
        if action is ItemAction.RETRY and retry is None:
            retry = RetryPolicy()
        return cls(spec, action, retry)

    @property
    def breaker(self) -> CircuitBreakerPolicy | None:
        return self.spec.circuit_breaker

    def stop_reason(self, failed: int, total: int) -> str | None:
        """Why the map must stop now that `failed` of `total` items failed; None: go on."""
        spec = self.spec
        if failed and (self.action is ItemAction.STOP or not spec.continue_on_failure):
            why = ("on_item_failure is stop" if self.action is ItemAction.STOP
                   else "continue_on_failure is false")
            return f"an item failed and {why}"
        if spec.max_failures is not None and failed > spec.max_failures:
            return f"{failed} items failed, more than max_failures ({spec.max_failures})"
        if spec.failure_threshold is not None and total and \
                failed > spec.failure_threshold * total:
            return (f"{failed} of {total} items failed, over failure_threshold "
                    f"({spec.failure_threshold:g})")
        return None


class CircuitBreaker:
    """Consecutive failures open it; after a pause a few trial agents decide."""

    def __init__(self, policy: CircuitBreakerPolicy) -> None:
        self.failures_to_open = max(1, policy.failure_threshold)
        self.successes_to_close = max(1, policy.success_threshold)
        self.pause_s = float(policy.timeout_s)
        self.trials = max(1, policy.half_open_requests)
        self.state = BreakerState.CLOSED
        self.streak = 0  # consecutive failures (closed) or successes (half-open)
        self.opened_at = 0.0
        self.started_trials = 0

    def allow(self, now: float) -> bool:
        """May a new agent start now? Counts the trial agents of a half-open breaker."""
        if self.state is BreakerState.OPEN:
            if now - self.opened_at < self.pause_s:
                return False
            self.state, self.streak, self.started_trials = BreakerState.HALF_OPEN, 0, 0
        if self.state is BreakerState.HALF_OPEN:
            if self.started_trials >= self.trials:
                return False
            self.started_trials += 1
        return True

    def record(self, ok: bool, now: float) -> None:
        if self.state is BreakerState.HALF_OPEN:
            if not ok:
                self._open(now)
                return
            self.streak += 1
            if self.streak >= self.successes_to_close:
                self.state, self.streak = BreakerState.CLOSED, 0
            else:
                self.started_trials -= 1  # a trial ended well: another may start
            return
        if ok:
            self.streak = 0
            return
        self.streak += 1
        if self.streak >= self.failures_to_open:
            self._open(now)

    def _open(self, now: float) -> None:
        self.state, self.opened_at, self.streak = BreakerState.OPEN, now, 0
