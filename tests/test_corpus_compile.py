"""Properties over the upstream Prodigy corpus (shared/corpus/prodigy) and workflows/.

Every corpus workflow that validates also compiles; its plan validates against
plan.schema.json, survives a JSON round trip unchanged, and compiling twice gives identical
bytes. The corpus lives outside the repository; without it these tests skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from prodigy.compiler.pipeline import compile_file, validate_file
from prodigy.compiler.resources import schema
from prodigy.runtime.diagnostics import Severity
from prodigy.runtime.plan import loads

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "prodigy"
# The verbatim upstream workflow files; extracted/ holds doc snippets (fragments), and
# workflows/data/ holds data files Claude commands read, not workflows.
FOLDERS = ("examples", "workflows", "templates", "tests/workflows")


def _corpus() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    found = [p for folder in FOLDERS for p in (CORPUS / folder).rglob("*.y*ml")
             if "data" not in p.relative_to(CORPUS).parts]
    return sorted(found)


CASES = _corpus() + sorted((ROOT / "workflows").glob("*.yml"))
VALIDATOR = jsonschema.Draft202012Validator(schema("plan.schema.json"))


def _id(path: Path) -> str:
    return str(path.relative_to(CORPUS)) if CORPUS in path.parents else path.name


def test_the_corpus_is_there() -> None:
    """A user's clone has no corpus beside it (skip); CI has, and says so (fail if missing)."""
    if not CORPUS.is_dir():
        if os.environ.get("PRODIGY_REQUIRE_CORPUS"):
            pytest.fail(f"PRODIGY_REQUIRE_CORPUS is set but {CORPUS} is missing")
        pytest.skip("shared corpus not available")
    assert len(_corpus()) > 30


@pytest.mark.parametrize("path", CASES, ids=_id)
def test_a_valid_workflow_compiles_to_a_valid_stable_plan(path: Path) -> None:
    # Warnings (unbound $ARG, item splices) do not stop a compile: only errors skip.
    if any(d.severity is Severity.ERROR for d in validate_file(str(path))):
        pytest.skip("the workflow does not validate (invalid YAML or rejected syntax)")
    plan = compile_file(str(path))
    text = plan.dumps()
    VALIDATOR.validate(json.loads(text))
    again = loads(text)
    assert again == plan
    assert again.dumps() == text
    assert compile_file(str(path)).dumps() == text


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not available")
def test_only_invalid_yaml_fails_in_the_corpus() -> None:
    """Every corpus file that is valid YAML validates: the checks flag nothing the corpus
    legitimately does (its invalid-YAML files are the known negative cases)."""
    failing = {}
    for path in _corpus():
        # Lint warnings (P6xx) do not make a workflow invalid; upstream's own examples splice
        # items into shell commands, which is what P601 is there to point out.
        codes = sorted({d.code for d in validate_file(str(path))
                        if d.severity is Severity.ERROR})
        if codes and codes != ["P101"]:
            failing[_id(path)] = codes
    assert failing == {}
