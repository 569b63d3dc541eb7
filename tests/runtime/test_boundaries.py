"""Boundary values that one-character changes to the runtime would break unnoticed: a score
exactly at the threshold, exit code 255, and the filter fast paths against the generic
comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodigy.compiler.expressions import parse_filter
from prodigy.runtime.expr import MISSING, eval_filter
from prodigy.runtime.expr.values import compare
from prodigy.runtime.store import RunStatus

from .conftest import build_plan, sh


def run_yaml(run_plan: Any, tmp_path: Path, text: str, **kw: Any) -> Any:
    from prodigy.compiler.pipeline import compile_file, validate_file

    (tmp_path / "wf.yml").write_text(text)
    assert [d for d in validate_file(str(tmp_path / "wf.yml")) if d.severity == "error"] == []
    return run_plan(compile_file(str(tmp_path / "wf.yml")), **kw)


def test_goal_seek_score_equal_to_the_threshold_is_complete(run_plan: Any,
                                                             tmp_path: Path) -> None:
    text = """\
commands:
  - goal_seek:
      goal: "grow the file"
      shell: "echo x >> draft.txt"
      validate: |
        n=$(wc -l < draft.txt)
        echo "score: $((n * 30))"
      threshold: 90
      max_attempts: 8
  - shell: "echo ${goal_seek.status} ${goal_seek.attempts} ${goal_seek.score} > result.txt"
"""
    outcome, _, _ = run_yaml(run_plan, tmp_path, text)
    assert outcome.status is RunStatus.SUCCEEDED
    assert (tmp_path / "result.txt").read_text() == "complete 3 90\n"


def test_on_exit_code_255_compiles_and_runs_its_body(run_plan: Any, tmp_path: Path) -> None:
    text = """\
commands:
  - shell: "exit 255"
    on_exit_code:
      255: {shell: "touch got-255"}
      1: {shell: "touch got-1"}
"""
    run_yaml(run_plan, tmp_path, text)
    assert (tmp_path / "got-255").exists() and not (tmp_path / "got-1").exists()


@pytest.mark.process
def test_exit_code_255_reaches_its_body_from_the_spawner(run_plan: Any, tmp_path: Path) -> None:
    plan = build_plan([sh("n", "exit 255", on_exit_code={"255": "e"}), sh("e", "touch got-255")],
                      [("n", "e", "on_exit_code")])
    run_plan(plan, executor="local", jobs=2)
    assert (tmp_path / "got-255").exists()


_values = st.one_of(st.just(MISSING), st.none(), st.booleans(), st.integers(-5, 5),
                    st.floats(-5, 5, allow_nan=False), st.sampled_from(["", "3", "a", "3.0"]),
                    st.lists(st.integers(0, 3), max_size=2),
                    st.dictionaries(st.sampled_from("ab"), st.integers(0, 3), max_size=1))
_literals = st.sampled_from(["3", "3.0", "0", "-2", "'3'", "'a'", "''", "null", "true"])


@settings(max_examples=600, deadline=None)
@given(_values, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), _literals)
def test_filter_fast_paths_agree_with_the_generic_comparison(value: Any, op: str,
                                                             literal: str) -> None:
    """`field OP literal` compiles to a specialised check (missing, null and string fields
    against a number included); it must answer as `compare` does."""
    node, diags = parse_filter(f"v {op} {literal}")
    assert not diags and node is not None
    item = {} if value is MISSING else {"v": value}
    constant = {"null": None, "true": True}.get(literal)
    if literal not in ("null", "true"):
        constant = literal.strip("'") if literal.startswith("'") else (
            float(literal) if "." in literal else int(literal))
    assert eval_filter(node, item) == compare(op, value, constant)
