"""Property: however a real workflow is mangled, the front end answers with positioned
diagnostics, never an exception, also in the stages that run past earlier errors.

Mutations of corpus files (or of the repo's own workflows/ when shared/ is absent): delete or
duplicate lines, re-indent, give a value another type, insert garbage bytes, nest deeply.
"""

from __future__ import annotations

import copy
import random
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodigy.compiler.commands.registry import COMMAND_KEYS
from prodigy.compiler.normalize_base import CLAUDE_KEYS, STEP_OPTIONS
from prodigy.compiler.pipeline import compile_file, validate_file
from prodigy.compiler.schema_check import check_schema
from prodigy.compiler.source import SourceMap, load_file
from prodigy.runtime.diagnostics import CompileError

ROOT = Path(__file__).parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "prodigy"


def _sources() -> list[bytes]:
    if CORPUS.is_dir():
        paths = [p for top in ("workflows", "examples", "templates", "tests")
                 for p in sorted((CORPUS / top).glob("**/*.y*ml"))
                 if "workflows/data/" not in p.as_posix()]
    else:
        paths = sorted((ROOT / "workflows").glob("*.y*ml"))
    return [p.read_bytes() for p in paths]


SOURCES = _sources()
if not SOURCES:
    pytest.skip("no workflow files to mutate", allow_module_level=True)

# Replacement values that change a value's YAML type.
SWAPS = [b"[a, b]", b"{x: 1}", b"42", b"true", b"", b"null", b"'0644'", b"-1", b"[[[[",
         b"&a [*a]", b"|\n  text", b"{{ }}", b"${x}", b"1.5e9"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    source = draw(st.sampled_from(SOURCES))
    lines = source.split(b"\n")
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, max(len(lines) - 1, 0)))
        line = lines[where] if lines else b""
        kind = draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "swap",
                                     "garbage", "nest", "tab"]))
        if kind == "delete" and lines:
            del lines[where]
        elif kind == "duplicate":
            lines.insert(where, line)
        elif kind == "indent":
            lines[where:where + 1] = [b" " * draw(st.integers(1, 5)) + line]
        elif kind == "dedent":
            lines[where:where + 1] = [line.lstrip()]
        elif kind == "tab":
            lines[where:where + 1] = [b"\t" + line]
        elif kind == "swap" and b": " in line:
            key = line.split(b": ", 1)[0]
            lines[where:where + 1] = [key + b": " + draw(st.sampled_from(SWAPS))]
        elif kind == "garbage":
            cut = draw(st.integers(0, len(line)))
            junk = draw(st.binary(min_size=1, max_size=8))
            lines[where:where + 1] = [line[:cut] + junk + line[cut:]]
        elif kind == "nest":
            depth = draw(st.integers(50, 3000))
            lines.insert(where, b"deep: " + b"[" * depth + b"]" * depth)
    return b"\n".join(lines)


# One scratch file for all examples (load_file reads bytes, so garbage reaches the decoder too);
# the directory is removed when the test session ends.
_SCRATCH = tempfile.TemporaryDirectory(prefix="prodigy-fuzz-")
_WORKDIR = Path(_SCRATCH.name)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_workflows_give_positioned_diagnostics(raw: bytes) -> None:
    path = _WORKDIR / "mutant.yml"
    path.write_bytes(raw)
    loaded = load_file(path)
    found = list(loaded.diagnostics)
    if loaded.ok:
        found = check_schema(loaded.data, loaded.source_map)
    line_count = raw.count(b"\n") + 1
    for diag in found:
        assert diag.span is not None, diag
        assert 1 <= diag.span.line <= line_count + 1, diag
        assert diag.span.col >= 1, diag
        assert diag.effective_hint


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_every_stage_goes_on_past_errors_without_exceptions(raw: bytes) -> None:
    """The whole pipeline, which now runs every stage on what earlier errors left usable."""
    path = _WORKDIR / "mutant-stages.yml"
    path.write_bytes(raw)
    line_count = raw.count(b"\n") + 1
    for diag in validate_file(str(path)):
        assert diag.span is not None and 1 <= diag.span.line <= line_count + 1, diag


def _documents() -> list[object]:
    found = []
    for raw in SOURCES:
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError:
            continue
        if isinstance(data, dict | list):
            found.append(data)
    return found


DOCUMENTS = _documents()
# Values that break a later stage rather than the schema (or both): bad expressions, ids,
# conflicting captures, options a step kind does not take.
ODD_VALUES: list[object] = ["${", "${x ==", "${item}", "${a.b}", "x = 'y'", "$.[", "${N}", 5,
                            True, "id1", [], {}, None, {"shell": "x"}, [{"shell": "x"}]]
ODD_KEYS = [*STEP_OPTIONS, *CLAUDE_KEYS, *COMMAND_KEYS, "max_parallel", "filter", "sort_by",
            "json_path", "input"]


def _mangle(node: object, rng: random.Random) -> None:
    if isinstance(node, dict):
        for key in list(node):
            if rng.random() < 0.15:
                node[key] = rng.choice(ODD_VALUES)
            else:
                _mangle(node[key], rng)
        if rng.random() < 0.3:
            node[rng.choice(ODD_KEYS)] = rng.choice(ODD_VALUES)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            if rng.random() < 0.1:
                node[index] = rng.choice(ODD_VALUES)
            else:
                _mangle(item, rng)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(DOCUMENTS) if DOCUMENTS else st.just([]), st.randoms())
def test_workflows_with_odd_keys_and_expressions_give_diagnostics(document: object,
                                                                   rng: random.Random) -> None:
    data = copy.deepcopy(document)
    _mangle(data, rng)
    path = _WORKDIR / "mangled.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    for diag in validate_file(str(path)):
        assert diag.span is not None and diag.effective_hint, diag
    try:
        compile_file(str(path))
    except CompileError as exc:
        assert exc.diagnostics


# Keys the schema knows (plus a few it does not), so random documents reach deep into it.
KEYS = ["commands", "steps", "mode", "map", "setup", "reduce", "merge", "env", "secrets", "shell",
        "claude", "on_failure", "on_success", "retry", "backoff", "foreach", "items", "do",
        "validate", "on_incomplete", "write_file", "input", "agent_template", "max_parallel",
        "capture_streams", "error_policy", "name", "timeout", "exponential", "custom", "x", ""]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(
        ["mapreduce", "standard", "/cmd", "${X}", "fixed", "dlq", ""]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner,
                                                                max_size=4),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_any_document_shape_gives_diagnostics_not_exceptions(data: object) -> None:
    for diag in check_schema(data, SourceMap("wf.yml", "")):
        assert diag.span is not None and diag.span.line >= 1
        assert diag.message and diag.effective_hint
