"""The claude op against small scripted stand-ins for the CLI (the real CLI: tests/e2e)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from prodigy.runtime.store import RunStatus

from .conftest import build_plan


def run_claude(run_plan: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               script: str) -> Any:
    fake = tmp_path / "fake.py"
    fake.write_text(script)
    monkeypatch.setenv("PRODIGY_CLAUDE_BIN", f"{sys.executable} {fake}")
    outcome, events, state = run_plan(build_plan([("c", "claude", {"prompt": "/go"})]))
    return outcome, events, state


def test_the_root_refusal_is_one_line_that_says_what_to_do(
        run_plan: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, _, _ = run_claude(run_plan, tmp_path, monkeypatch, (
        "import sys\nsys.stderr.write('--dangerously-skip-permissions cannot be used with "
        "root/sudo privileges for security reasons\\n')\nsys.exit(1)\n"))
    assert outcome.status is RunStatus.FAILED
    [failed] = outcome.failed
    assert "IS_SANDBOX=1" in failed["message"] and "permission_mode" in failed["message"]
    assert "\n" not in failed["message"]


def test_a_transcript_is_kept_beside_the_log_and_a_stream_without_result_fails(
        run_plan: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, events, state = run_claude(run_plan, tmp_path, monkeypatch, (
        "import json\nprint(json.dumps({'type': 'system', 'subtype': 'init', "
        "'session_id': 's'}))\nprint('a stray line')\n"))
    [failed] = outcome.failed
    assert failed["message"] == "claude ended without a result (the stream stopped)"
    transcript = state.log_dir("r1") / "c.jsonl"
    assert transcript.read_text().splitlines()[1] == "a stray line"
    finished = [e for e in events if e["event"] == "node_finished"]
    assert finished[-1]["transcript"] == str(transcript)
