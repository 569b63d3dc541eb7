"""Composition (compiler/compose*.py): extends, imports + workflows, templates, and diagnostics
that point into the file where the problem is, naming the chain that pulled it in."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from prodigy.compiler.pipeline import compile_file, validate_file
from prodigy.runtime.diagnostics import Diagnostic

CORPUS = Path(__file__).parents[3] / "shared" / "corpus" / "prodigy" / "extracted"


def files(root: Path, **texts: str) -> Path:
    for name, text in texts.items():
        path = root / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / next(iter(texts)).replace("__", "/")


def steps(path: Path) -> list[tuple[str, str, int]]:
    plan = compile_file(str(path))
    return [(str(n.params.command), Path(n.span.file).name, n.span.line)  # type: ignore[attr-defined]
            for n in plan.nodes if n.span is not None]


def problems(path: Path) -> list[Diagnostic]:
    return [d for d in validate_file(str(path)) if d.severity == "error"]


# ----------------------------------------------------------------------------------- extends


def test_extends_child_overrides_and_env_merges(tmp_path: Path) -> None:
    files(tmp_path, **{"base.yml": """\
        name: base
        env: {LEVEL: base, KEEP: "1"}
        commands:
          - shell: "one"
          - shell: "two"
        """})
    child = files(tmp_path, **{"child.yml": """\
        extends: base.yml
        env: {LEVEL: child}
        commands:
          - shell: "custom"
        """})
    plan = compile_file(str(child))
    assert [n.label for n in plan.nodes] == ["shell: custom"]
    assert plan.workflow["env"] == {"KEEP": "1", "LEVEL": "child"}
    assert plan.workflow["name"] == "base"


def test_extends_keeps_the_base_steps_when_the_child_has_none(tmp_path: Path) -> None:
    files(tmp_path, **{"mid.yml": "extends: base.yml\nenv: {A: mid}\n",
                       "base.yml": "commands:\n  - shell: from-base\n"})
    child = files(tmp_path, **{"child.yml": "extends: mid.yml\nname: chain\n"})
    assert steps(child) == [("from-base", "base.yml", 2)]


def test_extends_cycle_is_a_positioned_error(tmp_path: Path) -> None:
    files(tmp_path, **{"b.yml": "extends: c.yml\n", "c.yml": "extends: a.yml\n"})
    a = files(tmp_path, **{"a.yml": "extends: b.yml\ncommands: [{shell: x}]\n"})
    (found,) = problems(a)
    assert found.code == "P003" and found.span is not None
    assert (Path(found.span.file).name, found.span.line, found.span.col) == ("c.yml", 1, 10)
    assert "a.yml -> b.yml -> c.yml -> a.yml" in found.message
    assert "extended by" in found.message and "a.yml:1" in found.message


def test_missing_base_is_reported_where_it_is_named(tmp_path: Path) -> None:
    child = files(tmp_path, **{"child.yml": "name: x\nextends: gone.yml\ncommands: [{shell: a}]\n"})
    (found,) = problems(child)
    assert (found.code, found.span and found.span.line) == ("P001", 2)
    assert "gone.yml" in found.message


def test_error_in_a_base_points_into_it_and_names_the_chain(tmp_path: Path) -> None:
    files(tmp_path, **{"base.yml": "commands:\n  - shell: ok\n  - shel: typo\n"})
    child = files(tmp_path, **{"child.yml": "# child\nextends: base.yml\n"})
    (found,) = problems(child)
    assert found.span is not None and Path(found.span.file).name == "base.yml"
    assert found.span.line == 3
    assert "extended by" in found.message and "child.yml:2" in found.message


# ------------------------------------------------------------------- imports and workflows


LIB = """\
    workflows:
      test-suite:
        env: {SUITE: unit}
        parameters:
          target: {type: string, default: all}
          jobs: {type: integer, default: 2}
        commands:
          - shell: "cargo test ${target} -j ${jobs}"
          - workflow: lint
      lint:
        commands:
          - shell: "cargo clippy"
    commands:
      - shell: "lib main"
    """


def test_workflow_steps_are_inlined_with_env_and_parameters(tmp_path: Path) -> None:
    files(tmp_path, **{"common/ci.yml": LIB})
    main = files(tmp_path, **{"main.yml": """\
        imports:
          - path: common/ci.yml
            alias: ci
        commands:
          - shell: "cargo build"
          - workflow: ci.test-suite
            with: {target: api, jobs: 4}
          - workflow: ci.test-suite
          - workflow: ci
        """})
    plan = compile_file(str(main))
    labels = [n.label for n in plan.nodes]
    assert labels == ["shell: cargo build", "shell: cargo test api -j 4", "shell: cargo clippy",
                      "shell: cargo test all -j 2", "shell: cargo clippy", "shell: lib main"]
    inlined = plan.nodes[1]
    assert inlined.span is not None and inlined.span.file.endswith("common/ci.yml")
    assert inlined.span.line == 8
    assert dict(inlined.params.env)["SUITE"] == "unit"  # type: ignore[attr-defined]


def test_local_workflow_and_step_env(tmp_path: Path) -> None:
    main = files(tmp_path, **{"main.yml": """\
        workflows:
          greet:
            env: {WHO: world, TONE: flat}
            commands:
              - shell: "echo hi"
                env: {TONE: loud}
        commands:
          - workflow: greet
            env: {WHO: you, EXTRA: "1"}
        """})
    (node,) = compile_file(str(main)).nodes
    assert dict(node.params.env) == {  # type: ignore[attr-defined]
        "EXTRA": "1", "TONE": "loud", "WHO": "world"}


@pytest.mark.parametrize(("ref", "message"), [
    ("cj.test-suite", "unknown import alias 'cj'"),
    ("ci.tests", "defines no sub-workflow 'tests'"),
    ("nothing", "unknown sub-workflow 'nothing'"),
])
def test_bad_references_are_p210(tmp_path: Path, ref: str, message: str) -> None:
    files(tmp_path, **{"common/ci.yml": LIB})
    main = files(tmp_path, **{"main.yml": f"""\
        imports: [{{path: common/ci.yml, alias: ci}}]
        commands:
          - workflow: {ref}
        """})
    (found,) = problems(main)
    assert found.code == "P210" and message in found.message
    assert found.span is not None and (found.span.line, found.span.col) == (3, 15)


def test_sub_workflow_parameter_type_and_unknown_name(tmp_path: Path) -> None:
    files(tmp_path, **{"common/ci.yml": LIB})
    main = files(tmp_path, **{"main.yml": """\
        imports: [{path: common/ci.yml, alias: ci}]
        commands:
          - workflow: ci.test-suite
            with: {jobs: many, tagret: x}
        """})
    assert sorted((d.code, d.span.col) for d in problems(main)  # type: ignore[union-attr]
                  ) == [("P110", 24), ("P504", 18)]


def test_sub_workflow_using_itself_is_a_cycle(tmp_path: Path) -> None:
    main = files(tmp_path, **{"main.yml": """\
        workflows:
          a: {commands: [{workflow: b}]}
          b: {commands: [{shell: x}, {workflow: a}]}
        commands:
          - workflow: a
        """})
    found = problems(main)
    assert [d.code for d in found] == ["P003"]
    assert found[0].span is not None and found[0].span.line == 3


def test_error_in_an_imported_step_points_into_that_file(tmp_path: Path) -> None:
    files(tmp_path, **{"lib.yml": "workflows:\n  w:\n    commands:\n      - shell: 'a ${x'\n"})
    main = files(tmp_path, **{"main.yml": "imports: [lib.yml]\ncommands:\n  - workflow: w\n"})
    (found,) = problems(main)
    assert found.span is not None and Path(found.span.file).name == "lib.yml"
    assert found.span.line == 4 and "imported by" in found.message


# ----------------------------------------------------------------------------------- templates


TEMPLATE = """\
    description: CI for one service
    parameters:
      service: {type: string, required: true, description: the service}
      replicas: {type: number, default: 3}
    commands:
      - shell: "build ${service}"
    """


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRODIGY_HOME", str(tmp_path / "home"))
    files(tmp_path, **{"templates/service-ci.yml": TEMPLATE})
    return tmp_path


def test_template_by_name_with_parameters(project: Path) -> None:
    main = files(project, **{"wf.yml": """\
        template:
          name: api-ci
          source: service-ci
          with: {service: api, replicas: 5}
        commands:
          - shell: "deploy ${service} ${replicas}"
        """})
    plan = compile_file(str(main))
    assert [n.label for n in plan.nodes] == ["shell: build ${service}",
                                             "shell: deploy ${service} ${replicas}"]
    assert plan.workflow["args"] == {"replicas": "5", "service": "api"}
    # --param (here the compile-time binding) wins over `with:`.
    assert compile_file(str(main), {"service": "web"}).workflow["args"]["service"] == "web"


def test_template_parameter_type_error(project: Path) -> None:
    main = files(project, **{"wf.yml": "template: {source: service-ci, with: {service: api, "
                                       "replicas: lots}}\n"})
    (found,) = problems(main)
    assert found.code == "P504" and "is not a number" in found.message
    assert found.span is not None and (found.span.file, found.span.col) == (str(main), 63)


def test_template_required_parameter_is_left_to_the_command_line(project: Path) -> None:
    main = files(project, **{"wf.yml": "template: service-ci\n"})
    (warning,) = validate_file(str(main))
    assert warning.code == "P503" and warning.severity == "warning"


def test_missing_template_lists_where_it_looked(project: Path) -> None:
    main = files(project, **{"wf.yml": "template: nope\ncommands: [{shell: a}]\n"})
    (found,) = problems(main)
    assert found.code == "P001"
    for place in (".prodigy/templates/nope.yml", "templates/nope.yml", "home/templates"):
        assert place in found.message


def test_first_template_directory_wins(project: Path) -> None:
    files(project, **{".prodigy/templates/service-ci.yml": "commands: [{shell: local}]\n"})
    main = files(project, **{"wf.yml": "template: service-ci\n"})
    assert [n.label for n in compile_file(str(main)).nodes] == ["shell: local"]


def test_template_cli(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from prodigy.cli.main import main

    assert main(["template", "list"]) == 0
    assert "service-ci" in capsys.readouterr().out
    assert main(["template", "show", "service-ci"]) == 0
    out = capsys.readouterr().out
    assert "service (string, required): the service" in out and "build ${service}" in out
    assert main(["template", "show", "nope"]) == 2
    assert "templates/nope.yml" in capsys.readouterr().err


# ------------------------------------------------------------------ upstream's doc snippets


# The valid-YAML snippets that use composition keys as prodigy defines them. Left out: L223 and
# L351 of workflow-extension-inheritance (several files pasted into one document: duplicate
# keys), and the ones needing files the docs never show (complete-examples, README L301).
SNIPPETS = ["README__L190.yml", "docs__composition__workflow-extension-inheritance__L422.yml",
            "docs__composition__default-values__L241.yml",
            "docs__composition__parameter-definitions__L262.yml"]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the upstream corpus is not checked out here")
@pytest.mark.parametrize("name", SNIPPETS)
def test_upstream_composition_snippets_compile(name: str, tmp_path: Path) -> None:
    snippets = CORPUS / "docs-snippets"
    index = {row["file"]: row for row in json.loads((snippets / "INDEX.json").read_text())}
    assert index[name]["valid_yaml"]
    # The base the inheritance snippets extend is the docs' own `base-ci.yml` example.
    base = (snippets / "docs__composition__workflow-extension-inheritance__L397.yml")
    files(tmp_path, **{"base-ci.yml": base.read_text(), "base-test.yml": base.read_text(),
                       "base.yml": base.read_text()})
    path = files(tmp_path, **{"wf.yml": (snippets / name).read_text()})
    args = {"target": "src", "app_name": "web", "deploy_env": "dev"}
    assert compile_file(str(path), args).nodes


def test_the_readme_example(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("### Composition"):]
    example = section[section.index("```yaml\n# main.yml") + 8:]
    main = files(tmp_path, **{"main.yml": example[:example.index("```")]})
    assert [n.label for n in compile_file(str(main)).nodes] == [
        "shell: echo hello team", "shell: echo hello world"]


# --------------------------------------------------------- one problem, one diagnostic; unused


def test_template_with_of_the_wrong_type_is_one_diagnostic(project: Path) -> None:
    # A required parameter given a bad value is not also missing a value (P503).
    main = files(project, **{"wf.yml": "template: {source: service-ci, with: {service: 7.5, "
                                       "replicas: lots}}\n"})
    found = validate_file(str(main))
    assert [(d.code, d.span.file if d.span else None) for d in found] == [("P504", str(main))]
    bad = files(project, **{"bad.yml": "template: {source: service-ci, with: {service: [a]}}\n"})
    assert [d.code for d in validate_file(str(bad))] == ["P504"]


def test_sub_workflow_with_of_the_wrong_type_is_one_diagnostic(tmp_path: Path) -> None:
    main = files(tmp_path, **{"main.yml": """\
        workflows:
          w:
            parameters: {n: {type: integer, required: true}}
            commands: [{shell: "seq ${n}"}]
        commands:
          - workflow: w
            with: {n: many}
        """})
    assert [d.code for d in validate_file(str(main))] == ["P504"]


def test_unused_sub_workflows_are_checked_where_they_are_defined(tmp_path: Path) -> None:
    files(tmp_path, **{"lib.yml": """\
        workflows:
          used: {commands: [{shell: ok}]}
          unused:
            commands:
              - shell: ok
              - workflow: nope
              - shell: x
                timout: 3
        """})
    main = files(tmp_path, **{"main.yml": """\
        imports: [{path: lib.yml, alias: lib}]
        workflows:
          mine:
            commands: [{shel: typo}]
        commands:
          - workflow: lib.used
        """})
    found = sorted((Path(d.span.file).name, d.span.line, d.code)  # type: ignore[union-attr]
                   for d in problems(main))
    assert found == [("lib.yml", 6, "P210"), ("lib.yml", 8, "P110"), ("main.yml", 4, "P110")]
    lib_problem = next(d for d in problems(main) if d.code == "P110" and "lib" in str(d.span))
    assert "workflows.unused.commands[2]" in lib_problem.message
    assert f"imported by {main}:1" in lib_problem.message

