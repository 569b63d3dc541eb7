"""Variables the frame binds around a step: `step.*`, `last.*`, `ID.exit_code`, `env.*`."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from prodigy.runtime import environment
from prodigy.runtime.node_vars import published, reads_step, step_variables
from prodigy.runtime.nodes import HandlerParams, ShellParams


def test_a_step_publishes_last_and_its_ids_exit_code_unless_a_capture_did() -> None:
    shell = ShellParams(command="false", step_id="build")
    out = published(shell, "shell", {"shell.output": "o", "build.output": "o"}, 2)
    assert out["last.output"] == "o" and out["last.exit_code"] == 2
    assert (out["build.exit_code"], out["build.success"], out["last.success"]) == (2, False, False)
    kept = published(shell, "shell", {"shell.output": "", "build.exit_code": 9}, 0)
    assert kept["build.exit_code"] == 9 and kept["last.exit_code"] == 0
    assert published(HandlerParams(), "handler", {"x": 1}, None) == {"x": 1}


def test_step_name_and_index_are_bound_only_where_read() -> None:
    reads = ShellParams(command=("tpl", "echo ", ("var", ("step", "index"))))
    other = ShellParams(command=("tpl", "echo ", ("var", ("step", "files_changed"))))
    assert reads_step(reads) and not reads_step(other)
    # Copies of a foreach body share their templates; their bindings (values) never count.
    copies = [replace(reads, bindings={"item": ["step", "name"], "index": k}) for k in range(3)]
    assert all(reads_step(copy) for copy in copies)
    assert not reads_step(replace(other, bindings={"item": ["step", "name"]}))
    rewritten = ShellParams(command=("tpl", "echo ", ("var", ("step", "name"))))
    assert reads_step(rewritten)  # other template objects: looked at on their own
    assert step_variables("main.4.on_failure.1", "fix it") == {"step.name": "fix it",
                                                              "step.index": 1}


def test_env_is_the_process_environment_under_the_workflow_env(tmp_path: Path) -> None:
    os.environ["PRODIGY_T_BASE"] = "process"
    try:
        run_env = environment.build({"env": {"PRODIGY_T_BASE": "workflow", "W": "w"}}, "r7",
                                    tmp_path, {})
        scope = environment.base_scope({"name": "demo"}, run_env)
    finally:
        del os.environ["PRODIGY_T_BASE"]
    assert scope["env"]["PRODIGY_T_BASE"] == "workflow" and scope["env"]["PATH"]
    assert (scope["workflow.name"], scope["workflow.id"]) == ("demo", "r7")
    assert environment.variable_env({"last.exit_code": 1, "build.exit_code": 1}) == {
        "PRODIGY_VAR_build_exit_code": "1"}  # `last.*` is not exported
