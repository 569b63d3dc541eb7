"""`prodigy validate` as pre-commit and CI use it: many files, all errors at once, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prodigy.cli.main import main

GOOD = "- shell: echo hello\n"
BAD_TWO_ERRORS = "- shell: echo hi\n  timout: 5\n- claude: /x\n  capture_format: xml\n"


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_valid_file_is_silent_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", _write(tmp_path, "ok.yml", GOOD)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


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
    assert main(["validate", "--format", "json", bad]) == 2
    rows = json.loads(capsys.readouterr().out)
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
