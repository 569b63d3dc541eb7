"""A document with too many values is reported as too large (P106, naming the bound), on
both roads, never as an alias problem (P104); aliases that expand too far still are P104."""

from __future__ import annotations

import pytest

from prodigy.compiler import source, source_events
from prodigy.compiler.source import load_text, load_text_carefully


@pytest.fixture(autouse=True)
def small_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_events, "MAX_NODES", 1000)
    monkeypatch.setattr(source, "MAX_NODES", 1000)


BIG = "commands:\n  - shell: x\nitems: [" + "1," * 1200 + "]\n"


@pytest.mark.parametrize("load", [load_text, load_text_carefully], ids=["fast", "careful"])
def test_a_big_flow_document_is_too_large(load: object) -> None:
    loaded = load(BIG, "w.yml")  # type: ignore[operator]
    assert [d.code for d in loaded.diagnostics] == ["P106"]
    assert "more than 1,000 values" in loaded.diagnostics[0].message
    assert loaded.diagnostics[0].span.line == 3


def test_an_anchor_does_not_turn_size_into_an_alias_problem() -> None:
    loaded = load_text("a: &x 1\nb: *x\nitems: [" + "1," * 1200 + "]\n", "w.yml")
    assert [d.code for d in loaded.diagnostics] == ["P106"]


def test_aliases_that_expand_too_far_are_still_p104() -> None:
    laughs = "a: &a [" + "x," * 20 + "]\nb: &b [" + "*a," * 20 + "]\nc: [" + "*b," * 20 + "]\n"
    assert [d.code for d in load_text(laughs, "w.yml").diagnostics] == ["P104"]
