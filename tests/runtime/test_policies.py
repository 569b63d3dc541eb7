"""Retry and error policies: backoff arithmetic, and JSON that round-trips and matches the plan
schema. That the compiler builds these same classes is tested with the normalizer
(tests/compiler/test_normalize.py) and the plan writer (tests/compiler/test_lower.py)."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodigy.runtime.policies import (
    BACKOFFS,
    MATCHERS,
    CircuitBreakerPolicy,
    Collection,
    ErrorPolicy,
    ItemFailure,
    RetryPolicy,
)

_seconds = st.integers(0, 3600) | st.floats(0, 3600, allow_nan=False)
RETRIES = st.builds(
    RetryPolicy,
    attempts=st.integers(1, 10),
    backoff=st.sampled_from(BACKOFFS),
    initial_delay_s=_seconds,
    max_delay_s=_seconds,
    increment_s=st.none() | _seconds,
    base=st.integers(1, 5) | st.floats(1, 5),
    delays_s=st.lists(_seconds, max_size=4).map(tuple),
    jitter=st.booleans(),
    jitter_factor=st.floats(0, 1),
    retry_on=st.lists(st.sampled_from(MATCHERS), unique=True).map(tuple),
    retry_on_patterns=st.lists(st.text(max_size=6), max_size=3).map(tuple),
    budget_s=st.none() | _seconds,
)
BREAKERS = st.builds(CircuitBreakerPolicy, st.integers(1, 9), st.integers(1, 9), _seconds,
                     st.integers(1, 9))
ERROR_POLICIES = st.builds(
    ErrorPolicy,
    on_item_failure=st.sampled_from(get_args(ItemFailure)),
    custom_handler=st.none() | st.text(max_size=8),
    continue_on_failure=st.booleans(),
    max_failures=st.none() | st.integers(0, 50),
    failure_threshold=st.none() | st.floats(0, 1),
    error_collection=st.sampled_from(get_args(Collection)),
    batch_size=st.none() | st.integers(1, 50),
    circuit_breaker=st.none() | BREAKERS,
    retry=st.none() | RETRIES,
)


def _through_json(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data))


@given(RETRIES)
def test_a_retry_policy_survives_the_plan(policy: RetryPolicy) -> None:
    assert RetryPolicy.from_json(_through_json(policy.to_json())) == policy


@given(ERROR_POLICIES)
def test_an_error_policy_survives_the_plan(policy: ErrorPolicy) -> None:
    assert ErrorPolicy.from_json(_through_json(policy.to_json())) == policy


def test_retry_json_is_the_plan_schemas_retry() -> None:
    text = files("prodigy.schemas").joinpath("plan.schema.json").read_text(encoding="utf-8")
    retry = json.loads(text)["$defs"]["retry"]
    keys = set(RetryPolicy().to_json())
    assert keys == set(retry["properties"]) == set(retry["required"])
    assert tuple(retry["properties"]["backoff"]["enum"]) == BACKOFFS
    assert tuple(retry["properties"]["retry_on"]["items"]["enum"]) == MATCHERS


def test_from_json_fills_defaults_and_ignores_unknown_keys() -> None:
    read = RetryPolicy.from_json({"attempts": 2, "retry_on": ["rate_limit"], "unknown": 1})
    assert read == RetryPolicy(attempts=2, retry_on=("rate_limit",))
    assert ErrorPolicy.from_json({"max_failures": 2}) == ErrorPolicy(max_failures=2)
    # an empty block is no block
    assert ErrorPolicy.from_json({"circuit_breaker": {}, "retry": {}}) == ErrorPolicy()


def test_to_json_keeps_the_numbers_as_given() -> None:
    # Plans must stay byte-identical: an int duration stays an int.
    assert RetryPolicy(initial_delay_s=2).to_json()["initial_delay_s"] == 2
    assert json.dumps(RetryPolicy().to_json()["base"]) == "2.0"
    assert json.dumps(CircuitBreakerPolicy().to_json()["timeout_s"]) == "30"


@pytest.mark.parametrize(("policy", "delays"), [
    (RetryPolicy(attempts=5, backoff="fixed", initial_delay_s=2), [2, 2, 2, 2]),
    (RetryPolicy(attempts=5, backoff="linear", initial_delay_s=1, increment_s=3), [1, 4, 7, 10]),
    (RetryPolicy(attempts=5, backoff="exponential", initial_delay_s=1, base=3), [1, 3, 9, 27]),
    (RetryPolicy(attempts=5, backoff="fibonacci", initial_delay_s=2), [2, 2, 4, 6]),
    (RetryPolicy(attempts=5, backoff="custom", delays_s=(5, 1), max_delay_s=9), [5, 1, 9, 9]),
    (RetryPolicy(attempts=5, backoff="exponential", initial_delay_s=10, max_delay_s=15),
     [10, 15, 15, 15]),
])
def test_backoff_delays(policy: RetryPolicy, delays: list[float]) -> None:
    assert [policy.delay(n) for n in range(1, 5)] == delays


def test_attempts_count_every_try_and_jitter_stays_in_bounds() -> None:
    policy = RetryPolicy(attempts=3, backoff="fixed", initial_delay_s=10, jitter=True,
                         jitter_factor=0.3)
    assert policy.next_delay(1, "boom", False, 0, rand=lambda: 0.0) == pytest.approx(7)
    assert policy.next_delay(2, "boom", False, 0, rand=lambda: 1.0) == pytest.approx(13)
    assert policy.next_delay(3, "boom", False, 0) is None  # 3 tries done
    assert RetryPolicy(attempts=1).next_delay(1, "boom", False, 0) is None
    # a block that leaves attempts out means three tries, with exponential backoff from 1 s
    assert [RetryPolicy().next_delay(n, "boom", False, 0) for n in (1, 2, 3)] == [1, 2, None]


def test_retry_on_and_budget() -> None:
    policy = RetryPolicy(attempts=4, backoff="fixed", initial_delay_s=1,
                         retry_on=("network", "timeout"), retry_on_patterns=(r"flaky \d+",),
                         budget_s=10)
    assert policy.next_delay(1, "Connection refused", False, 0) == 1
    assert policy.next_delay(1, "exit code 1", True, 0) == 1  # a timeout
    assert policy.next_delay(1, "test flaky 42 failed", False, 0) == 1
    assert policy.next_delay(1, "syntax error", False, 0) is None
    assert policy.next_delay(1, "Connection reset", False, 9.5) is None  # over budget
