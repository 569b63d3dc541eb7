"""A claude: step on a machine without the Claude CLI says how to install it or point to it;
other programs that cannot start keep the plain message."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodigy.runtime.executors.process import run_command
from prodigy.runtime.masking import Masker
from prodigy.runtime.ops.claude import claude_argv

INSTALL = "npm install -g @anthropic-ai/claude-code"


def _start(argv: list[str], tmp_path: Path, cwd: Path | None = None) -> str:
    result = run_command(argv, env={"PATH": str(tmp_path / "empty-bin")},
                         cwd=str(cwd or tmp_path), log_path=tmp_path / "node.log",
                         masker=Masker())
    assert result.exit_code == 127 and result.error == result.stderr
    assert result.error in (tmp_path / "node.log").read_text()  # the log says it too
    return result.error


def test_the_default_claude_missing_explains_installing_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRODIGY_CLAUDE_BIN", raising=False)
    message = _start(claude_argv("/prodigy-lint", None, None), tmp_path)
    assert message.startswith("cannot start 'claude': No such file or directory")
    assert INSTALL in message and "PRODIGY_CLAUDE_BIN" in message


def test_a_prodigy_claude_bin_that_cannot_start_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrapper = str(tmp_path / "no-such-wrapper")
    monkeypatch.setenv("PRODIGY_CLAUDE_BIN", f"{wrapper} --debug")
    message = _start(claude_argv("/prodigy-lint", None, None), tmp_path)
    assert message.startswith(f"cannot start {wrapper!r}")
    assert "PRODIGY_CLAUDE_BIN names it" in message and INSTALL not in message


def test_other_programs_and_a_missing_directory_get_no_claude_advice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRODIGY_CLAUDE_BIN", raising=False)
    assert _start(["no-such-program"], tmp_path) == (
        "cannot start 'no-such-program': No such file or directory")
    # A working directory that is gone fails Popen the same way: it is not the CLI's fault.
    message = _start(["claude", "-p", "x"], tmp_path, cwd=tmp_path / "gone")
    assert "claude-code" not in message and "PRODIGY_CLAUDE_BIN" not in message
