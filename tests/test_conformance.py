"""Conformance with upstream Prodigy's real workflows (shared/corpus/prodigy, see SOURCE.txt).

- Every verbatim workflow loads and passes the schema with no error, except the three files that
  are not YAML at all, which must give a positioned P101.
- The extracted snippets (Rust test strings, docs code blocks) must never raise. Many are
  fragments or deliberate negatives, so they are not required to validate. Measured when this
  test was written: 433 of the 643 docs snippets and 144 of the 187 Rust-test snippets pass load +
  schema. Every failure was read: the rest are fragments (a lone `map:` or `validate:` block,
  `map:` without `mode: mapreduce`), invalid YAML, deliberate negative tests, or forms the docs
  invent and upstream never parsed (`foreach: [list]` with a sibling `do:`, step-level
  `use:`/`template:`/`workflow:` calls, `map.input: {list: ...}`, `map.variables`, validation
  settings such as `max_cache_age` under `validate:`), which the schema rejects on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prodigy.compiler.schema_check import check_schema
from prodigy.compiler.source import load_file

SHARED = Path(__file__).parents[1].parent / "shared"
CORPUS = SHARED / "corpus" / "prodigy"
NOT_YAML = {
    "examples/capture-parallel-analysis.yml",
    "examples/mapreduce-json-input.yml",
    "workflows/implement-with-tests.yml",
}

if not CORPUS.is_dir():
    pytest.skip("the shared corpus is not available here", allow_module_level=True)


def _verbatim() -> list[str]:
    found = []
    for top in ("workflows", "examples", "templates", "tests"):
        for path in sorted((CORPUS / top).glob("**/*.y*ml")):
            relative = path.relative_to(CORPUS).as_posix()
            if not relative.startswith("workflows/data/"):  # data files, not workflows
                found.append(relative)
    return found


def test_the_corpus_is_where_we_expect() -> None:
    files = _verbatim()
    assert len(files) == 40
    assert set(files) >= NOT_YAML


@pytest.mark.parametrize("relative", _verbatim())
def test_verbatim_workflow(relative: str) -> None:
    loaded = load_file(CORPUS / relative)
    if relative in NOT_YAML:
        codes = [(d.code, d.span) for d in loaded.diagnostics]
        assert any(code == "P101" and span is not None and span.line >= 1 for code, span in codes)
        return
    assert loaded.ok, [(d.code, str(d.span), d.message) for d in loaded.diagnostics]
    found = check_schema(loaded.data, loaded.source_map)
    assert [(d.code, str(d.span), d.message) for d in found] == []


@pytest.mark.parametrize("kind", ["docs-snippets", "rust-test-inline"])
def test_extracted_snippets_never_raise(kind: str) -> None:
    folder = CORPUS / "extracted" / kind
    index = json.loads((folder / "INDEX.json").read_text(encoding="utf-8"))
    passed = 0
    for entry in index:
        loaded = load_file(folder / entry["file"])
        if loaded.ok and not check_schema(loaded.data, loaded.source_map):
            passed += 1
    # Not all of them are meant to validate (see the module docstring); a sharp drop would
    # mean the schema started rejecting forms it used to accept.
    assert passed >= {"docs-snippets": 400, "rust-test-inline": 130}[kind]
