"""`--force ID` on run, exec and resume: a step's own `id:` or a plan node id; anything else is
refused (exit 2, P501) with the closest names. A step inside a loop body forces that loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodigy.cli.main import main
from prodigy.compiler.pipeline import compile_file
from prodigy.runtime.force import UnknownForceId, resolve

STEPS = """\
- shell: "echo build >> log.txt"
  id: build
- shell: "echo test >> log.txt"
  id: test
"""

MAPREDUCE = """\
mode: mapreduce
setup:
  - shell: "printf '[1, 2]' > items.json"
map:
  input: items.json
  agent_template:
    - shell: "echo agent ${item} >> agents.txt"
      id: fix
    - foreach:
        foreach: [a, b]
        do:
          - shell: "echo ${item}"
            id: inner
reduce:
  - shell: "echo reduce >> log.txt"
    id: report
"""


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "wf.yml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_step_id_and_a_node_id_name_the_same_node(tmp_path: Path) -> None:
    plan = compile_file(_write(tmp_path, STEPS))
    assert resolve(plan, ["test"]).nodes == {"main.1"}
    assert resolve(plan, ["main.1", "build"]).nodes == {"main.0", "main.1"}
    assert resolve(plan, []).nodes == frozenset()


def test_a_name_inside_a_loop_body_forces_the_loop_and_says_so(tmp_path: Path) -> None:
    plan = compile_file(_write(tmp_path, MAPREDUCE))
    for name in ("fix", "map.agent.0", "inner"):  # `inner` is repeated per foreach item
        forced = resolve(plan, [name])
        assert forced.nodes == {"map"}, name
        assert len(forced.notes) == 1 and "map runs again as a whole" in forced.notes[0]
    assert "map.agent.1.item.0.0, map.agent.1.item.1.0 run inside" in forced.notes[0]
    assert resolve(plan, ["report"]).nodes == {"reduce.0"}
    assert not resolve(plan, ["report"]).notes
    # One frame's node, as events name it, passes as it is; an unknown node inside it does not.
    assert resolve(plan, ["map[item_0]/map.agent.0"]).nodes == {"map[item_0]/map.agent.0"}
    with pytest.raises(UnknownForceId):
        resolve(plan, ["map[item_0]/map.agent.9"])


def test_an_unknown_name_is_refused_with_the_closest(tmp_path: Path) -> None:
    plan = compile_file(_write(tmp_path, STEPS))
    with pytest.raises(UnknownForceId) as caught:
        resolve(plan, ["biuld"])
    assert "did you mean 'build'?" in str(caught.value)
    assert "step ids: build, test" in str(caught.value)


def _run(argv: list[str], tmp_path: Path) -> int:
    return main([*argv, "--state-dir", str(tmp_path / "state"), "--executor", "inline"])


@pytest.mark.parametrize("command", ["run", "exec", "resume"])
def test_an_unknown_force_id_is_exit_2_before_anything_runs(
        command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    workflow = _write(tmp_path, STEPS)
    target = workflow
    if command == "exec":
        target = str(tmp_path / "plan.json")
        assert main(["compile", workflow, "-o", target]) == 0
    elif command == "resume":
        assert _run(["run", workflow, "--run-id", "r1"], tmp_path) == 0
        (tmp_path / "log.txt").unlink()
        target = "r1"
    capsys.readouterr()
    assert _run([command, target, "--force", "tset"], tmp_path) == 2
    err = capsys.readouterr().err
    assert "error[P501]" in err and "did you mean 'test'?" in err and "Traceback" not in err
    assert not (tmp_path / "log.txt").exists()


def test_resume_force_by_step_id_reruns_that_step_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    workflow = _write(tmp_path, STEPS)
    assert _run(["run", workflow, "--run-id", "r1"], tmp_path) == 0
    assert _run(["resume", "r1", "--force", "test"], tmp_path) == 0
    assert (tmp_path / "log.txt").read_text().split() == ["build", "test", "test"]


def test_force_of_an_agent_step_runs_every_agent_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    workflow = _write(tmp_path, MAPREDUCE)
    assert _run(["run", workflow, "--run-id", "m1"], tmp_path) == 0
    capsys.readouterr()
    assert _run(["resume", "m1", "--force", "fix"], tmp_path) == 0
    assert "note: --force fix: map.agent.0 runs inside the loop map" in capsys.readouterr().err
    assert sorted((tmp_path / "agents.txt").read_text().splitlines()) == [
        "agent 1", "agent 1", "agent 2", "agent 2"]
    assert (tmp_path / "log.txt").read_text().split() == ["reduce"]  # its inputs are the same
