"""foreach with run-time items, validate and goal_seek loops, verify and analyze, in one
process (inline executor) from compiled workflows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prodigy.runtime.store import RunStatus

ok, failed = RunStatus.SUCCEEDED, RunStatus.FAILED


def run_yaml(run_plan: Any, tmp_path: Path, text: str, **kw: Any) -> Any:
    from prodigy.compiler.pipeline import compile_file

    (tmp_path / "wf.yml").write_text(text)
    return run_plan(compile_file(str(tmp_path / "wf.yml")), **kw)


FOREACH = """\
commands:
  - shell: "printf 'a\\\\nbad\\\\n\\\\nc\\\\nd\\\\n'"
    capture: unused
  - foreach:
      foreach: "printf 'a\\\\nbad\\\\n\\\\nc\\\\nd\\\\n'"
      parallel: 2
      continue_on_error: {cont}
      max_items: 3
      do:
        - shell: "echo ${{index}}/${{total}} ${{item}} $PRODIGY_ITEM >> seen.txt"
        - shell: "test ${{item}} != bad"
  - shell: "echo '${{foreach.output}}' > summary.txt"
"""


def test_foreach_over_command_lines_continues_past_a_failure(run_plan: Any,
                                                            tmp_path: Path) -> None:
    outcome, events, _ = run_yaml(run_plan, tmp_path, FOREACH.format(cont="true"))
    assert outcome.status is ok
    seen = sorted((tmp_path / "seen.txt").read_text().splitlines())
    assert seen == ["0/3 a a", "1/3 bad bad", "2/3 c c"]  # max_items, blank line dropped
    assert (tmp_path / "summary.txt").read_text() == (
        "Foreach completed: 3 total, 2 successful, 1 failed\n")
    assert [e["item"] for e in events if e["event"] == "item_failed"] == ["item_1"]


def test_foreach_without_continue_on_error_fails_the_step(run_plan: Any,
                                                         tmp_path: Path) -> None:
    outcome, _, _ = run_yaml(run_plan, tmp_path, FOREACH.format(cont="false"))
    assert outcome.status is failed and not (tmp_path / "summary.txt").exists()
    assert "item 1 (bad) failed" in outcome.failed[0]["message"]


def test_foreach_resume_skips_the_items_that_succeeded(run_plan: Any, tmp_path: Path) -> None:
    run_yaml(run_plan, tmp_path, FOREACH.format(cont="false"))
    (tmp_path / "seen.txt").unlink()
    text = FOREACH.format(cont="false").replace('"test ${item} != bad"',
                                                '"test ${item} != bad || test -f fixed"')
    (tmp_path / "fixed").touch()
    outcome, _, _ = run_yaml(run_plan, tmp_path, text, resume=True)
    assert outcome.status is ok
    # The body changed, so every item runs again; an unchanged body would reuse item 0.
    assert len((tmp_path / "seen.txt").read_text().splitlines()) == 3
    (tmp_path / "seen.txt").unlink()
    outcome, _, _ = run_yaml(run_plan, tmp_path, text, resume=True)
    assert outcome.status is ok and not (tmp_path / "seen.txt").exists()


VALIDATE = """\
commands:
  - shell: "echo draft > doc.txt"
    validate:
      shell: |
        if grep -q fixed doc.txt; then echo '{"completion_percentage": 95}'; else
          echo '{"completion_percentage": 40, "missing": ["intro"],
                 "gaps": {"intro": {"severity": "high"}}}'
        fi
      threshold: 90
      on_incomplete:
        shell: |
          echo 'fixed ${validation.completion} ${validation.missing}' >> doc.txt
          echo $PRODIGY_VAR_validation > var.json
        max_attempts: 3
  - shell: "echo '${validation.completion} ${validation.status}' > after.txt"
"""


def test_validate_refines_until_the_threshold(run_plan: Any, tmp_path: Path) -> None:
    outcome, events, _ = run_yaml(run_plan, tmp_path, VALIDATE)
    assert outcome.status is ok
    assert (tmp_path / "doc.txt").read_text() == "draft\nfixed 40 intro\n"
    assert json.loads((tmp_path / "var.json").read_text())["gaps"] == {
        "intro": {"severity": "high"}}
    assert (tmp_path / "after.txt").read_text() == "95 complete\n"
    scored = [(e["attempt"], e["completion"]) for e in events if e["event"] == "attempt_scored"]
    assert scored == [(1, 40), (2, 95)]


def test_validate_short_of_the_threshold_fails_the_step(run_plan: Any, tmp_path: Path) -> None:
    text = VALIDATE.replace("echo 'fixed", "echo 'still").replace("max_attempts: 3",
                                                                  "max_attempts: 2")
    outcome, _, _ = run_yaml(run_plan, tmp_path, text)
    assert outcome.status is failed
    assert outcome.failed[0]["message"] == "Validation failed after 3 attempts. Completion: 40%"


GOAL = """\
commands:
  - goal_seek:
      goal: "grow the file"
      shell: "echo \\"$PRODIGY_VALIDATION_SCORE\\" >> scores-seen.txt; echo x >> draft.txt"
      validate: |
        n=$(wc -l < draft.txt)
        if [ $n -ge 3 ]; then echo 'score: 50'; else echo "score: $((n * 20))"; fi
      threshold: 90
      max_attempts: 8
  - shell: "echo ${goal_seek.status} ${goal_seek.attempts} ${goal_seek.score} > result.txt"
