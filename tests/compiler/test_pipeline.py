"""The pipeline: its stages in order, where it stops, what the public functions return."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from prodigy.compiler import pipeline
from prodigy.compiler.lower import lower
from prodigy.compiler.lower_exprs import parse_all
from prodigy.compiler.normalize import normalize
from prodigy.compiler.source import load_file
from prodigy.runtime.diagnostics import CompileError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def test_the_stages_in_order() -> None:
    assert [name for name, _ in pipeline.STAGES] == [
        "load", "compose", "schema", "normalize", "expressions", "lower", "checks"]


def test_validate_reports_and_compile_raises(tmp_path: Path) -> None:
    path = write(tmp_path, "- shell: 'echo ${item}'\n- shell: 'echo ${item}'\n")
    diagnostics = pipeline.validate_file(path)
    assert [d.code for d in diagnostics] == ["P204", "P204"]
    with pytest.raises(CompileError) as caught:
        pipeline.compile_file(path)
    assert [d.code for d in caught.value.diagnostics] == ["P204", "P204"]


def test_what_a_stage_rejects_the_later_stages_never_see(tmp_path: Path) -> None:
    # a step the schema rejects is not normalized (its lack of a command is not reported)
    assert [d.code for d in pipeline.validate_file(write(tmp_path, "- shel: x\n"))] == ["P110"]
    assert [d.code for d in pipeline.validate_file(str(tmp_path / "missing.yml"))] == ["P001"]


def test_arguments_and_profiles_reach_the_plan(tmp_path: Path) -> None:
    path = write(tmp_path, """
        env: {MODE: prod}
        profiles: {dev: {MODE: dev}}
        commands: [{shell: "echo $MODE $ARG"}]
        """)
    plan = pipeline.compile_file(path, args={"ARG": "7"}, profile="dev")
    assert plan.workflow["env"] == {"MODE": "dev"} and plan.workflow["profile"] == "dev"
    assert plan.node("main.0").params.bindings == {"ARG": "7", "MODE": "dev"}
    with pytest.raises(CompileError) as caught:
        pipeline.compile_file(path, profile="prod")
    # (and a warning: `$ARG` without --args, P211)
    assert [d.code for d in caught.value.diagnostics] == ["P502", "P211"]


@pytest.mark.parametrize("path", sorted((ROOT / "workflows").glob("*.yml"))
                         + sorted((ROOT / "tests" / "fixtures" / "lower").glob("*.yml")),
                         ids=lambda p: p.name)
def test_the_expressions_stage_parses_everything_lowering_reads(path: Path) -> None:
    loaded = load_file(path)
    workflow, _ = normalize(loaded.data, loaded.source_map, {"ARG": "1"})
    assert workflow is not None
    cache = parse_all(workflow, loaded.source_map)
    parsed = len(cache)
    lower(workflow, loaded.source_map, cache)
    assert len(cache) == parsed
