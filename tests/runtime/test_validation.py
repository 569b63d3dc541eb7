"""Reading validation results and scores; the error policy and its circuit breaker."""

from __future__ import annotations

import pytest

from prodigy.runtime.loops.error_policy import BreakerState, CircuitBreaker, ErrorPolicy, ItemAction
from prodigy.runtime.loops.scores import converged, parse_score, parse_validation
from prodigy.runtime.policies import CircuitBreakerPolicy, RetryPolicy


def test_a_validation_result_becomes_the_validation_variable() -> None:
    text = ('{"completion_percentage": 85.5, "status": "incomplete", "implemented": ["a"], '
            '"missing": ["b", "c"], "gaps": {"b": {"severity": "high"}}}')
    v = parse_validation(text, True, 2, 90)
    assert v["completion"] == 85.5 and v["status"] == "incomplete" and not v["passed"]
    assert v["missing_count"] == 2 and v["gaps"] == {"b": {"severity": "high"}}
    assert v["attempt"] == 2 and v["implemented"] == ["a"]
    assert parse_validation('{"completion_percentage": 90}', True, 1, 90)["passed"]


@pytest.mark.parametrize(("text", "ok", "completion", "status"), [
    ("all good", True, 100, "complete"),  # non-JSON output of a success counts as complete
    ("", False, 0, "failed"),
    ("[1, 2]", True, 100, "complete"),
    ('{"completion": 140}', True, 100, "complete"),  # clamped
])
def test_output_that_is_not_a_result(text: str, ok: bool, completion: int, status: str) -> None:
    v = parse_validation(text, ok, 1, 100)
    assert (v["completion"], v["status"]) == (completion, status)


def test_expected_schema_is_checked() -> None:
    schema = {"type": "object", "required": ["completion_percentage", "status"]}
    v = parse_validation('{"completion_percentage": 100}', True, 1, 100, schema)
    assert v["completion"] == 0 and "expected_schema" in v["missing"][0]


@pytest.mark.parametrize(("text", "score"), [
    ('{"score": 72, "gaps": ["x"]}', 72), ("score: 41", 41), ("Score = 7.5", 7.5),
    ("coverage 83%", 83), ("rated 60/100 overall", 60), ("90 out of 100", 90),
    ("no number here", 0), ('{"score": 250}', 100), ("score: -4", 0),
])
def test_scores(text: str, score: float) -> None:
    assert parse_score(text)[0] == score


def test_convergence_needs_three_scores_within_two_points() -> None:
    assert not converged([50, 51])
    assert converged([10, 50, 51, 52]) and not converged([50, 51, 53])


def test_error_policy_stop_reasons() -> None:
    assert ErrorPolicy.from_params(None).stop_reason(5, 10) is None  # dlq, go on
    assert "stop" in str(ErrorPolicy.from_params({"on_item_failure": "stop"}).stop_reason(1, 9))
    assert ErrorPolicy.from_params({"continue_on_failure": False}).stop_reason(1, 9)
    capped = ErrorPolicy.from_params({"max_failures": 2})
    assert capped.stop_reason(2, 10) is None and "max_failures" in str(capped.stop_reason(3, 10))
    rate = ErrorPolicy.from_params({"failure_threshold": 0.2})
    assert rate.stop_reason(2, 10) is None and "failure_threshold" in str(rate.stop_reason(3, 10))
    retry = ErrorPolicy.from_params({"on_item_failure": "retry"})
    assert retry.action is ItemAction.RETRY and retry.retry is not None
    assert retry.retry == RetryPolicy()  # the default retry block: 3 tries
    assert ErrorPolicy.from_params({"on_item_failure": "custom"}).action is ItemAction.DLQ
    breaker = {"failure_threshold": 2, "success_threshold": 1, "timeout_s": 5,
               "half_open_requests": 1}
    assert ErrorPolicy.from_params({"circuit_breaker": breaker}).breaker == \
        CircuitBreakerPolicy(2, 1, 5, 1)
    assert ErrorPolicy.from_params({"circuit_breaker": {}}).breaker is None


def test_circuit_breaker_opens_pauses_and_closes() -> None:
    breaker = CircuitBreaker(CircuitBreakerPolicy(failure_threshold=2, success_threshold=2,
                                                  timeout_s=10, half_open_requests=1))
    breaker.record(False, 0)
    assert breaker.allow(0)
    breaker.record(False, 1)
    assert breaker.state is BreakerState.OPEN and not breaker.allow(5)
    assert breaker.allow(11) and breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(11)  # one trial at a time
    breaker.record(True, 12)
    assert breaker.allow(12)  # that trial went well: another
    breaker.record(True, 13)
    assert breaker.state is BreakerState.CLOSED
    breaker.record(False, 14)
    breaker.record(False, 15)
    assert not breaker.allow(16)
    assert breaker.allow(26)
    breaker.record(False, 27)  # a failed trial opens it again
    assert breaker.state is BreakerState.OPEN and not breaker.allow(28)
