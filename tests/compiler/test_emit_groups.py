"""Composition in the pictures: each use of a sub-workflow or template is a cluster.

The steps inlined by composition carry their groups (`workflow build`, `template X`,
outermost first) into the plan nodes' `group` param, which the DOT and Mermaid emitters draw
as nested clusters. The field is written only when set (no other plan changes) and the runtime
loads and ignores it. `UPDATE_GOLDEN=1 pytest tests -k golden` rewrites the pictures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from prodigy.cli.main import main
from prodigy.compiler.emit import to_dot, to_mermaid
from prodigy.compiler.pipeline import compile_file
from prodigy.runtime.plan import loads

FIXTURES = Path(__file__).parents[1] / "fixtures" / "emit"
WORKFLOW = FIXTURES / "composed.yml"


def _golden(name: str, text: str) -> None:
    path = FIXTURES / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: UPDATE_GOLDEN=1"


def test_groups_reach_the_plan_nodes() -> None:
    plan = compile_file(str(WORKFLOW))
    groups = {n.label: n.params.group for n in plan.nodes}
    assert groups["shell: echo checking ${service}"] == ("template composed-template.yml",)
    assert groups["shell: echo make all"] == ("workflow build",)
    assert groups["shell: echo make docs"] == ("workflow build #2",)
    assert groups["shell: echo done"] == ()
    nested = [n.params.group for n in plan.nodes if n.label == "shell: echo ruff check ."]
    assert nested == [("workflow build", "workflow lint"),
                      ("workflow build #2", "workflow lint")]
    # The handler of an inlined step is in the step's group.
    handlers = [n.params.group for n in plan.nodes if n.kind == "handler"]
    assert handlers == [nested[0], nested[1]]


def test_golden_composed_dot() -> None:
    text = to_dot(compile_file(str(WORKFLOW)))
    _golden("composed.dot", text)
    # Nested: lint's cluster opens inside build's, before build's closes.
    build = text.index('label="workflow build";')
    lint = text.index('label="workflow lint";')
    second = text.index('label="workflow build #2";')
    assert build < lint < second


def test_golden_composed_mermaid() -> None:
    _golden("composed.mmd", to_mermaid(compile_file(str(WORKFLOW))))


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
def test_composed_dot_renders() -> None:
    done = subprocess.run(["dot", "-Tsvg"], input=to_dot(compile_file(str(WORKFLOW))),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_group_is_written_only_when_set_and_loads_back() -> None:
    plan = compile_file(str(WORKFLOW))
    text = plan.dumps()
    lines = [line for line in text.splitlines() if '"fingerprint"' in line]
    assert sum('"group"' in line for line in lines) == len(
        [n for n in plan.nodes if n.params.group])
    assert any('"group"' not in line for line in lines)
    again = loads(text)
    assert [(n.id, n.params.group, n.fingerprint) for n in again.nodes] == \
        [(n.id, n.params.group, n.fingerprint) for n in plan.nodes]
    assert again.dumps() == text


@pytest.mark.e2e
def test_a_composed_plan_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan = tmp_path / "plan.json"
    assert main(["compile", str(WORKFLOW), "-o", str(plan)]) == 0
    assert main(["exec", str(plan), "--state-dir", str(tmp_path / "state"),
                 "--executor", "inline"]) == 0


def test_a_group_does_not_change_a_steps_fingerprint() -> None:
    # Moving a step into a sub-workflow or template is no reason to run it again on resume.
    from dataclasses import replace

    from prodigy.runtime.plan import fingerprint

    node = next(n for n in compile_file(str(WORKFLOW)).nodes if n.params.group)
    assert fingerprint(node.params) == fingerprint(replace(node.params, group=()))
    assert fingerprint(node.params) == node.fingerprint


def test_a_group_does_not_change_the_fingerprint_of_a_foreach_copy(tmp_path: Path) -> None:
    # The copies of an expanded foreach are fingerprinted from the body's prototype text:
    # it leaves the group (and the pool) out as `fingerprint` does.
    from dataclasses import replace

    from prodigy.runtime.plan import fingerprint

    (tmp_path / "wf.yml").write_text(
        "workflows:\n  each:\n    commands:\n"
        "      - foreach: {foreach: [a, b], do: [{shell: 'echo ${item}'}]}\n"
        "commands:\n  - workflow: each\n")
    copies = [n for n in compile_file(str(tmp_path / "wf.yml")).nodes if ".item." in n.id]
    assert copies and all(n.params.group == ("workflow each",) for n in copies)
    for node in copies:
        bare = replace(node.params, group=(), pool="")
        assert node.fingerprint == fingerprint(node.params) == fingerprint(bare)
