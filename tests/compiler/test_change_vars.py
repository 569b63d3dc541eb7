"""`${step.*}` and `${workflow.*}` (the git change values) at compile time: their modifiers
parse and are checked, the step whose changes are read is marked `track_changes`, and the
readers get the `@changes` binding. A workflow that reads none of them compiles as before."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from prodigy.compiler.expressions import parse_template
from prodigy.compiler.pipeline import compile_file, validate_file
from prodigy.runtime.git.changes import READS
from prodigy.runtime.nodes import ShellParams, params_to_json
from prodigy.runtime.plan import Plan, fingerprint, loads


def plan_of(tmp_path: Path, text: str) -> Plan:
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return compile_file(str(path))


def tracked(plan: Plan) -> list[str]:
    return [n.id for n in plan.nodes if getattr(n.params, "track_changes", False)]


def reads(plan: Plan, node: str) -> Any:
    return plan.node(node).params.bindings.get(READS)


@pytest.mark.parametrize("text", [
    "${step.files_changed}", "${step.files_changed:*.md}", "${step.files_added:json}",
    "${step.files_modified:*.rs,*.toml:csv}", "${workflow.commits:lines}",
    "${step.files_added:*.md:lines}", "${step.files_deleted:*.md:-none}", "${step.insertions}",
    "${workflow.iteration}", "${step.name}", "${x:0:3}", "${cmd:git rev-parse HEAD}",
])
def test_templates_keep_their_text(text: str) -> None:
    node, diags = parse_template(text)
    assert not diags and node is not None
    assert str(node) == text


def test_only_change_lists_take_modifiers() -> None:
    (var,) = parse_template("${step.files_changed:*.md:json}")[0].parts  # type: ignore[union-attr]
    assert (var.path.root, var.path.segments, var.modifiers) == (
        "step", ("files_changed",), ("*.md", "json"))
    (var,) = parse_template("${step.files_changed}")[0].parts  # type: ignore[union-attr]
    assert var.modifiers == ()  # a list: rendered space-separated
    (var,) = parse_template("${step.commit_count}")[0].parts  # type: ignore[union-attr]
    assert var.modifiers is None
    (var,) = parse_template("${x:0:3}")[0].parts  # type: ignore[union-attr]
    assert var.modifiers is None and var.path.root == "x:0:3"  # the shell's, untouched


def test_wrong_modifiers_are_diagnostics_at_the_reference(tmp_path: Path) -> None:
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent("""\
        - shell: "true"
        - shell: "echo ${step.files_changed:jsno} ${step.insertions:json}"
        - shell: "echo done"
          when: "${step.files_added:json:csv}"
        """), encoding="utf-8")
    found = [(d.code, d.message, d.span.line, d.span.col)  # type: ignore[union-attr]
             for d in validate_file(str(path))]
    assert found == [
        ("P201", "unknown modifier `:jsno`", 2, 16),
        ("P201", "`step.insertions` is a number: modifiers apply to the lists (files_*, "
                 "commits)", 2, 43),
        ("P201", "two formats: `:json` and `:csv`", 4, 10),
    ]


def test_the_step_before_the_reader_is_tracked(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        - shell: "make changes"
        - shell: "echo unrelated"
        - shell: "echo ${step.files_changed:*.md}"
          when: "${step.commit_count} > 0"
        - claude: "/review ${workflow.files_modified}"
        """)
    assert tracked(plan) == ["main.1"]
    assert reads(plan, "main.2") == ("step",) and reads(plan, "main.2.when") == ("step",)
    assert reads(plan, "main.3") == ("workflow",) and reads(plan, "main.0") is None
    # The flag survives plan.json, and the tracked step feeds the reader.
    again = loads(plan.dumps())
    assert tracked(again) == ["main.1"]
    assert any(e.src == "main.1" and e.dst == "main.2" and e.kind.value == "data"
               for e in plan.edges)


def test_first_step_and_workflow_values_track_nothing(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        - shell: "echo ${step.files_changed} ${workflow.commits}"
        """)
    assert tracked(plan) == []
    assert reads(plan, "main.0") == ("step", "workflow")


def test_a_handler_reads_the_step_it_handles(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        - shell: "make fix"
          on_failure:
            - shell: "echo ${step.files_changed}"
            - shell: "echo ${step.commits}"
        """)
    assert tracked(plan) == ["main.0", "main.0.on_failure.0"]


def test_foreach_copies_and_map_agents(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        - shell: "before"
        - foreach:
            foreach: [a, b]
            do:
              - shell: "echo '${item}' ${step.files_added}"
              - shell: "echo ${step.commits}"
        """)
    assert tracked(plan) == ["main.0", "main.1.item.0.0", "main.1.item.1.0"]
    assert all(n.fingerprint == fingerprint(n.params) for n in plan.nodes)
    plan = plan_of(tmp_path, """
        mode: mapreduce
        map:
          input: "echo '[1]'"
          agent_template:
            - shell: 'echo "$PRODIGY_ITEM"'
            - shell: "echo ${step.files_changed}"
        """)
    assert tracked(plan.subplans["map.agent"]) == ["map.agent.0"]


def test_a_workflow_without_change_values_is_unchanged(tmp_path: Path) -> None:
    plain = ShellParams(command="echo hi")
    assert "track_changes" not in params_to_json(plain)  # fingerprints as before the field
    marked = ShellParams(command="echo hi", track_changes=True)
    assert params_to_json(marked)["track_changes"] is True
    assert fingerprint(marked) != fingerprint(plain)
    plan = plan_of(tmp_path, """
        - shell: "echo ${HOME}"
        - shell: "echo ${shell.output} ${step}"
        """)
    assert tracked(plan) == [] and '"track_changes"' not in plan.dumps()
    assert READS not in plan.dumps()
