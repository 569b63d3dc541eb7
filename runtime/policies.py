"""Retry and error policies: the one typed definition the normalizer builds and the runtime reads.

The runtime owns them because it must run a plan without the compiler; the normalizer
constructs these same classes, the plan writer stores `to_json()`, and the runtime reads them
back with `from_json()`. Each field is defined once here, with its default; its JSON key is its
name. `from_json` takes the values as written (an int stays an int, so plans stay
byte-identical) and fills a missing key with the field's default, like the runtime always did.

`RetryPolicy`: `attempts` counts every try, backoff is fixed, linear, exponential, fibonacci or
custom, capped by `max_delay_s`, with optional jitter; `retry_on` limits retries to failures
whose text matches (network, timeout, server_error, rate_limit, or regexes), and `budget_s`
bounds the total time spent retrying. `ErrorPolicy` is a MapReduce workflow's `error_policy`;
what a map does with it is `loops/error_policy.py`.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

Backoff = Literal["fixed", "linear", "exponential", "fibonacci", "custom"]
BACKOFFS: tuple[str, ...] = get_args(Backoff)
# What each `retry_on` class matches in a failure's message and output.
_MATCHERS = {
    "network": re.compile(r"network|connection (refused|reset|closed|timed out)|could not resolve"
                          r"|name resolution|ECONNRESET|ECONNREFUSED|EHOSTUNREACH|broken pipe",
                          re.IGNORECASE),
    "timeout": re.compile(r"timed out|timeout", re.IGNORECASE),
    "server_error": re.compile(r"\b5\d\d\b|server error|bad gateway|service unavailable",
                               re.IGNORECASE),
    "rate_limit": re.compile(r"rate.?limit|\b429\b|too many requests|overloaded", re.IGNORECASE),
}
MATCHERS: tuple[str, ...] = tuple(_MATCHERS)


def _json(value: Any) -> Any:
    """A policy's fields as JSON data: tuples as lists, nested policies as mappings."""
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of `data` that are fields of `cls`: the map has always ignored others (the
    plan schema does not check `error_policy`'s keys)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A `retry:` block; the defaults are what a block that omits the key means."""

    attempts: int = 3
    backoff: Backoff = "exponential"
    initial_delay_s: float = 1
    max_delay_s: float = 30
    increment_s: float | None = None  # linear; None: the initial delay
    base: float = 2.0  # exponential
    delays_s: tuple[float, ...] = ()  # custom; past the last one, max_delay_s
    jitter: bool = False
    jitter_factor: float = 0.3
    retry_on: tuple[str, ...] = ()  # names in MATCHERS; empty (and no patterns): any failure
    retry_on_patterns: tuple[str, ...] = ()  # regexes searched in the error text
    budget_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(_json(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RetryPolicy:
        known = _known(cls, data)
        for name in ("delays_s", "retry_on", "retry_on_patterns"):
            if name in known:
                known[name] = tuple(known[name] or ())
        return cls(**known)

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `retry` (1 = the second attempt)."""
        n = max(1, retry)
        if self.backoff == "fixed":
            delay = self.initial_delay_s
        elif self.backoff == "linear":
            step = self.increment_s if self.increment_s is not None else self.initial_delay_s
            delay = self.initial_delay_s + step * (n - 1)
        elif self.backoff == "fibonacci":
            a, b = 1, 1
            for _ in range(n - 1):
                a, b = b, a + b
            delay = self.initial_delay_s * a
        elif self.backoff == "custom":
            delay = self.delays_s[n - 1] if n <= len(self.delays_s) else self.max_delay_s
        else:
            delay = self.initial_delay_s * self.base ** (n - 1)
        delay = min(delay, self.max_delay_s)
        if self.jitter:
            delay *= 1 + self.jitter_factor * (2 * rand() - 1)
        return max(0.0, delay)

    def matches(self, text: str, timed_out: bool) -> bool:
        if not self.retry_on and not self.retry_on_patterns:
            return True
        for name in self.retry_on:
            if (name == "timeout" and timed_out) or (
                    name in _MATCHERS and _MATCHERS[name].search(text)):
                return True
        return any(re.search(p, text) for p in self.retry_on_patterns)

    def next_delay(self, attempt: int, text: str, timed_out: bool, elapsed_s: float,
                   rand: Callable[[], float] = random.random) -> float | None:
        """Seconds before trying again after failed try `attempt`, or None: do not retry."""
        if attempt >= self.attempts or not self.matches(text, timed_out):
            return None
        delay = self.delay(attempt, rand)
        if self.budget_s is not None and elapsed_s + delay > self.budget_s:
            return None
        return delay


@dataclass(frozen=True, slots=True)
class CircuitBreakerPolicy:
    """After `failure_threshold` failures in a row no new agent starts for `timeout_s`; then
    `half_open_requests` trial agents, and `success_threshold` successes in a row close it."""

    failure_threshold: int = 5
    success_threshold: int = 1
    timeout_s: float = 30
    half_open_requests: int = 1

    def to_json(self) -> dict[str, Any]:
        return dict(_json(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CircuitBreakerPolicy:
        return cls(**_known(cls, data))


ItemFailure = Literal["dlq", "retry", "skip", "stop", "custom"]
Collection = Literal["aggregate", "immediate", "batched"]


@dataclass(frozen=True, slots=True)
class ErrorPolicy:
    """A MapReduce workflow's `error_policy` (its top-level convenience keys folded in).

    `on_item_failure` is `custom` when it names `custom_handler`; `batch_size` goes with
    `error_collection: batched`; `retry` is the block's `retry_config`, None if absent.
    """

    on_item_failure: ItemFailure = "dlq"
    custom_handler: str | None = None
    continue_on_failure: bool = True
    max_failures: int | None = None
    failure_threshold: float | None = None  # a fraction of the items, 0..1
    error_collection: Collection = "aggregate"
    batch_size: int | None = None
    circuit_breaker: CircuitBreakerPolicy | None = None
    retry: RetryPolicy | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(_json(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ErrorPolicy:
        known = _known(cls, data)
        # An empty block is no block, as the map has always read it.
        breaker, retry = known.get("circuit_breaker"), known.get("retry")
        known["circuit_breaker"] = CircuitBreakerPolicy.from_json(breaker) if breaker else None
        known["retry"] = RetryPolicy.from_json(retry) if retry else None
        return cls(**known)
