"""What escapes a command handler: Ctrl-C is 130 (the run is resumable), a bug is 3 with its
traceback and a request to report it; never a bare traceback."""

from __future__ import annotations

import argparse

import pytest

from prodigy.cli import compile_commands
from prodigy.cli.common import ExitCode
from prodigy.cli.main import main


def _handler_raising(exc: BaseException) -> object:
    def handler(args: argparse.Namespace) -> ExitCode:
        raise exc
    return handler


def test_ctrl_c_escaping_a_handler_exits_130(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(compile_commands, "run_validate", _handler_raising(KeyboardInterrupt()))
    assert main(["validate", "wf.yml"]) == 130 == ExitCode.INTERRUPTED
    assert capsys.readouterr().err == "prodigy: interrupted\n"


def test_a_bug_escaping_a_handler_exits_3_and_says_so(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(compile_commands, "run_validate",
                        _handler_raising(ZeroDivisionError("boom")))
    assert main(["validate", "wf.yml"]) == 3 == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert err.startswith("prodigy: internal error (this is a bug; please report it):\n")
    assert "Traceback" in err and "ZeroDivisionError: boom" in err


def test_a_closed_stdout_pipe_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compile_commands, "run_validate", _handler_raising(BrokenPipeError()))
    assert main(["validate", "wf.yml"]) == 0
