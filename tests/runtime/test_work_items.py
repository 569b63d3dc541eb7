"""Map input: reading items from files and commands, and the selection pipeline's order."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from prodigy.compiler.expressions import parse_filter, parse_sort
from prodigy.runtime.expr import render_template
from prodigy.runtime.loops.work_items import (
    ItemPipeline,
    LineItem,
    WorkItemError,
    item_variables,
    parse_command_output,
    read_input,
    select,
)

ENV = dict(os.environ)


def test_json_file_relative_to_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text(json.dumps({"debt_items": [{"a": 1}]}))
    assert read_input("items.json", tmp_path, ENV) == {"debt_items": [{"a": 1}]}


def test_invalid_json_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text("{nope")
    with pytest.raises(WorkItemError, match="not a JSON file"):
        read_input("items.json", tmp_path, ENV)


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ('[{"a": 1}, {"a": 2}]', [{"a": 1}, {"a": 2}]),
        ('{"a": 1}\n{"a": 2}\n', [{"a": 1}, {"a": 2}]),
        ("src/a.py\n\nsrc/b.py\n", [{"item": "src/a.py"}, {"item": "src/b.py"}]),
        ("", []),
    ],
    ids=["whole-json", "json-lines", "plain-lines", "empty"],
)
def test_command_output_forms(stdout: str, expected: list[object]) -> None:
    assert parse_command_output(stdout) == expected


def test_failing_command_names_its_exit_code(tmp_path: Path) -> None:
    with pytest.raises(WorkItemError, match="exit code 3"):
        read_input("echo oops >&2; exit 3", tmp_path, ENV)


def test_pipeline_order_json_path_filter_sort_distinct_offset_limit() -> None:
    data = {"items": [
        {"name": "a", "p": 1, "kind": "x"}, {"name": "b", "p": 9, "kind": "x"},
        {"name": "c", "p": 7, "kind": "y"}, {"name": "d", "p": 8, "kind": "y"},
        {"name": "e", "p": 3, "kind": "z"}, {"name": "f", "p": 6, "kind": "z"},
    ]}
    keep, _ = parse_filter("p > 2")
    order, _ = parse_sort("p DESC")
    pipeline = ItemPipeline(json_path="$.items[*]", filter=keep, sort=order, distinct="kind",
                            offset=1, max_items=1)
    # filtered: b9 c7 d8 e3 f6 -> sorted: b9 d8 c7 f6 e3 -> distinct kind: b d f -> offset 1: d f
    assert [item["name"] for item in select(data, pipeline)] == ["d"]


def test_line_items_render_as_text_and_keep_upstreams_item_item() -> None:
    item = parse_command_output("src/a.py\n")[0]
    assert isinstance(item, LineItem)
    scope = item_variables(item, 0, 1)
    from prodigy.compiler.expressions import parse_template

    tpl, _ = parse_template("lint ${item} / ${item.item} / ${item_id} of ${item_total}")
    assert tpl is not None
    assert render_template(tpl, scope) == "lint src/a.py / src/a.py / item_0 of 1"


def test_object_items_keep_their_types() -> None:
    scope = item_variables({"loc": {"file": "a.rs", "line": 3}, "n": 5}, 2, 10)
    assert scope["item"]["loc"]["line"] == 3
    assert scope["item_json"] == '{"loc":{"file":"a.rs","line":3},"n":5}'
    assert scope["item_index"] == 2
