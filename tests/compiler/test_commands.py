"""The command registry: every per-command fact derives from it, and it agrees with the schema.

A command key the schema allows but no module reads, a model class without a spec, a published
root the scope does not know, an option a command neither honours nor refuses: each of these
is a failure here rather than a step that validates and then silently does nothing.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from prodigy.compiler import normalize_steps, pipeline
from prodigy.compiler.commands import registry
from prodigy.compiler.commands.base import SHARED_OPTIONS
from prodigy.compiler.resources import schema
from prodigy.runtime.errors import InternalError
from prodigy.runtime.nodes import NODE_KINDS, StepParams

# One step per command key, the smallest that does its work.
EXAMPLES: dict[str, dict[str, Any]] = {
    "claude": {"claude": "/lint"},
    "shell": {"shell": "true"},
    "analyze": {"analyze": {}},
    "foreach": {"foreach": {"foreach": "ls", "do": [{"shell": "echo ${item}"}]}},
    "write_file": {"write_file": {"path": "a.txt", "content": "x"}},
    "goal_seek": {"goal_seek": {"goal": "g", "shell": "true", "validate": "echo 100"}},
    "test": {"test": {"command": "true"}},
    "command": {"command": "true"},
    "handler": {"handler": {"name": "x"}},
}
# A value for each shared option, valid on its own.
OPTION_VALUES: dict[str, Any] = {
    "env": {"A": "1"}, "working_dir": "sub", "clear_env": True, "allow_outside": True,
    "timeout": 5,
    "capture": "x", "capture_output": "x", "capture_format": "json",
    "capture_streams": {"stderr": True}, "output_file": "out.txt", "output": "out.txt",
    "commit_required": True, "auto_commit": True, "commit_config": {"sign": True},
    "outputs": {"spec": {"file_pattern": "*.md"}}, "retry": {"attempts": 2},
    "retry_config": {"attempts": 2}, "max_attempts": 2, "metadata": {"retries": 1},
    "on_failure": "echo failed", "on_success": [{"shell": "true"}],
    "on_exit_code": {"3": {"shell": "true"}},
    "step_validate": {"commands": [{"command": "true"}]}, "analysis": {"force_refresh": True},
    "model": "opus", "max_turns": 5, "allowed_tools": ["Read", "Edit"],
    "disallowed_tools": "WebFetch", "permission_mode": "acceptEdits",
    "append_system_prompt": "Be brief.", "max_cost_usd": 1.5, "max_tokens": 100000,
}
MODELLED = [spec for spec in registry.COMMANDS if spec.model is not None]


def _write(tmp_path: Path, steps: list[dict[str, Any]]) -> str:
    path = tmp_path / "wf.yml"
    path.write_text(yaml.safe_dump(steps, sort_keys=False), encoding="utf-8")
    return str(path)


def test_registry_keys_are_the_schema_one_command_list_in_order() -> None:
    step = schema("workflow.schema.json")["$defs"]["stepObject"]
    rule = step["allOf"][0]
    listed = [branch["required"][0] for branch in rule["then"]["oneOf"]]
    assert list(registry.COMMAND_KEYS) == listed
    assert [b["required"][0] for b in rule["if"]["anyOf"]] == listed
    assert set(registry.COMMAND_KEYS) <= set(step["properties"])


def test_every_key_has_an_example_here() -> None:
    assert set(EXAMPLES) == set(registry.COMMAND_KEYS)


def test_every_model_has_one_spec_a_node_kind_and_a_lowering() -> None:
    for spec in MODELLED:
        assert registry.BY_MODEL[spec.model] is spec  # type: ignore[index]
        assert spec.node is not None and spec.node.kind in NODE_KINDS, spec.key
        assert spec.lower is not None and spec.label is not None, spec.key
        assert set(spec.options) <= set(SHARED_OPTIONS), spec.key


def test_published_roots_are_known_to_the_scope() -> None:
    for spec in registry.COMMANDS:
        assert set(spec.publishes) <= registry.PUBLISHED <= registry.KIND_ROOTS


@pytest.mark.parametrize("spec", MODELLED, ids=lambda s: s.key)
def test_every_command_compiles_to_a_node_of_its_kind(spec: Any, tmp_path: Path) -> None:
    plan = pipeline.compile_file(_write(tmp_path, [EXAMPLES[spec.key]]))
    assert spec.node.kind in {node.kind for node in plan.nodes}


@pytest.mark.parametrize("spec", MODELLED, ids=lambda s: s.key)
def test_a_published_root_before_any_such_step_is_reported(spec: Any, tmp_path: Path) -> None:
    for root in spec.publishes:
        steps = [{"shell": f"echo ${{{root}.output}}"}, EXAMPLES[spec.key]]
        codes = [d.code for d in pipeline.validate_file(_write(tmp_path, steps))]
        assert codes, f"${{{root}.output}} before any {spec.key} step passed validation"


@pytest.mark.parametrize("spec", MODELLED, ids=lambda s: s.key)
@pytest.mark.parametrize("option", SHARED_OPTIONS)
def test_every_shared_option_is_honoured_or_refused(spec: Any, option: str,
                                                    tmp_path: Path) -> None:
    step = {**EXAMPLES[spec.key], option: OPTION_VALUES[option]}
    if option in ("capture_format", "capture_streams"):
        step["capture"] = "x"  # they say how a capture is stored: they need one
    if option == "commit_config":
        step["auto_commit"] = True  # it configures auto_commit's commits: it needs them
    found = pipeline.validate_file(_write(tmp_path, [step]))
    if option in spec.options:
        assert [d for d in found if d.severity.value == "error"] == [], (spec.key, option)
        plan = pipeline.compile_file(_write(tmp_path, [step]))
        bare = pipeline.compile_file(_write(tmp_path, [EXAMPLES[spec.key]]))
        assert plan.dumps() != bare.dumps(), f"{spec.key}: `{option}` compiled to nothing"
    else:
        # The later stages still run (lint may warn about the example itself).
        assert {d.code for d in found if d.severity.value == "error"} == {"P119"}, (
            spec.key, option)


def test_shared_step_params_are_on_every_process_kind() -> None:
    for spec in MODELLED:
        if "capture" in spec.options:
            assert issubclass(spec.node, StepParams), spec.key


def test_a_key_no_reader_claims_is_an_internal_error(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # As if a command were added to the schema and the registry line forgotten.
    without = tuple(s for s in registry.COMMANDS if s.key != "shell")
    monkeypatch.setattr(normalize_steps, "COMMANDS", without)
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent("- shell: 'true'\n"), encoding="utf-8")
    with pytest.raises(InternalError, match="no command a reader claims"):
        pipeline.validate_file(str(path))
