"""DLQ entries, the results spool, and the small pieces around them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prodigy.runtime.loops.dlq import error_type, index_of, make_entry, signature
from prodigy.runtime.loops.workdir import agent_dir
from prodigy.runtime.map_results import ResultSpool, inject, reads_results
from prodigy.runtime.nodes import params_from_json
from prodigy.runtime.ops.verify import satisfied


def entry(previous: dict | None = None, message: str = "exit code 2", **kw: object) -> dict:
    args = {"run_id": "r", "loop": "map", "index": 4, "item": {"p": 1}, "item_label": "item_4",
            "message": message, "timed_out": False, "exit_code": 2, "node": "map.agent.0",
            "label": "shell: x", "attempts": 1, "output": "o" * 5000, "stderr": "boom",
            "log": "/l", "started_at": 1.0, "duration": 2.5, "now": 10.0}
    args.update(kw)
    return make_entry(previous, **args)  # type: ignore[arg-type]


def test_an_entry_and_a_second_failure_of_the_same_item() -> None:
    first = entry()
    assert first["item_id"] == "item_4" and first["failure_count"] == 1
    assert len(first["output_tail"]) == 4096 and first["error_type"] == "command_failed"
    assert not first["reprocess_eligible"] and first["first_failure_at"] == 10.0
    again = entry(first, "connection reset by peer", now=20.0)
    assert again["failure_count"] == 2 and again["first_failure_at"] == 10.0
    assert again["last_failure_at"] == 20.0 and again["reprocess_eligible"]
    assert [h["error"] for h in again["history"]] == ["exit code 2", "connection reset by peer"]
    json.dumps(again)  # plain JSON


@pytest.mark.parametrize(("message", "timed_out", "code", "kind"), [
    ("timed out after 5 seconds", True, -1, "timeout"),
    ("step 'x' has commit_required but created no commits", False, 0, "commit_required"),
    ("capture 'v': stdout is not JSON", False, 0, "capture"),
    ("exit code 3", False, 3, "command_failed"),
    ("cannot prepare shell params", False, None, "unknown"),
])
def test_error_types(message: str, timed_out: bool, code: int | None, kind: str) -> None:
    assert error_type(message, timed_out, code) == kind


def test_signatures_group_messages_that_differ_only_in_numbers() -> None:
    assert signature("exit code 2 at line 10") == signature("exit code 3 at line 99")
    assert signature("exit code 2") != signature("timed out")
    assert index_of("item_12") == 12 and index_of("7") == 7 and index_of("x") is None


def test_the_spool_writes_results_in_item_order(tmp_path: Path) -> None:
    spool = ResultSpool(tmp_path / "map" / "results.json")
    for index in (3, 0, 2):
        spool.add(index, {"item_id": f"item_{index}", "text": "ü"})
    path = spool.finish()
    assert [r["item_id"] for r in json.loads(path.read_text())] == ["item_0", "item_2",
                                                                    "item_3"]
    assert not spool.path.exists()
    assert json.loads(ResultSpool(tmp_path / "empty.json").finish().read_text()) == []


def test_map_results_are_loaded_only_for_nodes_that_read_them(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text('[{"item_id": "item_0"}]')
    reads = params_from_json("shell", {"command": ["tpl", "echo ", ["var", ["map", "results"]]]})
    other = params_from_json("shell", {"command": ["tpl", ["var", ["map", "results_file"]]]})
    assert reads_results("f1", reads) and not reads_results("f2", other)
    scope: dict = {"map.results_file": str(tmp_path / "r.json")}
    inject(scope, "f2", other)
    assert "map.results" not in scope
    inject(scope, "f1", reads)
    assert scope["map.results"] == [{"item_id": "item_0"}]
    with pytest.raises(ValueError, match="cannot read"):
        inject({"map.results_file": str(tmp_path / "gone.json")}, "f1", reads)


def test_verify_criteria() -> None:
    assert satisfied("all", 2, 2, None) and not satisfied("all", 1, 2, None)
    assert satisfied("any", 1, 3, None) and not satisfied("any", 0, 3, None)
    assert satisfied("at_least", 2, 3, 2) and not satisfied("at_least", 1, 3, 2)


def test_agents_work_in_the_run_directory_for_now(tmp_path: Path) -> None:
    workdir = agent_dir(tmp_path, "item_0")
    assert workdir.path == tmp_path and not workdir.exclusive
    workdir.cleanup()
    assert tmp_path.exists()
