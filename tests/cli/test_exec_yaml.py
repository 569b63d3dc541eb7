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
