"""Every expression in the upstream corpus parses: command strings as templates, `when:` as
conditions, map `filter:` / `sort_by:` / `json_path:` in their own languages.

Two documentation snippets use placeholder text as a `when:` (`condition`,
`variable == 'value'`): bare words are an error by design, so those two must report exactly
that error, with a position inside the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prodigy.compiler.expressions import (
    check_json_path,
    parse_condition,
    parse_filter,
    parse_sort,
    parse_template,
)
from prodigy.compiler.source import DataPath, LoadedFile, load_file
from prodigy.runtime.diagnostics import Diagnostic

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "prodigy"

# Keys whose string value is interpolated (numeric fields accept "${VAR}" too, A.11/B.7).
TEMPLATE_KEYS = frozenset({
    "shell", "claude", "goal", "prompt", "content", "path", "input", "test", "working_dir",
    "result_file", "max_parallel", "agent_timeout_secs", "timeout",
})
EXPECTED_ERRORS = {
    "docs__workflow-basics__command-types__L133.yml": ("P201", "bare word `condition`", 8),
    "docs__workflow-basics__command-types__L56.yml": ("P201", "bare word `variable`", 11),
}


def _files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(CORPUS.rglob("*.y*ml"))


def _expressions(data: Any, path: DataPath = ()) -> Iterator[tuple[str, DataPath, str]]:
    """(kind, data path, text) for every expression string in a loaded document."""
    if isinstance(data, list):
        for i, value in enumerate(data):
            yield from _expressions(value, (*path, i))
        return
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        here = (*path, key)
        if isinstance(value, str):
            if key in TEMPLATE_KEYS:
                yield "template", here, value
            elif key == "when":
                yield "condition", here, value
            elif key == "filter":
                yield "filter", here, value
            elif key == "sort_by":
                yield "sort", here, value
            elif key == "json_path":
                yield "json_path", here, value
        elif key == "env" and isinstance(value, dict):
            for name, text in value.items():
                if isinstance(text, str):
                    yield "template", (*here, name), text
        elif key == "commands" and isinstance(value, list):
            for i, text in enumerate(value):
                if isinstance(text, str):
                    yield "template", (*here, i), text
        yield from _expressions(value, here)


def _check(loaded: LoadedFile) -> tuple[int, list[Diagnostic]]:
    count, diags = 0, []
    for kind, path, text in _expressions(loaded.data):
        count += 1
        at = (loaded.source_map, path)
        if kind == "json_path":
            diags.extend(check_json_path(text, at))
            continue
        parse = {"template": parse_template, "condition": parse_condition,
                 "filter": parse_filter, "sort": parse_sort}[kind]
        diags.extend(parse(text, at)[1])
    return count, diags


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not available")
def test_corpus_expressions_parse() -> None:
    total = 0
    unexpected: list[str] = []
    for file in _files():
        loaded = load_file(file)
        if not loaded.ok:
            continue  # invalid YAML is the loader's business, not this test's
        count, diags = _check(loaded)
        total += count
        expected = EXPECTED_ERRORS.get(file.name)
        if expected is not None:
            code, message, line = expected
            assert [(d.code, d.span.line if d.span else None) for d in diags] == [(code, line)]
            assert diags[0].message.startswith(message)
            continue
        unexpected.extend(f"{d.span}: {d.code} {d.message}" for d in diags)
    assert not unexpected, "\n".join(unexpected)
    assert total > 3000  # the walk really found the corpus's expressions
