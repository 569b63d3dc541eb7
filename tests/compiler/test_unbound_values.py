"""Values left to the command line: `validate` (a pre-commit hook, without --arg or --profile)
warns that they are missing; `compile` and `run` need them and refuse without."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from prodigy.compiler import pipeline
from prodigy.runtime.diagnostics import CompileError, Severity

PARAMETER = """\
    parameters:
      spec:
        type: string
        required: true
    commands:
      - claude: "/implement ${spec}"
    """
PROFILED = """\
    mode: mapreduce
    profiles:
      prod: {WORKERS: "8"}
      staging: {WORKERS: "2"}
    map:
      input: "ls"
      max_parallel: "${WORKERS}"
      agent_template:
        - shell: 'echo "$PRODIGY_ITEM"'
    """


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def test_a_missing_required_parameter_warns_in_validate_at_its_key(tmp_path: Path) -> None:
    (diag,) = pipeline.validate_file(_write(tmp_path, PARAMETER))
    assert (diag.code, diag.severity) == ("P503", Severity.WARNING)
    assert diag.span is not None and (diag.span.line, diag.span.col) == (2, 3)
    assert diag.span.end_col == 7, "the caret covers the key `spec`"


def test_a_missing_required_parameter_fails_compile(tmp_path: Path) -> None:
    path = _write(tmp_path, PARAMETER)
    with pytest.raises(CompileError) as caught:
        pipeline.compile_file(path)
    (diag,) = caught.value.diagnostics
    assert (diag.code, diag.severity) == ("P503", Severity.ERROR)
    assert pipeline.compile_file(path, args={"spec": "specs/1.md"}) is not None


def test_a_parameter_named_by_name_points_at_its_name(tmp_path: Path) -> None:
    (diag,) = pipeline.validate_file(_write(tmp_path, """\
        parameters:
          - name: spec
            required: true
        commands:
          - claude: "/implement ${spec}"
        """))
    assert diag.span is not None and (diag.span.line, diag.span.col) == (2, 11)


def test_a_profile_only_variable_warns_naming_the_profiles(tmp_path: Path) -> None:
    (diag,) = pipeline.validate_file(_write(tmp_path, PROFILED))
    assert (diag.code, diag.severity) == ("P209", Severity.WARNING)
    assert "which only profiles prod, staging set" in diag.message
    assert diag.hint is not None and "--profile prod" in diag.hint


def test_a_profile_only_variable_fails_compile_without_the_profile(tmp_path: Path) -> None:
    path = _write(tmp_path, PROFILED)
    with pytest.raises(CompileError) as caught:
        pipeline.compile_file(path)
    assert [(d.code, d.severity) for d in caught.value.diagnostics] == [
        ("P209", Severity.ERROR)]
    assert pipeline.compile_file(path, profile="staging").node("map").params.max_parallel == 2


def test_a_variable_set_nowhere_names_profile_in_its_hint(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.delenv("WORKERS", raising=False)
    (diag,) = pipeline.validate_file(_write(tmp_path, PROFILED.replace("WORKERS:", "OTHER:")))
    assert "which is not set" in diag.message
    assert diag.hint is not None and "`--profile`" in diag.hint and "--arg WORKERS" in diag.hint


def test_a_value_that_is_given_but_wrong_stays_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, PARAMETER.replace("type: string", "type: integer"))
    (diag,) = pipeline.validate_file(path, args={"spec": "many"})
    assert (diag.code, diag.severity) == ("P504", Severity.ERROR)
