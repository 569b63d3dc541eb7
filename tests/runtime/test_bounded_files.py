"""Secrets and env files are read only when regular and small (issue 18, item 4)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prodigy.runtime.environment import SetupError, load_env_file, read_secret


def test_a_secret_file_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "token")  # no writer: reading would block the run's start forever
    with pytest.raises(SetupError, match="token: not a regular file"):
        read_secret("TOKEN", {"provider": "file", "key": "token"}, tmp_path)


def test_an_oversized_env_file_is_refused(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("A=" + "x" * (2 * 1024 * 1024) + "\n")
    with pytest.raises(SetupError, match="larger than 1 MiB"):
        load_env_file(env)


def test_an_env_file_that_is_not_utf8_or_has_a_bad_escape_is_a_setup_error(
        tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b"A=\xff\n")
    with pytest.raises(SetupError, match="not UTF-8"):
        load_env_file(env)
    env.write_text('A="\\x"\n')
    with pytest.raises(SetupError, match="A: bad escape"):
        load_env_file(env)
