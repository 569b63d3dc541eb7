"""Bounded memory for output (issue 18, item 4) and capture_format string | raw (issue 17)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from prodigy.runtime.bounded_read import read_bounded
from prodigy.runtime.executors import process
from prodigy.runtime.executors.process import LogCap, compact_log, run_command
from prodigy.runtime.masking import Masker
from prodigy.runtime.ops.capture import parse_capture


def test_string_drops_trailing_newlines_and_raw_keeps_them() -> None:
    assert parse_capture("abc123\n", "string", True) == ("abc123", "")
    assert parse_capture("a\n\nb\n\n", "string", True) == ("a\n\nb", "")
    assert parse_capture("abc123\n", "raw", True) == ("abc123\n", "")
    assert parse_capture("  x \n", "string", True) == ("  x ", "")  # only newlines go


def test_log_cap_keeps_the_head_and_the_tail() -> None:
    sink = io.BytesIO()
    cap = LogCap(sink, limit=100)  # type: ignore[arg-type]
    for i in range(1000):
        cap.write(f"{i:04d}\n".encode())
    cap.close()
    text = sink.getvalue().decode()
    assert text.startswith("0000\n0001\n")
    assert text.endswith("0998\n0999\n")
    assert "bytes of output left out of this log" in text
    assert len(text) < 200


def test_a_small_log_is_written_whole() -> None:
    sink = io.BytesIO()
    cap = LogCap(sink, limit=100)  # type: ignore[arg-type]
    cap.write(b"hello\n")
    cap.close()
    assert sink.getvalue() == b"hello\n"


def test_compact_log_cuts_only_the_attempt_after_start(tmp_path: Path) -> None:
    log = tmp_path / "n.log"
    log.write_bytes(b"earlier attempt\n" + b"h" * 50 + b"m" * 1000 + b"t" * 50)
    compact_log(log, 16, limit=100)
    data = log.read_bytes()
    assert data.startswith(b"earlier attempt\n" + b"h" * 50)
    assert data.endswith(b"t" * 50)
    assert b"m" * 10 not in data and b"1000 bytes of output left out" in data


@pytest.mark.process
def test_a_capture_over_the_limit_fails_the_step_and_keeps_memory_flat(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "CAPTURE_LIMIT", 1000)
    monkeypatch.setattr(process, "LOG_LIMIT", 4000)
    result = run_command(["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"], env={},
                         cwd=str(tmp_path), log_path=tmp_path / "n.log", masker=Masker(),
                         capture_stdout=True)
    assert result.exit_code == 0
    assert "over the capture limit of 1000 bytes" in result.error
    assert len(result.stdout) <= process.TAIL_BYTES
    assert (tmp_path / "n.log").stat().st_size < 4200


@pytest.mark.process
def test_a_capture_under_the_limit_is_whole(tmp_path: Path) -> None:
    result = run_command(["sh", "-c", "printf 'a%.0s' $(seq 5000)"], env={}, cwd=str(tmp_path),
                         log_path=tmp_path / "n.log", masker=Masker(), capture_stdout=True)
    assert result.error == "" and result.stdout == "a" * 5000


def test_read_bounded_refuses_what_is_not_a_small_regular_file(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2048)
    assert read_bounded(big, 2048) == b"x" * 2048
    with pytest.raises(OSError, match="larger than 1024 bytes"):
        read_bounded(big, 1024)
    with pytest.raises(OSError, match="not a regular file"):
        read_bounded(tmp_path, 1024)
