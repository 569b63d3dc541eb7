"""One fixture per diagnostic code: every code in the registry is produced somewhere, here.

Workflow fixtures live in tests/fixtures/errors/, named after their code. The first line says
what `prodigy validate FILE --format json` must report: `# expect: P110 at 4:7`; an optional
`# argv: --profile nope` line adds flags. Codes about plans, runs and flags have no YAML to
put them in and are driven through the CLI from the table below.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from prodigy.cli.main import main
from prodigy.compiler import source_events
from prodigy.runtime.diagnostics import CODES

FIXTURES = Path(__file__).parents[1] / "fixtures" / "errors"
EXPECT = re.compile(r"^#\s*expect:\s*(P\d{3})\s+at\s+(\d+):(\d+)\s*$")
ARGV = re.compile(r"^#\s*argv:\s*(.*)$")


def _fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.y*ml"))


def _reported(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert "Traceback" not in captured.err
    if "--format" in argv:
        rows: list[dict[str, object]] = json.loads(captured.out)
        return rows
    found = re.findall(r"^(?:(\S+?):(\d+):(\d+): )?error\[(P\d{3})\]", captured.err, re.M)
    assert "hint: " in captured.err
    return [{"file": f or None, "line": int(line) if line else None,
             "col": int(col) if col else None, "code": c, "hint": "x"}
            for f, line, col, c in found]


@pytest.mark.parametrize("path", _fixtures(), ids=lambda p: p.name)
def test_fixture_produces_its_diagnostic(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    match = EXPECT.match(lines[0])
    assert match, f"{path.name}: first line must be '# expect: PXXX at LINE:COL'"
    code, line, col = match.group(1), int(match.group(2)), int(match.group(3))
    assert path.name.startswith(code), "name fixtures after the code they test"
    extra = next((shlex.split(m.group(1)) for m in map(ARGV.match, lines[1:3]) if m), [])
    rows = _reported(["validate", str(path), "--format", "json", *extra], capsys)
    hits = [r for r in rows if r["code"] == code and (r["line"], r["col"]) == (line, col)]
    got = [(r["code"], r["line"], r["col"]) for r in rows]
    assert hits, f"expected {code} at {line}:{col}, got {got}"
    assert all(str(r["hint"]).strip() for r in hits)


def _plan(tmp_path: Path, text: str) -> str:
    path = tmp_path / "plan.json"
    path.write_text(text)
    return str(path)


CLI_CASES = {
    "P001": lambda tmp: ["validate", str(tmp / "missing.yml")],
    "P002": lambda tmp: ["validate", str(_bytes(tmp, b"- shell: \xff\n"))],
    "P401": lambda tmp: ["exec", _plan(tmp, "{nope")],
    "P402": lambda tmp: ["exec", _plan(tmp, '{"format_version": 99}')],
    "P501": lambda tmp: ["compile", str(_bytes(tmp, b"- shell: x\n")), "--arg", "NOVALUE"],
    # (with MAX_NODES lowered to 1,000 below: the real bound makes a 4 MB file)
    "P106": lambda tmp: ["validate", str(_bytes(tmp, b"- shell: x\n  env: {L: ["
                                                    + b"1," * 1001 + b"]}\n"))],
    "P505": lambda tmp: ["resume", "no-such-run", "--state-dir", str(tmp / "state")],
    "P506": lambda tmp: ["run", str(_bytes(tmp, b"secrets:\n  T: PRODIGY_TEST_UNSET_SECRET\n"
                                              b"commands:\n  - shell: echo\n")),
                         "--state-dir", str(tmp / "state"), "--executor", "inline"],
}


def _bytes(tmp: Path, data: bytes) -> Path:
    path = tmp / "wf.yml"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("code", sorted(CLI_CASES))
def test_cli_level_code(code: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRODIGY_TEST_UNSET_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(source_events, "MAX_NODES", 1000)
    rows = _reported(CLI_CASES[code](tmp_path), capsys)
    assert code in {r["code"] for r in rows}


def test_every_registered_code_has_a_fixture() -> None:
    covered = {path.name[:4] for path in _fixtures()} | set(CLI_CASES)
    assert covered == set(CODES), {"missing": sorted(set(CODES) - covered),
                                   "unknown": sorted(covered - set(CODES))}
