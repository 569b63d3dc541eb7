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


# --- the files the README cites -----------------------------------------------------------------

ROOT = README.parent


def _folders(text: str) -> list[str]:
    """The repository's folders, as the README's own table lists them (`tests/`, `bench/`)."""
    rows = re.findall(r"^\| ((?:`[\w.-]+/`(?:, )?)+) \|", text, re.M)
    return [name for row in rows for name in re.findall(r"`([\w.-]+)/`", row)]


def test_every_path_the_readme_names_is_in_the_repository() -> None:
    text = README.read_text(encoding="utf-8")
    folders = _folders(text)
    assert {"workflows", "schemas", "bench", "tests"} <= set(folders)
    # A path starting at one of those folders; `prodigy/<run id>` is a branch, not a file.
    start = "|".join(folders)
    paths = re.findall(rf"(?<![\w./~$-])((?:{start})/[\w./*<-]*)", text)
    checked = 0
    for path in (p.rstrip(".,") for p in paths):
        if "<" in path:
            continue
        found = list(ROOT.glob(path)) if "*" in path else [ROOT / path]
        assert found and all(p.exists() for p in found), f"the README cites {path}: not found"
        checked += 1
    assert checked >= 20
    for gone in ("../shared", "CONTRACT.md"):  # outside the repository: no reader has them
        assert gone not in text


def _step_keys(path: Path) -> set[str]:
    """The keys of every mapping that is a list item (the steps, at any depth) of a workflow."""
    from prodigy.compiler.source import load_file

    keys: set[str] = set()

    def walk(value: object, in_list: bool) -> None:
        if isinstance(value, dict):
            if in_list:
                keys.update(map(str, value))
            for child in value.values():
                walk(child, False)
        elif isinstance(value, list):
            for child in value:
                walk(child, True)

    walk(load_file(path).data, False)
    return keys


def test_each_step_type_names_an_example_file_that_has_such_a_step() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| step | does | example file |"):]
    rows = re.findall(r"^\| (.+?) \| .+ \| ((?:`workflows/[\w.-]+`(?:, )?)+) \|$",
                      table[:table.index("\n\n")], re.M)
    assert len(rows) >= 8
    for step, cited in rows:
        files = re.findall(r"`(workflows/[\w.-]+)`", cited)
        shown = set().union(*(_step_keys(ROOT / f) for f in files))
        keys = [m for span in re.findall(r"`([^`]+)`", step)
                for m in re.findall(r"^(?:- )?([a-z_]+):", span)]
        assert keys, step
        for key in keys:
            assert key in shown, f"the README says {files} show `{key}:`; they have no such step"


# What the workflow a "See `workflows/...`" sentence cites must show: the key its section is about.
SEE_ALSO = {
    "Handlers and retries": {"workflows/handlers.yml": "on_failure",
                             "workflows/retry.yml": "retry"},
    "MapReduce": {"workflows/mapreduce.yml": "map"},
    "Environment and secrets": {"workflows/env-and-secrets.yml": "secrets"},
}


def _all_keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(map(str, value)).union(*map(_all_keys, value.values()))
    if isinstance(value, list):
        return set().union(*map(_all_keys, value))
    return set()


def test_each_see_also_cites_a_workflow_showing_what_its_section_is_about() -> None:
    from prodigy.compiler.source import load_file

    text = README.read_text(encoding="utf-8")
    # Code blocks blanked (same length): their `# comments` are not headings.
    prose = re.sub(r"```.*?```", lambda m: re.sub(r"[^\n]", " ", m.group()), text, flags=re.S)
    claims = list(re.finditer(r"See\s+((?:`workflows/[\w.-]+`(?:, | and )?)+)", prose))
    assert claims
    seen = set()
    for claim in claims:
        section = re.findall(r"^#+ (.+)$", prose[:claim.start()], re.M)[-1]
        assert section in SEE_ALSO, f"say in SEE_ALSO what the workflows {section!r} cites show"
        files = re.findall(r"`(workflows/[\w.-]+)`", claim.group(1))
        assert sorted(files) == sorted(SEE_ALSO[section]), section
        body = text[text.index(f" {section}\n"):claim.end()]
        for file in files:
            key = SEE_ALSO[section][file]
            assert re.search(rf"`{key}[`:.]", body), f"{section!r} does not mention `{key}`"
            assert key in _all_keys(load_file(ROOT / file).data), (
                f"{file} has no `{key}:`, which {section!r} is about")
        seen.add(section)
    assert seen == set(SEE_ALSO)
