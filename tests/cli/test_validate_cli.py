"""`prodigy validate` as pre-commit and CI use it: many files, all errors at once, exit codes."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from prodigy.cli.main import main

GOOD = "- shell: echo hello\n"
BAD_TWO_ERRORS = "- shell: echo hi\n  timout: 5\n- claude: /x\n  capture_format: xml\n"


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_valid_files_print_one_summary_line_and_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [_write(tmp_path, f"ok{n}.yml", GOOD) for n in range(3)]
    assert main(["validate", *files]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "3 files OK\n"
    assert main(["validate", files[0]]) == 0
    assert capsys.readouterr().err == "1 file OK\n"


def test_all_errors_of_all_files_are_reported_sorted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path, "bad.yml", BAD_TWO_ERRORS)
    missing = str(tmp_path / "missing.yml")
    good = _write(tmp_path, "ok.yml", GOOD)
    assert main(["validate", good, missing, bad]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2:3: error[P110]" in err
    assert f"{bad}:4:19: error[P113]" in err
    assert "error[P001]" in err and "missing.yml" in err
    assert err.index(f"{bad}:2:3") < err.index(f"{bad}:4:19")
    assert "hint: did you mean 'timeout'?" in err
    assert "Traceback" not in err


def test_json_format_lists_every_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(tmp_path, "bad.yml", BAD_TWO_ERRORS)
    good = _write(tmp_path, "ok.yml", GOOD)
    assert main(["validate", "--format", "json", bad, good]) == 2
    captured = capsys.readouterr()
    assert captured.err == "1 of 2 files invalid: 2 errors\n", "the summary is not in the JSON"
    rows = json.loads(captured.out)
    assert {r["code"] for r in rows} >= {"P110", "P113"}
    for row in rows:
        assert set(row) == {"file", "line", "col", "end_line", "end_col", "severity", "code",
                            "message", "hint"}


def test_garbage_file_gives_a_positioned_diagnostic_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "garbage.yml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    out = subprocess.run([sys.executable, "-m", "prodigy", "validate", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert f"{path}:1:1: error[P002]" in out.stderr
    assert "Traceback" not in out.stderr


UNQUOTED = "- foreach:\n    foreach: 'ls'\n    do:\n      - shell: 'rm ${item}'\n"


def test_warnings_pass_and_strict_labels_them_as_promoted_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "lint.yml", UNQUOTED)
    assert main(["validate", path]) == 0
    err = capsys.readouterr().err
    assert f"{path}:4:20: warning[P601]" in err and err.endswith("1 file OK, 1 warning\n")
    assert main(["validate", "--strict", path]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4:20: error[P601]: " in err
    assert "(a warning, made an error by --strict)" in err
    assert err.endswith("1 file invalid: 1 error\n")
    assert main(["validate", "--strict", "--format", "json", path]) == 2
    (row,) = json.loads(capsys.readouterr().out)
    assert row["severity"] == "error" and row["message"].endswith("by --strict)")


def test_required_parameters_validate_without_arguments_but_do_not_compile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a pre-commit hook runs: no --arg. The value is missing only until the run.
    path = _write(tmp_path, "param.yml", "parameters:\n  spec: {type: string, required: true}\n"
                  "commands:\n  - claude: '/implement ${spec}'\n")
    assert main(["validate", path]) == 0
    assert f"{path}:2:3: warning[P503]" in capsys.readouterr().err
    assert main(["validate", "--strict", path]) == 2
    assert f"{path}:2:3: error[P503]" in capsys.readouterr().err
    assert main(["validate", "--arg", "spec=x", "--strict", path]) == 0
    capsys.readouterr()
    assert main(["compile", path]) == 2
    assert f"{path}:2:3: error[P503]" in capsys.readouterr().err


def test_every_problem_of_a_file_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "four.yml", "- shell: a\n  timout: 1\n"
                  "- shell: b\n  when: '${x} = 1'\n- shell: 'echo ${item}'\n")
    assert main(["validate", "--format", "json", path]) == 2
    rows = json.loads(capsys.readouterr().out)
    assert [(r["code"], r["line"]) for r in rows] == [("P110", 2), ("P201", 4), ("P204", 5)]


def _parsers(parser: argparse.ArgumentParser, name: str
             ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from _parsers(child, f"{name} {sub}")


def test_every_help_has_a_description() -> None:
    from prodigy.cli.main import build_parser

    found = dict(_parsers(build_parser(), "prodigy"))
    assert len(found) > 10
    assert [name for name, parser in found.items() if not (parser.description or "").strip()] \
        == []