"""


def test_goal_seek_stops_when_scores_converge(run_plan: Any, tmp_path: Path) -> None:
    outcome, events, _ = run_yaml(run_plan, tmp_path, GOAL)
    assert outcome.status is ok
    scores = [e["score"] for e in events if e["event"] == "attempt_scored"]
    assert scores == [20, 40, 50, 50, 50]  # the last three within 2 points: converged
    assert (tmp_path / "result.txt").read_text() == "converged 5 50\n"
    # Attempts after the first see the previous score in their environment.
    assert (tmp_path / "scores-seen.txt").read_text().split() == ["20", "40", "50", "50"]


def test_goal_seek_reaching_the_threshold(run_plan: Any, tmp_path: Path) -> None:
    text = GOAL.replace("echo 'score: 50'", "echo 'coverage 95%'")
    outcome, _, _ = run_yaml(run_plan, tmp_path, text)
    assert outcome.status is ok
    assert (tmp_path / "result.txt").read_text() == "complete 3 95\n"


def test_verify_checks_with_criteria(run_plan: Any, tmp_path: Path) -> None:
    text = """\
commands:
  - shell: "echo built > marker"
    step_validate:
      commands:
        - command: "test -f marker"
        - command: "cat marker"
          expect_output: "nope"
      success_criteria: {criteria}
      max_attempts: 2
  - shell: "echo ${{verify.passed_count}} > after.txt"
"""
    outcome, _, _ = run_yaml(run_plan, tmp_path, text.format(criteria="any"))
    assert outcome.status is ok and (tmp_path / "after.txt").read_text() == "1\n"
    outcome, _, _ = run_yaml(run_plan, tmp_path, text.format(criteria="all"), run_id="r2")
    assert outcome.status is failed
    assert "1 of 2 checks passed (criteria all) after 2 round(s)" in outcome.failed[0]["message"]


def test_analyze_publishes_and_saves_the_analysis(run_plan: Any, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("x = 1\ny = 2\n")
    text = """\
commands:
  - analyze:
      max_cache_age: 60
      format: summary
  - shell: |
      echo ${analysis.files} ${analysis.languages.Python.lines} > counts.txt
      cp ${analysis.file} copy.json
"""
    outcome, _, state = run_yaml(run_plan, tmp_path, text)
    assert outcome.status is ok
    files, lines = (tmp_path / "counts.txt").read_text().split()
    assert int(files) >= 2 and lines == "2"
    saved = json.loads((tmp_path / "copy.json").read_text())
    assert saved["lines"] >= 2 and "tree" not in saved
    assert (state.root / "analysis" / "latest.json").exists()


def test_a_resumed_validate_loop_replays_what_it_measured(run_plan: Any, tmp_path: Path) -> None:
    text = """\
commands:
  - shell: "echo draft > doc.txt"
    validate:
      shell: |
        echo x >> measured.txt
        grep -q better doc.txt && echo '{"completion_percentage": 100}' ||
          echo '{"completion_percentage": 10}'
      on_incomplete:
        shell: "test -f allowed && echo better >> doc.txt"
        max_attempts: 2
"""
    outcome, _, _ = run_yaml(run_plan, tmp_path, text)
    assert outcome.status is failed and "on_incomplete failed" in outcome.failed[0]["message"]
    assert (tmp_path / "measured.txt").read_text() == "x\n"
    (tmp_path / "allowed").touch()
    outcome, events, _ = run_yaml(run_plan, tmp_path, text, resume=True)
    assert outcome.status is ok
    # Measurement 1 came from its record (the files have changed since); only the second
    # measurement ran the validation command again.
    assert (tmp_path / "measured.txt").read_text() == "x\nx\n"
    scored = [(e["attempt"], e["completion"]) for e in events if e["event"] == "attempt_scored"]
    assert scored[-2:] == [(1, 10), (2, 100)]


def test_every_loop_kind_has_a_loop_class_and_only_those() -> None:
    from prodigy.runtime.loops import LOOPS, Loop
    from prodigy.runtime.ops import OPS

    assert {kind for kind, op in OPS.items() if op.loop} == set(LOOPS)
    assert all(issubclass(cls, Loop) for cls in LOOPS.values())


def test_every_node_kind_has_an_op_and_every_op_a_node_kind() -> None:
    from prodigy.runtime.errors import InternalError
    from prodigy.runtime.nodes import NODE_KINDS
    from prodigy.runtime.ops import OPS, load_op

    assert set(OPS) == set(NODE_KINDS)
    # OPS is derived: a kind's op is `OP` in `runtime/ops/<kind>.py`, and a kind without that
    # module is an error naming it (raised when `prodigy.runtime.ops` is imported).
    with pytest.raises(InternalError, match=r"module prodigy\.runtime\.ops\.no_such_kind "
                                            r"\(runtime/ops/no_such_kind\.py, defining OP\)"):
        load_op("no_such_kind")
    with pytest.raises(InternalError, match=r"prodigy\.runtime\.ops\.render defines no OP"):
        load_op("render")


def test_every_exception_prodigy_raises_is_rooted_in_prodigy_error() -> None:
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    loose = []
    for folder in ("compiler", "runtime", "prodigy/cli"):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and any(
                        isinstance(b, ast.Name) and b.id == "Exception" for b in node.bases):
                    loose.append(f"{path.relative_to(root)}:{node.name}")
    assert loose == ["runtime/errors.py:ProdigyError"]
