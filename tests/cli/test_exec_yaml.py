"""`prodigy exec` of a workflow file: the user meant `prodigy run`, and is told so."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodigy.cli.main import main


@pytest.mark.parametrize("name", ["wf.yml", "wf.YAML"])
def test_exec_of_a_workflow_suggests_run(tmp_path: Path, name: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_text("- shell: echo hi\n", encoding="utf-8")
    assert main(["exec", str(path), "--state-dir", str(tmp_path / "state")]) == 2
    err = capsys.readouterr().err
    assert f"{path}:1:1: error[P401]: " in err
    assert f"run it with `prodigy run {path}`" in err
    assert not (tmp_path / "state").exists()


def test_exec_of_a_broken_plan_still_points_into_it(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{nope", encoding="utf-8")
    assert main(["exec", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[P401]" in err and "prodigy run" not in err


def test_exec_of_a_plan_whose_pool_has_no_limit_says_so(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # A hand-edited plan: the copies name their loop's barrier as pool, the barrier lost its
    # limit. Refused before anything runs, positioned in the plan file.
    from prodigy.compiler.pipeline import compile_file

    (tmp_path / "wf.yml").write_text("- foreach: {foreach: [a, b], parallel: 2, "
                                     "do: [{shell: 'touch ${item}'}]}\n", encoding="utf-8")
    text = compile_file(str(tmp_path / "wf.yml")).dumps()
    assert '"limit":2' in text
    path = tmp_path / "plan.json"
    path.write_text(text.replace(',"limit":2', ""), encoding="utf-8")
    assert main(["exec", str(path), "--state-dir", str(tmp_path / "state"), "--in-place"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:1:1: error[P401]: node 'main.0.item.0.0': its pool 'main.0'" in err
    assert not list(tmp_path.glob("a")) and "Traceback" not in err
