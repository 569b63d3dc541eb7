"""--param/--param-file and the inputs of `run --args/--map`, without running anything."""

from __future__ import annotations

from pathlib import Path

from prodigy.cli.common import parse_bindings
from prodigy.cli.main import build_parser
from prodigy.runtime.run_inputs import RunGroup, inputs_of, map_arg


def test_map_arg_is_the_stem_up_to_the_first_dash() -> None:
    assert map_arg("specs/65-foo-bar.md") == "65"
    assert map_arg("specs/plain.md") == "plain"
    assert map_arg("specs/-odd.md") == "-odd"


def test_inputs_are_args_then_files_numbered_from_one() -> None:
    found = inputs_of(["x"], ["s/1-a.md"])
    assert [(i.index, i.total, i.arg, i.path) for i in found] == [(1, 2, "x", None),
                                                                   (2, 2, "1", "s/1-a.md")]
    assert found[1].bindings() == {"ARG": "1", "INDEX": "2", "TOTAL": "2", "ARG_PATH": "s/1-a.md"}
    assert found[0].environment()["PRODIGY_ARG"] == "x"
    group = RunGroup("g", "wf.yml", "/tmp", found)
    assert RunGroup.from_json(group.to_json()) == group and group.run_id(found[1]) == "g-2"


def test_param_file_values_as_text_and_the_command_line_wins(tmp_path: Path) -> None:
    (tmp_path / "p.yml").write_text("n: 3\nok: true\nf: 1.5\nlist: [1, 2]\nwho: file\n")
    args = build_parser().parse_args(["run", "wf.yml", "--param-file", str(tmp_path / "p.yml"),
                                      "--param", "who=cli", "--arg", "x=1"])
    bound, errors = parse_bindings(args)
    assert errors == []
    assert bound == {"n": "3", "ok": "true", "f": "1.5", "list": "[1,2]", "who": "cli", "x": "1"}


def test_param_file_problems_are_errors(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text("[1, 2]")
    for path in (tmp_path / "list.json", tmp_path / "missing.json"):
        args = build_parser().parse_args(["validate", "wf.yml", "--param-file", str(path)])
        _, errors = parse_bindings(args)
        assert len(errors) == 1 and str(path) in errors[0]
