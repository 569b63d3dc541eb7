"""compiler/source.py: YAML loading with positions, and every way a file can be broken."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from prodigy.compiler.source import LoadedFile, load_file, load_text, load_text_carefully
from prodigy.compiler.source_events import compose_fast


def load(text: str) -> LoadedFile:
    return load_text(text, "wf.yml")


def only(loaded: LoadedFile) -> tuple[str, int, int]:
    assert len(loaded.diagnostics) == 1, loaded.diagnostics
    diag = loaded.diagnostics[0]
    assert diag.span is not None and diag.effective_hint
    return diag.code, diag.span.line, diag.span.col


# ----- values and positions ---------------------------------------------------------------------


def test_values_keys_and_their_spans() -> None:
    loaded = load("name: demo\ncommands:\n  - shell: make test\n    timeout: 30\n")
    assert loaded.ok
    assert loaded.data == {"name": "demo",
                           "commands": [{"shell": "make test", "timeout": 30}]}
    smap = loaded.source_map
    value = smap.span(("commands", 0, "shell"))
    assert (value.line, value.col, value.end_line, value.end_col) == (3, 12, 3, 21)
    key = smap.key_span(("commands", 0, "timeout"))
    assert (key.line, key.col, key.end_col) == (4, 5, 12)
    # A path with no span of its own falls back to its nearest ancestor.
    assert smap.span(("commands", 0, "nope")) == smap.span(("commands", 0))


def test_yaml_1_1_surprises_stay_strings() -> None:
    loaded = load("on: yes\nb: NO\nc: y\nd: Off\ne: 12:30\nf: 1_000\ng: 0b10\nh: ~\n"
                  "i: True\nj: FALSE\nk: 0o17\nl: 0x1f\nm: 1e3\n")
    assert loaded.data == {"on": "yes", "b": "NO", "c": "y", "d": "Off", "e": "12:30",
                           "f": "1_000", "g": "0b10", "h": None, "i": True, "j": False,
                           "k": 15, "l": 31, "m": 1000.0}


def test_octal_looking_numbers_keep_their_source_text() -> None:
    loaded = load("mode: 0644\nquoted: '0644'\n")
    assert loaded.data == {"mode": 644, "quoted": "0644"}
    assert loaded.source_map.text_of(("mode",)) == "0644"
    assert loaded.source_map.text_of(("quoted",)) is None  # quoted: the value is the text


def test_infinity_and_nan() -> None:
    loaded = load("a: .inf\nb: -.Inf\nc: .NaN\n")
    data = loaded.data
    assert isinstance(data, dict)
    assert data["a"] == math.inf and data["b"] == -math.inf and math.isnan(data["c"])


def test_keys_are_always_their_text() -> None:
    assert load("1: a\ntrue: b\nnull: c\n").data == {"1": "a", "true": "b", "null": "c"}


def test_merge_keys_expand_and_explicit_keys_win() -> None:
    loaded = load("base: &b {x: 1, y: 2}\nmore: &m {z: 3}\n"
                  "one:\n  <<: *b\n  y: 9\nmany:\n  <<: [*b, *m]\n")
    assert loaded.ok
    assert loaded.data == {"base": {"x": 1, "y": 2}, "more": {"z": 3},
                           "one": {"x": 1, "y": 9}, "many": {"x": 1, "y": 2, "z": 3}}


def test_shared_anchors_are_copied() -> None:
    loaded = load("a: &q [1, 2]\nb: [*q, *q]\n")
    assert loaded.data == {"a": [1, 2], "b": [[1, 2], [1, 2]]}


def test_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.yml"
    path.write_bytes("\ufeffa: 1\n".encode())
    assert load_file(path).data == {"a": 1}


def test_unknown_tags_do_not_execute_anything() -> None:
    loaded = load("a: !!python/object/apply:os.system [echo hi]\nb: !custom 1\n")
    assert loaded.data == {"a": ["echo hi"], "b": "1"}


# ----- char_span: a character of a value back to the file --------------------------------------


@pytest.mark.parametrize(("text", "path", "line", "col"), [
    ("a: echo ${x.y} done\n", ("a",), 1, 9),
    ("a: 'it''s ${x.y} ok'\n", ("a",), 1, 11),
    ('a: "tab\\t\\"q\\" ${x.y}"\n', ("a",), 1, 16),
    ('a: "\\u00e9 ${x.y}"\n', ("a",), 1, 12),
    ("a: |\n  line one\n  run ${x.y} now\n", ("a",), 3, 7),
    ("a: >\n  line one\n  run ${x.y} now\n", ("a",), 3, 7),
    ("a: >-\n  first\n\n  second ${x.y}\n", ("a",), 4, 10),
    ("a: plain first\n  then ${x.y}\n", ("a",), 2, 8),
    ('- shell: "go ${x.y}"\n', (0, "shell"), 1, 14),
])
def test_char_span_points_inside_every_scalar_style(text: str, path: tuple[str | int, ...],
                                                    line: int, col: int) -> None:
    loaded = load(text)
    value: object = loaded.data
    for part in path:
        value = value[part]  # type: ignore[index]
    assert isinstance(value, str)
    start = value.index("${x.y}")
    span = loaded.source_map.char_span(path, value, start, start + 6)
    assert (span.line, span.col, span.end_line, span.end_col) == (line, col, line, col + 6)
    assert text.splitlines()[line - 1][col - 1 : col + 5] == "${x.y}"


# ----- broken files ---------------------------------------------------------------------------


def test_duplicate_key_names_both_positions() -> None:
    loaded = load("commands:\n  - shell: a\n    timeout: 1\n    timeout: 2\n")
    assert only(loaded) == ("P102", 4, 5)
    diag = loaded.diagnostics[0]
    assert "line 3, column 5" in diag.message
    assert [(s.line, s.col) for s in diag.related] == [(3, 5)]
    assert loaded.data == {"commands": [{"shell": "a", "timeout": 1}]}


def test_every_duplicate_is_reported() -> None:
    loaded = load("a: 1\na: 2\nb: {c: 1, c: 2}\n")
    assert [(d.code, d.span.line, d.span.col) for d in loaded.diagnostics if d.span] == [
        ("P102", 2, 1), ("P102", 3, 11)]


@pytest.mark.parametrize(("text", "line", "col", "hint"), [
    ("commands:\n\t- shell: a\n", 2, 1, "tabs"),
    ("a:\n  b: 1\n\tc: 2\n", 3, 1, "tabs"),
    ("a: 1\n  b: 2\n", 2, 4, "quote the value"),
    ("commands:\n  - shell: a\n   timeout: 5\n", 3, 4, ""),
    ("a: 'unclosed\nb: 2\n", 3, 1, "not closed"),
    ('a: "unclosed\n', 2, 1, "not closed"),
    ("a: [1, 2\n", 2, 1, ""),
    ("a: b: c\n", 1, 5, "quote the value"),
    ("---\na: 1\n---\nb: 2\n", 3, 1, "one YAML document"),
    ("a: *undefined\n", 1, 4, ""),
    ("a: @x\n", 1, 4, "quote"),
])
def test_syntax_errors_are_positioned(text: str, line: int, col: int, hint: str) -> None:
    loaded = load(text)
    assert only(loaded) == ("P101", line, col)
    assert loaded.data is None
    assert hint in loaded.diagnostics[0].effective_hint


def test_control_characters_are_positioned() -> None:
    assert only(load("a: b\nc: \x01d\n")) == ("P101", 2, 4)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "~\n"])
def test_empty_documents(text: str) -> None:
    loaded = load(text)
    assert only(loaded)[0] == "P103"
    assert "empty" in loaded.diagnostics[0].message


@pytest.mark.parametrize("text", ["42\n", "just text\n", "true\n"])
def test_a_scalar_is_not_a_workflow(text: str) -> None:
    assert only(load(text))[0] == "P103"


@pytest.mark.parametrize(("text", "line", "col"), [
    ("a: &x [*x]\n", 1, 4),
    ("a: &x {b: [1, *x]}\n", 1, 4),
])
def test_recursive_alias(text: str, line: int, col: int) -> None:
    assert only(load(text)) == ("P104", line, col)


def test_billion_laughs_is_refused_quickly() -> None:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    started = time.perf_counter()
    loaded = load(text)
    assert time.perf_counter() - started < 1.0
    assert only(loaded)[0] == "P104"


@pytest.mark.parametrize("text", [
    "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "a: " + "{b: " * 5000 + "}" * 5000 + "\n",
    "a:\n  " + "- " * 5000 + "x\n",
])
def test_deep_nesting_is_refused_quickly(text: str) -> None:
    started = time.perf_counter()
    loaded = load(text)
    assert time.perf_counter() - started < 1.0
    code, line, _ = only(loaded)
    assert code == "P101" and line >= 1
    assert "nesting too deep" in loaded.diagnostics[0].message


def test_reasonable_nesting_is_fine() -> None:
    assert load("a: " + "[" * 100 + "]" * 100 + "\n").ok


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "image.yml"
    path.write_bytes(b"a: 1\n\x89PNG\r\n\x1a\n\x00\x00binary")
    loaded = load_file(path)
    assert only(loaded)[0] == "P002"


def test_nul_byte_is_positioned(tmp_path: Path) -> None:
    path = tmp_path / "nul.yml"
    path.write_bytes(b"a: 1\nb: x\x00y\n")
    assert only(load_file(path)) == ("P002", 2, 5)


def test_non_utf8_is_positioned(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes("a: 1\nname: caf\u00e9\n".encode("latin-1"))
    loaded = load_file(path)
    assert only(loaded) == ("P002", 2, 10)
    assert "0xe9" in loaded.diagnostics[0].message


def test_missing_file(tmp_path: Path) -> None:
    loaded = load_file(tmp_path / "nope.yml")
    assert [d.code for d in loaded.diagnostics] == ["P001"]


# ----- the fast path (libyaml events straight to data) against the careful one ---------------


def _documents() -> list[Path]:
    root = Path(__file__).resolve().parents[2]
    corpus = root.parent / "shared" / "corpus" / "prodigy"
    found = sorted((root / "workflows").glob("*.yml"))
    found += sorted((root / "tests" / "fixtures").glob("**/*.yml"))
    found += sorted(corpus.glob("**/*.y*ml")) if corpus.is_dir() else []
    return found


def test_the_fast_path_loads_exactly_what_the_careful_path_loads() -> None:
    compared = 0
    for path in _documents():
        text = path.read_text(encoding="utf-8", errors="replace")
        fast = compose_fast(text, "wf.yml")
        careful = load_text_carefully(text, "wf.yml")
        if fast is None:
            continue  # errors, anchors, tags, ...: only the careful path loads it
        compared += 1
        data, smap = fast
        assert careful.ok and data == careful.data, path
        mine, theirs = smap, careful.source_map
        assert (mine.marks, mine.styles, mine.children, mine.key_ids) == (
            theirs.marks, theirs.styles, theirs.children, theirs.key_ids), path
    assert compared > 40


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n",  # anchors and aliases
    "a: !!str 1\n",  # an explicit tag
    "base: &b {x: 1}\none:\n  <<: *b\n",  # a merge key
    "a: 1\na: 2\n",  # a duplicate key
    "? [a]\n: 1\n",  # a key that is not a scalar
    "just text\n",  # a scalar document
    "a: 1\n---\nb: 2\n",  # two documents
    "a: " + "[" * 300 + "]" * 300 + "\n",  # too deep
    "a: [1,\n",  # a YAML error
])
def test_the_fast_path_leaves_the_unusual_to_the_careful_one(text: str) -> None:
    assert compose_fast(text, "wf.yml") is None


def test_unusual_keys_and_scalar_styles_load_alike() -> None:
    text = ("'q': 'it''s'\n\"d\": \"x\\ty\"\n<<x: 1\n'<<': 2\nl: |\n  a\n  b\nf: >-\n  c\n  d\n"
            "n: [~, null, '', 0o17, 0x1f, -.inf, 1e3, true, on, 12:30]\nempty:\ne: {}\ns: []\n")
    fast = compose_fast(text, "wf.yml")
    careful = load_text_carefully(text, "wf.yml")
    assert fast is not None and careful.ok
    assert fast[0] == careful.data
    assert fast[1].marks == careful.source_map.marks
    assert fast[1].styles == careful.source_map.styles
    assert fast[1].key_span(("l",)) == careful.source_map.key_span(("l",))
