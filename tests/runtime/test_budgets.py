"""Spend limits: a reached budget starts nothing new, keeps what ran, and resume continues."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from prodigy.runtime.budgets import Budget
from prodigy.runtime.store import RunStatus
from prodigy.runtime.usage import Spend

from .conftest import build_plan, chain

# Each call costs $0.40 and 1,000 tokens, and leaves a mark in calls.txt.
FAKE = """\
import json, sys
open("calls.txt", "a").write(sys.argv[-1] + "\\n")
print(json.dumps({"type": "result", "subtype": "success", "is_error": False,
                  "result": "ok", "num_turns": 1, "total_cost_usd": 0.4,
                  "usage": {"input_tokens": 900, "output_tokens": 100}}))
"""


def claude(node_id: str, **params: Any) -> tuple[str, str, dict[str, Any]]:
    return (node_id, "claude", {"prompt": node_id, **params})


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "fake.py"
    script.write_text(FAKE)
    monkeypatch.setenv("PRODIGY_CLAUDE_BIN", f"{sys.executable} {script}")
    return tmp_path / "calls.txt"


def test_limits_are_reached_at_or_above_and_the_command_line_replaces_them() -> None:
    spend = Spend()
    spend.add({"cost_usd": 0.5, "tokens": {"input": 60, "output": 40}})
    assert Budget(1.0).exceeded(spend, "x") is None
    spend.add({"cost_usd": 0.5})
    assert "max_cost_usd ($1) is reached: $1.0000 spent" in str(Budget(1.0).exceeded(spend, "x"))
    assert "max_tokens (100) is reached" in str(Budget(None, 100).exceeded(spend, "x"))
    assert Budget.of({"max_cost_usd": 2}).raised(5.0, None) == Budget(5.0, None)
    assert not Budget() and Budget(None, 3)


def test_a_workflow_budget_stops_the_run_and_resume_with_a_raised_one_finishes(
        run_plan: Any, fake: Path) -> None:
    plan = build_plan([claude("a"), claude("b"), claude("c")], chain("a", "b", "c"),
                      workflow={"max_cost_usd": 0.7})
    outcome, events, _ = run_plan(plan)
    # a ($0.40) and b ($0.80: the limit is reached) ran; c did not start.
    assert fake.read_text().split() == ["a", "b"]
    assert outcome.status is RunStatus.FAILED
    assert "the workflow's max_cost_usd ($0.7) is reached: $0.8000 spent" in outcome.message
    assert outcome.spend.cost_usd == pytest.approx(0.8)
    assert any(e["event"] == "node_skipped" and e.get("reason") == "budget" for e in events)
    # Resumed under the same budget, the spend so far (checkpointed) stops it again at once.
    again, _, _ = run_plan(plan, resume=True)
    assert again.status is RunStatus.FAILED and fake.read_text().split() == ["a", "b"]
    raised, _, _ = run_plan(plan, resume=True, max_cost_usd=5.0)
    assert raised.status is RunStatus.SUCCEEDED and fake.read_text().split() == ["a", "b", "c"]
    assert raised.spend.cost_usd == pytest.approx(1.2)  # a and b reused, their spend counted


def test_a_step_budget_stops_the_run_after_that_step(run_plan: Any, fake: Path) -> None:
    plan = build_plan([claude("a", max_tokens=500), claude("b")], chain("a", "b"))
    outcome, _, _ = run_plan(plan)
    assert fake.read_text().split() == ["a"]
    assert outcome.status is RunStatus.FAILED and "step 'claude: a' max_tokens (500)" in \
        outcome.message
