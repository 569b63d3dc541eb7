"""The installed entry points: console script, `python -m prodigy`, exit codes, namespace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from prodigy.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def test_python_dash_m_prints_version(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "prodigy", "--version"], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("prodigy ")


def test_console_script_exists() -> None:
    assert Path(sys.executable).with_name("prodigy").exists()


def test_nothing_generic_is_importable_outside_the_checkout(tmp_path: Path) -> None:
    code = ("import importlib.util as u; "
            "print([n for n in ('compiler', 'runtime', 'grammar', 'schemas') if u.find_spec(n)])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_unknown_flag_is_a_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--no-such-flag", "x.yml"])
    assert exc.value.code == 2
