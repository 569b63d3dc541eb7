"""`make fuzz` cannot rot: its script runs a few seconds of hostile inputs and meets its
targets (no exit 3, nothing over 10 s or 1 GiB)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.process
def test_the_fuzz_script_runs_and_meets_its_targets(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz_hostile.py"),
                           "--seconds", "3", "--seed", "18", "--keep", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "exit 3 or traceback: 0 (target 0)" in done.stdout
    assert " processes" in done.stdout and "validate exit" in done.stdout
