"""The README is part of the contract: its quick start and its table of diagnostic codes."""

from __future__ import annotations

import os
import re
from pathlib import Path

from prodigy.runtime.diagnostics import CODES

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- codes:begin -->", "<!-- codes:end -->"


def codes_table() -> str:
    rows = ["| code | meaning | default hint |", "|---|---|---|"]
    for code, info in sorted(CODES.items()):
        hint = info.hint.replace("|", "\\|")
        rows.append(f"| `{code}` | {info.title} | {hint} |")
    return "\n".join(rows)


def test_readme_lists_every_diagnostic_code() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    expected = "\n" + codes_table() + "\n"
    if os.environ.get("UPDATE_GOLDEN") and text[start:end] != expected:
        README.write_text(text[:start] + expected + text[end:], encoding="utf-8")
        text = README.read_text(encoding="utf-8")
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    assert text[start:end] == expected, "run `make golden` to refresh the README's code table"


def test_quick_start_is_exactly_make_run_and_make_test() -> None:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Quick start\s+```sh\n(.*?)```", text, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == ["make run", "make test"]


def test_every_yaml_example_in_the_readme_validates(tmp_path: Path) -> None:
    from prodigy.compiler.pipeline import validate_file

    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    checked = 0
    for index, block in enumerate(blocks):
        if "pre-commit" in block or "yaml-language-server" in block:
            continue  # configuration for other tools, not workflows
        path = tmp_path / f"example-{index}.yml"
        path.write_text(block, encoding="utf-8")
        problems = validate_file(str(path))
        assert not problems, (block, [(d.code, d.message) for d in problems])
        checked += 1
    assert checked >= 5
