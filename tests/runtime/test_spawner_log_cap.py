"""A plain command the spawner runs writes its log itself: the driver caps it afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prodigy.runtime.executors import process

from .conftest import build_plan, sh

pytestmark = pytest.mark.process


def test_a_loud_plain_command_leaves_a_capped_log(run_plan: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "LOG_LIMIT", 4000)
    plan = build_plan([sh("loud", "head -c 200000 /dev/zero | tr '\\\\0' x; echo; echo END")])
    outcome, _, state = run_plan(plan, executor="local", jobs=1)
    assert outcome.status.value == "succeeded"
    log = (state.log_dir("r1") / "loud.log").read_bytes()
    assert len(log) < 4000 + 200  # head and tail, plus the line saying what was left out
    assert log.rstrip().endswith(b"END") and b"bytes" in log
