"""`${item.x:sh}` against the injection corpus, through a real `sh -c`: the command prints
the payload byte for byte and runs none of it; and P601 flags every other splice."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodigy.compiler.expressions import parse_template
from prodigy.runtime.diagnostics import render_text
from prodigy.runtime.expr.evaluate import render_template

PAYLOADS = ["$(touch pwned)", "`touch pwned`", '"; touch pwned; "', "'; touch pwned; '",
            "a\ntouch pwned", "\\", "$HOME", "*", "?", "[a-z]*", "~", "-n", "", " ", "'",
            "a'b\"c", "${HOME}", "!!", "x;touch pwned", "x|touch pwned", "x&&touch pwned",
            "é ü 字"]


def shell(template: str, value: object, cwd: Path) -> str:
    parsed, problems = parse_template(template)
    assert parsed is not None and not problems
    command = render_template(parsed, {"item": {"x": value}})
    done = subprocess.run(["sh", "-c", command], cwd=cwd, capture_output=True, timeout=10)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sh_passes_every_payload_as_one_word(payload: str, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")  # for the globs to match, were they expanded
    assert shell("printf '%s|' ${item.x:sh}", payload, tmp_path) == payload + "|"
    if "\\" not in payload and payload != "-n":  # echo itself would read those
        assert shell("echo ${item.x:sh}", payload, tmp_path) == payload + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))))
def test_sh_round_trips_any_text(payload: str) -> None:
    assert shell("printf '%s' ${item.x:sh}", payload, Path.cwd()) == payload


def test_sh_of_null_is_an_empty_word_and_lists_quote_each_item(tmp_path: Path) -> None:
    assert shell("printf '<%s>' ${item.x:sh}", None, tmp_path) == "<>"
    assert shell("printf '<%s>' ${item.x:sh}", ["a b", "$(c)"], tmp_path) == "<a b><$(c)>"


def test_quotes_are_not_enough(tmp_path: Path) -> None:
    """Why P601 flags quoted splices too: this is what the corpus did to `"${item.x}"`."""
    subprocess.run(["sh", "-c", 'echo "$(touch pwned)"'], cwd=tmp_path, capture_output=True)
    assert (tmp_path / "pwned").exists()


def validate(tmp_path: Path, text: str, *extra: str) -> tuple[int, str]:
    from prodigy.cli.main import main

    path = tmp_path / "w.yml"
    path.write_text(text, encoding="utf-8")
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["validate", str(path), *extra])
    return code, err.getvalue()


MAP = "mode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n"


@pytest.mark.parametrize(("command", "flagged"), [
    ("echo ${item.x}", True), ("echo '${item.x}'", True), ('echo \\"${item.x}\\"', True),
    ("echo $item", True), ("echo ${item_json}", True), ("echo ${item.x:-none}", True),
    ("echo ${item.x:sh}", False), ('echo \\"$PRODIGY_ITEM\\"', False), ("echo $${item}", False),
])
def test_p601_flags_every_item_splice_but_the_safe_forms(tmp_path: Path, command: str,
                                                         flagged: bool) -> None:
    (tmp_path / "items.json").write_text("[]")
    code, err = validate(tmp_path, MAP + f'    - shell: "{command}"\n', "--strict")
    assert ("P601" in err) is flagged, err
    assert code == (2 if flagged else 0)
    if flagged:
        assert "${item.x:sh}" in err and "$PRODIGY_ITEM" in err


@pytest.mark.parametrize(("command", "flagged"), [
    ("echo '${files}'", True), ("echo ${shell.output}", True), ("echo ${files.stderr}", True),
    ("echo ${files:sh}", False), ("echo ${files.exit_code}", False),
    ('echo \\"$PRODIGY_VAR_files\\"', False),
])
def test_p601_flags_capture_splices(tmp_path: Path, command: str, flagged: bool) -> None:
    code, err = validate(tmp_path, "- shell: git ls-files\n  capture: files\n"
                                   f'- shell: "{command}"\n')
    assert ("P601" in err) is flagged, err
    assert code == 0  # a warning, without --strict


def test_control_characters_are_escaped_in_diagnostics(tmp_path: Path) -> None:
    esc = "\\e]0;owned\\a\\e[2J"  # YAML's own escapes: raw controls are P101
    code, err = validate(tmp_path, f'- shell: ok\n  "k{esc}": 1\n- shell: "${{no{esc}"\n')
    assert code == 2
    assert "\x1b" not in err and "\x07" not in err and "\\x1b]0;owned\\x07\\x1b[2J" in err
    assert err.count("P110") == 1 and "P201" in err


def test_escaped_excerpt_keeps_the_caret_under_the_span() -> None:
    from prodigy.runtime.diagnostics import Diagnostic
    from prodigy.runtime.span import Span

    diag = Diagnostic("P110", "unknown key", Span("f.yml", 1, 4, 1, 7))
    lines = render_text([diag], {"f.yml": "\x1b\x1bXabc"}).splitlines()
    assert lines[1].endswith("\\x1b\\x1bXabc")
    assert lines[2].index("^") - lines[2].index("|") == lines[1].index("abc") - lines[1].index("|")
    assert lines[2].count("^") == 3
