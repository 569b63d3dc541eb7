"""P211: references nothing binds at run time, and how a bare `$NAME` is encoded."""

from __future__ import annotations

import textwrap
from pathlib import Path

from prodigy.compiler.pipeline import compile_file, validate_file
from prodigy.runtime.diagnostics import Severity


def _codes(tmp_path: Path, text: str, args: dict[str, str] | None = None
           ) -> list[tuple[str, int, int]]:
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    found = validate_file(str(path), args=args)
    assert all(d.severity is Severity.WARNING for d in found if d.code == "P211")
    return [(d.code, d.span.line, d.span.col) for d in found if d.span is not None]


def test_arg_without_args_or_map_is_reported_where_it_is_written(tmp_path: Path) -> None:
    text = '- claude: "/implement $ARG ${ARG_2} ${ARG:-none}"\n'
    assert _codes(tmp_path, text) == [("P211", 1, 24), ("P211", 1, 30)]
    assert _codes(tmp_path, text, args={"ARG": "1", "ARG_2": "2"}) == []


def test_dotted_roots_nothing_produces_are_reported_but_run_time_variables_are_not(
        tmp_path: Path) -> None:
    assert _codes(tmp_path, """
        - shell: "echo ${last.output}"
        - shell: "echo ${nothing.here} ${HOME} $PATH"
          id: build
        - shell: "echo ${build.exit_code} ${build.success} ${build.output} ${env.HOME}"
        - shell: "echo ${workflow.name} ${workflow.id} ${step.name} ${step.index}"
        - shell: "echo ${last.output} ${last.exit_code}"
        - test:
            command: "false"
            on_failure:
              shell: "echo ${test.output} ${test.attempt} ${test.exit_code}"
        """) == [("P211", 2, 18), ("P211", 3, 18)]


def test_a_bare_variable_defaults_to_itself_so_it_stays_as_written(tmp_path: Path) -> None:
    path = tmp_path / "wf.yml"
    path.write_text('- claude: "/go $ARG ${ARG} $HOME ${HOME:-h}"\n', encoding="utf-8")
    prompt = compile_file(str(path)).node("main.0").params.prompt  # type: ignore[attr-defined]
    assert prompt == ("tpl", "/go ", ("var", ("ARG",), "$ARG"), " ", ("var", ("ARG",)), " ",
                      ("var", ("HOME",), "$HOME"), " ", ("var", ("HOME",), "h"))
