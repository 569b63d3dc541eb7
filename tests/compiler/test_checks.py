"""Reference and graph checks: what is an error, where it points, and what is not an error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from prodigy.compiler.pipeline import validate_file
from prodigy.runtime.diagnostics import Diagnostic

ROOT = Path(__file__).resolve().parents[2]


def check(tmp_path: Path, text: str, lint: bool = False) -> list[Diagnostic]:
    """The diagnostics of `text`; lint warnings (P6xx) only when asked for."""
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return [d for d in validate_file(str(path)) if lint or not d.code.startswith("P6")]


def found(tmp_path: Path, text: str) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.col) if d.span else (d.code, 0, 0)
            for d in check(tmp_path, text)]


def test_p203_suggests_the_closest_step_id(tmp_path: Path) -> None:
    (diag,) = check(tmp_path, """
        - claude: /prodigy-coverage
          id: coverage
        - claude: "/prodigy-implement-spec ${coverag.spec}"
        """)
    assert diag.code == "P203" and diag.hint == "did you mean 'coverage'?"
    assert (diag.span.line, diag.span.col, diag.span.end_col) == (4, 38, 45)  # type: ignore[union-attr]


def test_unknown_roots_far_from_any_step_id_are_left_for_the_shell(tmp_path: Path) -> None:
    assert check(tmp_path, """
        - shell: "echo ${HOME} $PATH ${env.DEPLOY} ${name##*.}"
          id: build
        - shell: "for f in *; do echo $f $item; done"
        """) == []
    # A dotted one reaches the shell as a bad substitution: a warning (P211), never an error.
    assert found(tmp_path, '- shell: "echo ${SOME_ENV_VAR.x}"\n') == [("P211", 1, 18)]


def test_p204_item_outside_map_or_foreach(tmp_path: Path) -> None:
    assert found(tmp_path, "- shell: 'echo ${item}'\n- shell: 'echo ${item_id}'\n") == [
        ("P204", 1, 18), ("P204", 2, 18)]
    assert check(tmp_path, "- foreach: {foreach: [a], do: [{shell: 'echo ${item}'}]}\n") == []
    assert found(tmp_path, "- shell: 'echo ${foreach.item}'\n") == [("P204", 1, 18)]


@pytest.mark.parametrize(("text", "where"), [
    ("- shell: 'echo ${map.results}'\n", "reduce and merge"),
    ("- shell: 'echo ${merge.source_branch}'\n", "the merge phase"),
    ("- shell: 'echo ${validation.gaps}'\n", "on_incomplete"),
    ("- shell: 'echo ${error.message}'\n", "on_failure handlers"),
    ("- claude: '/x ${shell.output}'\n", "no earlier step"),
    ("- shell: 'echo ${CAPTURED_OUTPUT}'\n", "no earlier step"),
])
def test_p208_built_in_values_where_they_cannot_exist(tmp_path: Path, text: str,
                                                      where: str) -> None:
    (diag,) = check(tmp_path, text)
    assert diag.code == "P208" and where in diag.message


def test_p208_map_agent_outputs_are_not_visible_in_reduce(tmp_path: Path) -> None:
    (diag,) = check(tmp_path, """
        name: m
        mode: mapreduce
        map:
          input: x.json
          agent_template:
            - shell: "echo ${item}"
              capture: per_item
        reduce:
          - shell: "echo ${per_item}"
        """)
    assert diag.code == "P208" and "a map agent" in diag.message
    assert "map.results" in (diag.hint or "")


def test_setup_captures_and_env_are_visible_everywhere(tmp_path: Path) -> None:
    assert check(tmp_path, """
        name: m
        mode: mapreduce
        env: {PROJECT: p}
        setup: [{shell: date, capture: started}]
        map:
          input: "${PROJECT}/items.json"
          agent_template: [{shell: "echo ${item} ${started} $PROJECT ${item_index}"}]
        reduce: [{shell: "echo ${started} ${map.total} $PROJECT"}]
        merge: [{shell: "echo ${started} ${merge.target_branch}"}]
        """) == []


def test_handler_bodies_see_their_step_and_the_failure(tmp_path: Path) -> None:
    assert check(tmp_path, """
        - shell: "cargo clippy"
          capture_output: warnings
          id: lint
          on_failure:
            claude: "/fix ${warnings} ${shell.output} ${shell.stderr} ${lint.output}
                     ${error.message} ${test.output}"
          on_exit_code:
            2: {shell: "echo ${warnings}"}
        """) == []


def test_p301_lists_every_step_in_the_cycle(tmp_path: Path) -> None:
    (diag,) = check(tmp_path, """
        - claude: "/a ${c.output}"
          id: a
        - claude: "/b ${a.output}"
          id: b
        - claude: "/c ${b.output}"
          id: c
        """)
    assert diag.code == "P301"
    assert all(node in diag.message for node in ("main.0", "main.1", "main.2"))
    assert (diag.span.line, diag.span.col) == (2, 17)  # type: ignore[union-attr]
    assert len(diag.related) == 3


def test_p301_a_step_reading_its_own_output(tmp_path: Path) -> None:
    (diag,) = check(tmp_path, "- claude: '/x ${me.output}'\n  id: me\n")
    assert diag.code == "P301"


def test_p301_a_handler_reading_a_later_step(tmp_path: Path) -> None:
    codes = [d.code for d in check(tmp_path, """
        - shell: a
          on_failure: {claude: "/fix ${later.output}"}
        - shell: b
          id: later
        """)]
    assert codes == ["P301"]


@pytest.mark.parametrize(("text", "line"), [
    ("- shell: a\n  on_exit_code:\n    256: {shell: b}\n", 3),
    ("- shell: a\n  validate:\n    shell: c\n    threshold: 0\n    on_incomplete: {shell: d}\n",
     5),
    ("- shell: a\n  when: 'false'\n  on_failure: {shell: b}\n", 3),
])
def test_p302_handlers_that_never_run(tmp_path: Path, text: str, line: int) -> None:
    (diag,) = check(tmp_path, text)
    assert diag.code == "P302" and diag.span is not None and diag.span.line == line


def test_p303_duplicate_ids_anywhere(tmp_path: Path) -> None:
    (diag,) = check(tmp_path, """
        - shell: a
          id: build
          on_failure:
            shell: b
            description: fallback
        - foreach: {foreach: [x], do: [{shell: c, id: build}]}
        """)
    assert diag.code == "P303" and diag.span is not None and diag.span.line == 7
    assert diag.related[0].line == 3


def test_expression_errors_stop_before_lowering(tmp_path: Path) -> None:
    codes = [d.code for d in check(tmp_path, "- shell: a\n  when: '${x} =='\n")]
    assert codes and all(c.startswith("P2") for c in codes)


def test_example_workflows_are_clean() -> None:
    for path in sorted((ROOT / "workflows").glob("*.yml")):
        # Those reading `$ARG` are run with `--args` (without it, P211 says so).
        assert validate_file(str(path), args={"ARG": "1"}) == [], path.name


@pytest.mark.parametrize(
    ("command", "flagged"),
    [
        ("ruff check ${item.path}", ["${item.path}"]),
        ("ruff check '${item.path}'", ["${item.path}"]),  # quotes do not stop `'`
        ('ruff check "${item}" && echo ${item_json}', ["${item}", "${item_json}"]),
        ("ruff check ${item.path:sh}", []),
        ('black "$PRODIGY_ITEM"', []),
        ("echo $item", ["$item"]),
    ],
)
def test_lint_flags_item_data_quoted_or_not(
    tmp_path: Path, command: str, flagged: list[str]
) -> None:
    text = f"""
        name: lint
        mode: mapreduce
        map:
          input: items.json
          agent_template:
            - shell: {command!r}
        """
    found = [d for d in check(tmp_path, text, lint=True) if d.code == "P601"]
    assert [d.message.split("`")[1] for d in found] == flagged
    assert all(d.severity.value == "warning" for d in found)
