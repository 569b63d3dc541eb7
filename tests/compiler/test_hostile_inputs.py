"""Hostile workflow files (issue 18, items 5 and 8): each validates, or is refused with a
P1xx, quickly and without a traceback. The generators build each file; the time bound is the
issue's loose goal (10 s), not a benchmark."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from prodigy.cli.main import main

Generator = Callable[[], str]
HEAD = "name: hostile\ncommands:\n"


def _aliases_to_a_big_string() -> str:  # a 1 MB string, aliased 100,000 times
    return (f"name: a\nx: &a {'y' * 1_000_000}\ncommands:\n  - shell: echo\n"
            f"    env: [{','.join(['*a'] * 100_000)}]\n")


def _many_references() -> str:  # 4,000 `${x}` in one command: was quadratic
    return HEAD + '  - shell: "' + " ".join("${x}" for _ in range(4000)) + '"\n'


def _duplicate_keys() -> str:
    return HEAD + "  - shell: echo\n" + "".join(f"x: {i}\n" for i in range(16_000))


def _many_diagnostics() -> str:
    return HEAD + "".join(f"  - bogus{i}: 1\n" for i in range(100_000))


def _long_line() -> str:
    return HEAD + "  - shell: echo\n    bogus: " + "z" * 5_000_000 + "\n"


CASES: dict[str, tuple[Generator, set[str]]] = {
    "aliases-to-a-big-string": (_aliases_to_a_big_string, {"P104"}),
    "many-references": (_many_references, set()),
    "duplicate-keys": (_duplicate_keys, {"P102", "P105"}),
    "many-diagnostics": (_many_diagnostics, {"P105"}),
    "long-line": (_long_line, {"P110"}),
}


def _validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, object]],
                                                                      float]:
    started = time.monotonic()
    code = main(["validate", str(path), "--format", "json"])
    took = time.monotonic() - started
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out), took


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_is_answered_quickly(name: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    generate, codes = CASES[name]
    path = tmp_path / f"{name}.yml"
    path.write_text(generate(), encoding="utf-8")
    code, rows, took = _validate(path, capsys)
    assert took < 10, f"{name}: {took:.1f} s"
    assert code == (2 if codes else 0)
    assert codes <= {str(r["code"]) for r in rows}
    assert len(rows) <= 102  # capped per file: 100, and one P105 with the count of the rest


def test_a_capped_file_says_how_many_problems_were_left_out(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dups.yml"
    path.write_text(_duplicate_keys(), encoding="utf-8")
    main(["validate", str(path)])
    err = capsys.readouterr().err
    assert err.count("error[") == 101  # 100 shown (one is `x` as an unknown key), one P105
    assert "15900 more problems in this file are not shown (15900 errors, 0 warnings)" in err


def test_a_diagnostic_never_echoes_a_huge_line(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "long.yml"
    path.write_text(_long_line(), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err) < 2000 and "zzz..." in err


@pytest.mark.parametrize(("value", "code", "words"), [
    ("9" * 5000, "P111", "5000 digits is too long"),
    ("!!int x", "P111", "`!!int` value 'x' is not an int"),
    ("!!float zzz", "P111", "`!!float` value 'zzz' is not a float"),
    ('"\\ud800"', "P101", "half of a UTF-16 pair"),
])
def test_scalars_python_cannot_hold_are_diagnostics(value: str, code: str, words: str,
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "w.yml"
    path.write_text(f"{HEAD}  - shell: echo\n    env:\n      X: {value}\n", encoding="utf-8")
    for command in ("validate", "compile"):
        assert main([command, str(path)]) == 2, command
        err = capsys.readouterr().err
        assert f"error[{code}]" in err and words in err and "Traceback" not in err


def test_a_fifo_or_a_device_is_refused_not_read(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "fifo.yml"
    os.mkfifo(fifo)  # no writer: reading it would wait forever
    for path in (str(fifo), "/dev/zero"):
        assert main(["validate", path]) == 2
        err = capsys.readouterr().err
        assert "error[P001]" in err and "not a regular file" in err


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.yml"
    path.write_bytes(b"#" * (10 * 1024 * 1024 + 1))
    assert main(["validate", str(path)]) == 2
    assert "larger than 10 MiB" in capsys.readouterr().err
