"""-v: what claude agents write, and each running command and its output, printed as they
happen (plain lines; the live view too)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from prodigy.runtime.report import PlainReporter

MESSAGE = {"event": "agent_message", "node": "map[item_1]/map.agent.0", "label": "claude: /fix",
           "item": "item_1", "item_label": "src/x.py", "text": "Looking at it.\nFound it.",
           "turn": 2}


def test_agent_text_shows_only_with_verbose() -> None:
    quiet, loud = io.StringIO(), io.StringIO()
    PlainReporter(quiet).on_event(MESSAGE)
    PlainReporter(loud, verbose=1).on_event(MESSAGE)
    assert quiet.getvalue() == ""
    assert loud.getvalue().splitlines() == [
        "says     claude: /fix [src/x.py]: Looking at it.", "         | Found it."]


@pytest.mark.e2e
def test_running_commands_and_their_output_stream_with_verbose(tmp_path: Path) -> None:
    (tmp_path / "wf.yml").write_text(
        'commands:\n  - shell: "echo first; sleep 0.6; echo second"\n')
    run = subprocess.run([sys.executable, "-m", "prodigy", "run", "wf.yml", "-v"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("out ")]
    assert [line.rsplit(": ", 1)[-1] for line in lines] == [
        "$ echo first; sleep 0.6; echo second", "first", "second"]
    quiet = subprocess.run([sys.executable, "-m", "prodigy", "run", "wf.yml"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert not [line for line in quiet.stderr.splitlines() if line.startswith("out ")]
