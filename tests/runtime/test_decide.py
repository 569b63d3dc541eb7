"""Keys, run/reuse decisions with their reasons, and retry policy arithmetic."""

from __future__ import annotations

import hashlib

import pytest

from prodigy.runtime.decide import (
    KEY_VERSION,
    Action,
    RetryPolicy,
    Why,
    checkpoint_key,
    decide,
    key_from_inputs_json,
)
from prodigy.runtime.plan import canonical_json
from prodigy.runtime.store import NodeRecord, RecordStatus

FP = "f" * 64


def test_key_is_a_merkle_chain_over_fingerprint_inputs_and_dependencies() -> None:
    base = checkpoint_key(FP, {"command": "make"}, {"a": "k1"})
    assert base == checkpoint_key(FP, {"command": "make"}, {"a": "k1"})
    assert base != checkpoint_key("e" * 64, {"command": "make"}, {"a": "k1"})
    assert base != checkpoint_key(FP, {"command": "make all"}, {"a": "k1"})
    assert base != checkpoint_key(FP, {"command": "make"}, {"a": "k2"})
    assert checkpoint_key(FP, {"x": 1, "y": 2}, {"a": "1", "b": "2"}) == \
        checkpoint_key(FP, {"y": 2, "x": 1}, {"b": "2", "a": "1"})


def record(key: str, status: RecordStatus = RecordStatus.DONE, fp: str = FP,
           deps: dict[str, str] | None = None) -> NodeRecord:
    return NodeRecord("n", key, fp, deps or {"a": "ka"}, status, attempt=1)


@pytest.mark.parametrize(("rec", "forced", "action", "why"), [
    (None, False, Action.RUN, Why.NO_CHECKPOINT),
    (record("k"), False, Action.REUSE, Why.CHECKPOINT_MATCHES),
    (record("k"), True, Action.RUN, Why.FORCED),
    (record("k", RecordStatus.STARTED), False, Action.RUN, Why.INTERRUPTED),
    (record("k", RecordStatus.FAILED), False, Action.RUN, Why.FAILED_BEFORE),
    (record("old", fp="e" * 64), False, Action.RUN, Why.FINGERPRINT_CHANGED),
    (record("old", deps={"a": "other"}), False, Action.RUN, Why.UPSTREAM_CHANGED),
    (record("old"), False, Action.RUN, Why.INPUTS_CHANGED),
])
def test_decisions_say_why(rec: NodeRecord | None, forced: bool, action: Action,
                           why: Why) -> None:
    decision = decide(rec, "k", FP, {"a": "ka"}, forced=forced)
    assert decision.action is action and decision.reasons[0][0] is why
    assert decision.explain()


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
    assert RetryPolicy().next_delay(1, "boom", False, 0) is None  # no retry block: one try


def test_retry_on_and_budget() -> None:
    policy = RetryPolicy(attempts=4, backoff="fixed", initial_delay_s=1,
                         retry_on=("network", "timeout"), retry_on_patterns=(r"flaky \d+",),
                         budget_s=10)
    assert policy.next_delay(1, "Connection refused", False, 0) == 1
    assert policy.next_delay(1, "exit code 1", True, 0) == 1  # a timeout
    assert policy.next_delay(1, "test flaky 42 failed", False, 0) == 1
    assert policy.next_delay(1, "syntax error", False, 0) is None
    assert policy.next_delay(1, "Connection reset", False, 9.5) is None  # over budget
    assert RetryPolicy.from_params({"attempts": 2, "retry_on": ["rate_limit"],
                                    "unknown": 1}).retry_on == ("rate_limit",)


def test_key_is_the_hash_of_the_whole_canonical_body() -> None:
    # The key is composed from pieces (the inputs' JSON may be reused across nodes); it must
    # stay the sha256 of the canonical JSON of the whole body.
    inputs = {"command": "écho ${x} — ü", "env": {"b": 1, "a": [1, 2.5, None, True]}}
    deps = {"z": "k2", "a": "k1"}
    body = canonical_json({"v": KEY_VERSION, "fingerprint": FP, "inputs": inputs, "deps": deps})
    expected = hashlib.sha256(body.encode()).hexdigest()
    assert checkpoint_key(FP, inputs, deps) == expected
    assert key_from_inputs_json(FP, canonical_json(inputs), deps) == expected
