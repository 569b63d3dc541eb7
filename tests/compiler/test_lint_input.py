"""P602: a map input that can only be a file name and names no file is reported, since the
run would execute it as a shell command; everything that may be a command, or may exist by
the time the map runs, is left alone."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from prodigy.compiler.lint_input import looks_like_file
from prodigy.compiler.pipeline import validate_file
from prodigy.runtime.diagnostics import Severity

WORKFLOW = """\
    mode: mapreduce
    {setup}
    map:
      input: "{source}"
      agent_template:
        - shell: 'echo "$PRODIGY_ITEM"'
    """


def _p602(tmp_path: Path, source: str, setup: str = "") -> list[tuple[int, int, Severity]]:
    folder = tmp_path / "workflows"
    folder.mkdir(exist_ok=True)
    path = folder / "wf.yml"
    path.write_text(textwrap.dedent(WORKFLOW).format(setup=setup, source=source),
                    encoding="utf-8")
    return [(d.span.line, d.span.col, d.severity) for d in validate_file(str(path))
            if d.code == "P602" and d.span is not None]


@pytest.mark.parametrize("source", ["items.json", "debt.jsonl", "out/items", "./gen/list.NDJSON",
                                    "/nonexistent/items.json"])
def test_a_missing_file_name_is_a_warning_at_the_input(tmp_path: Path, source: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _p602(tmp_path, source) == [(4, 10, Severity.WARNING)]


@pytest.mark.parametrize("source", ["cat items.json", "jq -c '.[]' items.json", "ls",
                                    "items.txt", "${DIR}/items.json", "~/items.json",
                                    "find . -name '*.py'", "make-items|sort"])
def test_what_may_be_a_command_is_not_judged(tmp_path: Path, source: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert not looks_like_file(source)
    assert _p602(tmp_path, source) == []


def test_a_file_in_the_current_directory_or_beside_the_workflow_is_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here.json").write_text("[]")
    assert _p602(tmp_path, "here.json") == []
    (tmp_path / "workflows").mkdir(exist_ok=True)
    (tmp_path / "workflows" / "beside.json").write_text("[]")
    assert _p602(tmp_path, "beside.json") == []


def test_a_file_a_setup_step_mentions_is_taken_to_be_made_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    setup = 'setup:\n  - shell: "debtmap analyze . --output $OUT/items.json"'
    assert _p602(tmp_path, "reports/items.json", setup) == []
    other = 'setup:\n  - shell: "mkdir -p reports"'
    assert len(_p602(tmp_path, "reports/items.json", other)) == 1
