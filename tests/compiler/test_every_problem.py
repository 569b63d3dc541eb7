"""One `validate` run reports the problems of every stage: a stage skips only what an earlier
error made meaningless, and does not report what leaving it out causes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from prodigy.compiler import pipeline
from prodigy.compiler.schema_prune import usable_part
from prodigy.runtime.diagnostics import CompileError


def _validate(tmp_path: Path, text: str) -> list[tuple[str, int]]:
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return [(d.code, d.span.line if d.span else 0) for d in pipeline.validate_file(str(path))]


def test_schema_expression_and_reference_errors_in_one_run_sorted(tmp_path: Path) -> None:
    found = _validate(tmp_path, """\
        commands:
          - claude: "/prodigy-coverage"
            id: coverage
          - shell: "make"
            timout: 5
          - shell: "make build"
            when: "${ARG} = 'release'"
          - claude: "/implement ${coverag.spec}"
        """)
    assert found == [("P110", 5), ("P201", 7), ("P203", 8)]


def test_every_phase_goes_on_past_a_schema_error(tmp_path: Path) -> None:
    found = _validate(tmp_path, """\
        mode: mapreduce
        setup:
          - shell: "make items"
            timeout: [1]
        map:
          input: "make-items"
          filter: "severity =="
          max_parallel: many
          agent_template:
            - shell: 'echo "$PRODIGY_ITEM"'
              capture: a
              capture_output: b
            - shell: "echo ${item.path}"
        reduce:
          - shell: "echo ${item}"
        """)
    codes = [code for code, _ in found]
    assert codes == ["P111", "P201", "P116", "P118", "P601", "P204"], found
    assert [line for _, line in found] == sorted(line for _, line in found)


def test_a_normalization_error_does_not_hide_the_other_steps(tmp_path: Path) -> None:
    found = _validate(tmp_path, """\
        - shell: "make"
          capture: a
          capture_output: b
        - shell: "echo ${item}"
        """)
    assert found == [("P118", 3), ("P204", 4)]


def test_what_a_left_out_step_declares_is_not_reported_missing(tmp_path: Path) -> None:
    # `builds` is close to `build`: without the broken step, `${build.output}` would look like a
    # misspelling of it (P203), but the step declaring `build` was only left out.
    found = _validate(tmp_path, """\
        - shell: "cargo build"
          id: build
          timeout: [1]
        - shell: "cargo build --release"
          id: builds
        - shell: "echo ${build.output}"
        """)
    assert found == [("P111", 3)]


def test_a_left_out_setup_step_does_not_shift_capture_outputs(tmp_path: Path) -> None:
    found = _validate(tmp_path, """\
        mode: mapreduce
        setup:
          commands:
            - shell: "git rev-parse HEAD"
              timout: 5
            - shell: "make items.json"
          capture_outputs:
            HEAD: 1
        map:
          input: items.json
          agent_template:
            - shell: 'echo "$PRODIGY_ITEM"'
        """)
    assert found == [("P110", 5)]


def test_a_document_the_schema_rejects_as_a_whole_stops_after_the_schema(tmp_path: Path
                                                                         ) -> None:
    assert _validate(tmp_path, "mode: mapreduce\nname: x\n") == [("P112", 1)]
    assert _validate(tmp_path, "- shell: 'echo ${'\n  id: [x\n") == [("P101", 3)]


def test_compile_still_raises_every_error(tmp_path: Path) -> None:
    path = tmp_path / "wf.yml"
    path.write_text("- shell: a\n  timout: 1\n- shell: 'echo ${item}'\n", encoding="utf-8")
    with pytest.raises(CompileError) as caught:
        pipeline.compile_file(str(path))
    assert [d.code for d in caught.value.diagnostics] == ["P110", "P204"]


# --------------------------------------------------------------------- the schema's share


def test_a_broken_step_becomes_a_placeholder_that_keeps_the_indexes() -> None:
    data = {"commands": [{"shell": "a", "timout": 1}, {"shell": "b"}], "nmae": "x"}
    usable = usable_part(data)
    assert usable is not None
    assert usable.skipped == frozenset({("commands", 0)})
    assert isinstance(usable.data, dict) and "nmae" not in usable.data
    assert usable.data["commands"][1] == {"shell": "b"}
    assert data["commands"][0] == {"shell": "a", "timout": 1}, "the loaded data is not changed"


def test_removing_a_value_that_breaks_its_parent_prunes_the_parent_too() -> None:
    # Without `input` the map lacks a required key; without `map` the workflow does.
    assert usable_part({"mode": "mapreduce", "map": {"input": 5, "agent_template": []}}) is None
    usable = usable_part({"mode": "mapreduce",
                          "map": {"input": "x.json", "max_parallel": "many",
                                  "agent_template": [{"shell": "a"}]}})
    assert usable is not None and usable.skipped == frozenset()
    assert isinstance(usable.data, dict) and "max_parallel" not in usable.data["map"]
