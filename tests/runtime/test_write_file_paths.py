"""`write_file` paths, checked before anything is written: what each refusal says, and the
step's `allow_outside` opt-out (inputs carry it only when set)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodigy.runtime.ops.write_file import _write


def inputs(path: str, **extra: object) -> dict[str, object]:
    return {"path": path, "content": "x", "format": "text", "mode": "0644",
            "create_dirs": False, **extra}


@pytest.mark.parametrize(("path", "said"), [
    ("a\0b", "holds a NUL character"),
    ("", "must be relative"),
    ("/etc/passwd", "must be relative"),
    ("../up", "escapes the working directory"),
])
def test_each_refusal_says_why(tmp_path: Path, path: str, said: str) -> None:
    (tmp_path / "root").mkdir()
    written, message = _write(tmp_path / "root", inputs(path))
    assert not written and said in message
    assert list(tmp_path.iterdir()) == [tmp_path / "root"]


def test_allow_outside_writes_where_the_path_says(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    assert _write(tmp_path / "root", inputs("../up", allow_outside=True))[0]
    assert _write(tmp_path / "root", inputs(str(tmp_path / "abs"), allow_outside=True))[0]
    assert (tmp_path / "up").read_text() == "x" and (tmp_path / "abs").read_text() == "x"


def test_allow_outside_still_refuses_a_nul(tmp_path: Path) -> None:
    written, message = _write(tmp_path, inputs("a\0b", allow_outside=True))
    assert not written and "NUL" in message
