"""pytest fixtures for Claude agents: the real CLI against the stand-in, and the scripted fake.

Registered for the whole suite by `pytest_plugins` in tests/conftest.py:
- `claude_cli` (session): the path of the real CLI (`node_modules/.bin/claude`, pinned version),
  installed once into the cache (see install.py); skips only when node or npm is missing,
  and fails instead when PRODIGY_REQUIRE_REAL_CLAUDE is set (CI).
- `claude_standin`: a running StandIn, closed after the test.
- `claude_env`: the environment for the real CLI against `claude_standin` (see `offline_env`);
  pass it whole to a subprocess, or `monkeypatch.setenv` its items for an in-process run.
- `fake_claude`: a FakeClaude (fake_cli.py): `fake_claude.script({...})` writes its script and
  returns the environment that makes prodigy call it; `fake_claude.calls()` reads its argv log.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .install import InstallError, ensure_cli, missing_tools
from .server import StandIn

FAKE_CLI = Path(__file__).with_name("fake_cli.py")
# Inherited variables that would point the CLI elsewhere (a developer's own session included).
_DROP_PREFIXES = ("ANTHROPIC_", "CLAUDE_CODE_", "CLAUDECODE", "PRODIGY_CLAUDE_BIN")


def offline_env(home: Path, base_url: str | None, claude: Path | str | None = None,
                api_key: str | None = "test-key", **extra: str) -> dict[str, str]:
    """os.environ without ANTHROPIC_* / CLAUDE_CODE_*, plus what keeps the real CLI offline and
    quiet: a throwaway HOME (it writes ~/.claude/ and ~/.claude.json), the stand-in as
    ANTHROPIC_BASE_URL, a dummy API key, IS_SANDBOX=1 (root may skip permission prompts), no
    auto-updater / telemetry / nonessential traffic, CLAUDE_CODE_MAX_RETRIES=0 (a scripted 5xx
    fails at once; the default is 10 retries with 0.5 s, 1 s, 2.5 s, ... backoff), a git
    identity (HOME has no ~/.gitconfig), and PRODIGY_CLAUDE_BIN. `base_url` or `api_key` None
    leaves it unset (not logged in); `extra` overrides anything."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP_PREFIXES)}
    home.mkdir(parents=True, exist_ok=True)
    env.update({
        "HOME": str(home), "IS_SANDBOX": "1", "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1", "CLAUDE_CODE_MAX_RETRIES": "0",
        "GIT_AUTHOR_NAME": "Agent", "GIT_AUTHOR_EMAIL": "agent@example.com",
        "GIT_COMMITTER_NAME": "Agent", "GIT_COMMITTER_EMAIL": "agent@example.com"})
    if base_url is not None:
        env["ANTHROPIC_BASE_URL"] = base_url
    if api_key is not None:
        env["ANTHROPIC_API_KEY"] = api_key
    if claude is not None:
        env["PRODIGY_CLAUDE_BIN"] = str(claude)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def claude_cli() -> Path:
    """The real CLI's path (pinned version, installed once into the test cache)."""
    reason = missing_tools()
    if reason and os.environ.get("PRODIGY_REQUIRE_REAL_CLAUDE"):  # CI sets it: never skip there
        pytest.fail(f"{reason}; PRODIGY_REQUIRE_REAL_CLAUDE is set", pytrace=False)
    if reason:
        pytest.skip(reason)
    try:
        return ensure_cli()
    except InstallError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def claude_standin() -> Iterator[StandIn]:
    """A running Messages API stand-in; script it with `claude_standin.script(NAME, TURNS)`."""
    with StandIn() as standin:
        yield standin


@pytest.fixture
def claude_env(claude_cli: Path, claude_standin: StandIn,
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment for the real CLI against `claude_standin` (PRODIGY_CLAUDE_BIN set)."""
    return offline_env(tmp_path_factory.mktemp("claude-home"), claude_standin.url, claude_cli)


class FakeClaude:
    """The scripted fake CLI of one test (see fake_cli.py for the script format)."""

    def __init__(self, workdir: Path) -> None:
        self.script_path = workdir / "fake-claude-script.json"
        self.calls_path = workdir / "fake-claude-calls.jsonl"
        self.command = f"{sys.executable} {FAKE_CLI}"  # PRODIGY_CLAUDE_BIN is split like a shell

    def script(self, script: dict[str, Any] | None = None, **keys: Any) -> dict[str, str]:
        """Write the script (a dict and/or keyword keys); the environment variables that make
        prodigy call the fake with it (merge them into a subprocess env or setenv them)."""
        self.script_path.write_text(json.dumps({**(script or {}), **keys}))
        return self.env

    @property
    def env(self) -> dict[str, str]:
        return {"PRODIGY_CLAUDE_BIN": self.command,
                "PRODIGY_FAKE_CLAUDE_SCRIPT": str(self.script_path),
                "PRODIGY_FAKE_CLAUDE_CALLS": str(self.calls_path)}

    def calls(self) -> list[dict[str, Any]]:
        """One `{"argv", "cwd", "pid", "env"}` per call, in order (argv without the program)."""
        if not self.calls_path.exists():
            return []
        return [json.loads(line) for line in self.calls_path.read_text().splitlines()]


@pytest.fixture
def fake_claude(tmp_path_factory: pytest.TempPathFactory) -> FakeClaude:
    """The scripted fake CLI: `fake_claude.script({...})` -> env; `fake_claude.calls()`."""
    return FakeClaude(tmp_path_factory.mktemp("fake-claude"))
