"""Keys, and run/reuse decisions with their reasons."""

from __future__ import annotations

import hashlib

import pytest

from prodigy.runtime.decide import (
    KEY_VERSION,
    Action,
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


def test_key_is_the_hash_of_the_whole_canonical_body() -> None:
    # The key is composed from pieces (the inputs' JSON may be reused across nodes); it must
    # stay the sha256 of the canonical JSON of the whole body.
    inputs = {"command": "écho ${x} — ü", "env": {"b": 1, "a": [1, 2.5, None, True]}}
    deps = {"z": "k2", "a": "k1"}
    body = canonical_json({"v": KEY_VERSION, "fingerprint": FP, "inputs": inputs, "deps": deps})
    expected = hashlib.sha256(body.encode()).hexdigest()
    assert checkpoint_key(FP, inputs, deps) == expected
    assert key_from_inputs_json(FP, canonical_json(inputs), deps) == expected
