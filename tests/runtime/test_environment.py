"""Env precedence: process < env_files < workflow env (profile applied) < captured variables <
step env < secrets < what prodigy always sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prodigy.runtime import environment
from prodigy.runtime.environment import SetupError, load_env_file

from .conftest import build_plan, sh


def test_every_layer_overrides_the_one_below(run_plan: Any, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("L1", "process")
    monkeypatch.setenv("SECRET_SRC", "secret")
    for name in ("L2", "L3", "L4", "L5"):
        monkeypatch.setenv(name, "process")
    (tmp_path / ".env").write_text("L2=file\nL3=file\nL4=file\nL5=file\n")
    workflow = {"env_files": [".env"], "env": {"L3": "workflow", "L4": "workflow",
                                               "L5": "workflow"},
                "secrets": {"L5": {"provider": "env", "key": "SECRET_SRC"}}}
    plan = build_plan([sh("n", "echo $L1 $L2 $L3 $L4 $L5 $PRODIGY_AUTOMATION > env.txt",
                          env={"L4": "step", "L5": "step", "PRODIGY_AUTOMATION": "no"})],
                      workflow=workflow)
    outcome, _, _ = run_plan(plan)
    assert outcome.status.value == "succeeded"
    assert (tmp_path / "env.txt").read_text().split() == [
        "process", "file", "workflow", "step", "secret", "true"]


def test_workflow_env_templates_commands_and_conditions(tmp_path: Path) -> None:
    workflow = {"env": {
        "BASE": "base",
        "DERIVED": ["tpl", ["var", ["BASE"]], "-x"],
        "CORES": {"command": "echo 4", "cache": True},
        "MODE": {"condition": ["==", ["ref", ["BASE"]], ["lit", "base"]],
                 "when_true": "prod", "when_false": "dev"},
    }, "args": {"ARG": "a1"}}
    run_env = environment.build(workflow, "r1", tmp_path, {})
    assert run_env.overlay == {"BASE": "base", "DERIVED": "base-x", "CORES": "4", "MODE": "prod"}
    scope = environment.base_scope(workflow, run_env)
    assert scope["ARG"] == "a1" and scope["env"]["CORES"] == "4"
    dry = environment.build(workflow, "r1", tmp_path, {}, dry_run=True)
    assert dry.overlay["CORES"] == "<output of 'echo 4'>"  # a dry run executes nothing


def test_clear_env_starts_from_nothing_but_the_step_env(run_plan: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKY", "yes")
    plan = build_plan([sh("n", "echo ${LEAKY:-unset} $ONLY > env.txt", clear_env=True,
                          env={"ONLY": "kept"})])
    run_plan(plan)
    assert (tmp_path / "env.txt").read_text().split() == ["unset", "kept"]


def test_secrets_from_files_and_their_errors(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    got = environment.build({"secrets": {"T": {"provider": "file", "key": "token"}}}, "r",
                            tmp_path, {})
    assert got.secrets == {"T": "from-file"} and "from-file" in got.mask_values
    assert got.key_view({"T": "from-file", "PRODIGY_RUN_ID": "r"}) == {"T": "<secret T>"}
    with pytest.raises(SetupError, match="cannot read"):
        environment.build({"secrets": {"T": {"provider": "file", "key": "nope"}}}, "r",
                          tmp_path, {})
    with pytest.raises(SetupError, match="unknown provider"):
        environment.build({"secrets": {"T": {"provider": "vault", "key": "x"}}}, "r",
                          tmp_path, {})


def test_sensitive_looking_env_values_are_masked_too(tmp_path: Path) -> None:
    got = environment.build({"env": {"API_TOKEN": "abcdef123", "DEBUG": "true"}}, "r",
                            tmp_path, {})
    assert got.mask_values == ("abcdef123",)


def test_dotenv_parsing(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# comment\nexport A=1\nB = 'two words'\nC=\"line\\nbreak\"\nD=x # note\n"
                    "not a line\n")
    assert load_env_file(path) == {"A": "1", "B": "two words", "C": "line\nbreak", "D": "x"}
    with pytest.raises(SetupError, match="env file"):
        load_env_file(tmp_path / "missing.env")


def test_captured_variables_become_env_but_raw_outputs_do_not() -> None:
    env = environment.variable_env({"count": 3, "doc": {"a": 1}, "name.exit_code": 0,
                                    "shell.output": "big", "x.output": "big", "huge": "x" * 70000})
    assert env == {"PRODIGY_VAR_count": "3", "PRODIGY_VAR_doc": '{"a":1}',
                   "PRODIGY_VAR_name_exit_code": "0"}


def test_a_missing_env_file_is_skipped(tmp_path: Path) -> None:
    got = environment.build({"env_files": ["nope.env"], "env": {"A": "1"}}, "r", tmp_path, {})
    assert got.overlay == {"A": "1"}


def test_map_results_never_reach_the_environment() -> None:
    from prodigy.runtime.environment import variable_env

    exported = variable_env({"map.results": [{"item_id": "item_0"}], "map.total": 1,
                             "map.results_file": "/x/results.json"})
    assert exported == {"PRODIGY_VAR_map_total": "1",
                        "PRODIGY_VAR_map_results_file": "/x/results.json"}


@pytest.mark.parametrize(("line", "col", "name"), [("1X=2", 1, "'1X'"),
                                                   ("export A-B = 3", 8, "'A-B'"),
                                                   ("  =4", 3, "''"), ("A B=5", 1, "'A B'")])
def test_an_invalid_dotenv_name_is_p120_at_its_line(tmp_path: Path, line: str, col: int,
                                                     name: str) -> None:
    path = tmp_path / ".env"
    path.write_text(f"# ok\nGOOD=1\n{line}\n")
    with pytest.raises(SetupError) as caught:
        environment.build({"env_files": [".env"]}, "r", tmp_path, {})
    assert caught.value.code == "P120" and f"{name} is not an environment variable" in str(
        caught.value)
    assert caught.value.span is not None
    assert (caught.value.span.file, caught.value.span.line, caught.value.span.col) == (
        str(path), 3, col)
