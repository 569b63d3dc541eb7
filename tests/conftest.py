"""Every test gets its own PRODIGY_HOME: worktrees a test makes never land in ~/.prodigy."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.claude_standin.fixtures"]  # claude_cli, claude_env, fake_claude, ...


@pytest.fixture(autouse=True)
def _prodigy_home(tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("prodigy-home")
    monkeypatch.setenv("PRODIGY_HOME", str(home))
    return home
