"""Lowering: graph structure per feature, plus the golden plans in tests/fixtures/lower/.

Golden pairs: `<feature>.yml` compiles to exactly `<feature>.plan.json` (byte for byte).
`UPDATE_GOLDEN=1 pytest tests -k golden` rewrites them (`make golden`); review the diff.
"""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from prodigy.compiler.pipeline import compile_file
from prodigy.runtime.nodes import ShellParams
from prodigy.runtime.plan import EdgeKind, JsonLines, Plan, fingerprint, loads
from prodigy.runtime.policies import CircuitBreakerPolicy, ErrorPolicy, RetryPolicy

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "lower"


def _golden_inputs() -> list[Path]:
    return sorted(GOLDEN.glob("*.yml"))


@pytest.mark.parametrize("source", _golden_inputs(), ids=lambda p: p.stem)
def test_golden_plan(source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Plans record the source path as given and spans name it: compile with a path relative
    # to the repository so the golden files do not depend on where the checkout lives.
    monkeypatch.chdir(ROOT)
    relative = source.relative_to(ROOT).as_posix()
    text = compile_file(relative, args={"ARG": "42"}).dumps()
    expected = source.with_suffix(".plan.json")
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(text, encoding="utf-8")
    assert expected.exists(), f"run UPDATE_GOLDEN=1 to create {expected.name}"
    assert text == expected.read_text(encoding="utf-8")


def test_every_golden_input_has_a_title() -> None:
    for source in _golden_inputs():
        assert source.read_text(encoding="utf-8").startswith("# title: "), source.name


# ---------------------------------------------------------------------------- structure


def plan_of(tmp_path: Path, text: str, **kwargs: object) -> Plan:
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return compile_file(str(path), **kwargs)  # type: ignore[arg-type]


def edges(plan: Plan) -> set[tuple[str, str, str]]:
    return {(e.src, e.dst, e.kind.value) for e in plan.edges}


def kinds(plan: Plan) -> dict[str, str]:
    return {n.id: n.kind for n in plan.nodes}


def test_sequence_ids_and_order(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "\n".join(f"- shell: 'echo {i}'" for i in range(12)))
    assert [n.id for n in plan.nodes] == [f"main.{i}" for i in range(12)]
    assert ("main.9", "main.10", "sequence") in edges(plan)


def test_gate_guards_the_whole_main_path(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        - shell: a
          capture: x
        - shell: b
          when: "${x} == 'yes'"
          analysis: {max_cache_age: 1}
          validate: {shell: c}
          step_validate: d
          on_failure: {shell: e}
        """)
    found = edges(plan)
    for guarded in ("main.1.analysis", "main.1", "main.1.validate", "main.1.verify"):
        assert ("main.1.when", guarded, "gate") in found
    assert ("main.0", "main.1.when", "data") in found
    assert ("main.1.when", "main.1.on_failure", "gate") not in found
    assert plan.node("main.1.when").params.when == ("==", ("ref", ("x",)), ("lit", "yes"))  # type: ignore[attr-defined]


def test_handler_policy_and_body(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        - shell: a
          on_failure: {claude: "/fix ${shell.output}", max_attempts: 3}
        - shell: b
        """)
    handler = plan.node("main.0.on_failure")
    assert handler.kind == "handler"
    assert (handler.params.max_attempts, handler.params.fail_workflow) == (3, False)  # type: ignore[attr-defined]
    found = edges(plan)
    assert ("main.0", "main.0.on_failure", "on_failure") in found
    assert ("main.0.on_failure", "main.0.on_failure.0", "sequence") in found
    assert ("main.0", "main.1", "sequence") in found
    # the body reads its owner's output without a DATA edge (it runs inside the owner)
    assert not any(e[1] == "main.0.on_failure.0" and e[2] == "data" for e in found)
    assert not any(e[0].startswith("main.0.on_failure") and e[1] == "main.1" for e in found)


def test_exit_code_bodies(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "- shell: a\n  on_exit_code:\n    3: {shell: b}\n    4: {shell: c}\n")
    assert plan.node("main.0").params.on_exit_code == {  # type: ignore[attr-defined]
        "3": "main.0.on_exit_code.3.0", "4": "main.0.on_exit_code.4.0"}
    assert ("main.0", "main.0.on_exit_code.3.0", "on_exit_code") in edges(plan)


def test_literal_foreach_expands_in_lanes(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        - foreach:
            foreach: [a, b, c, d, e]
            parallel: 2
            do:
              - shell: "echo ${item}"
              - shell: "echo ${index} of ${total}"
        """)
    items = [n for n in plan.nodes if ".item." in n.id]
    assert len(items) == 10
    assert plan.node("main.0.item.3.1").params.bindings == {  # type: ignore[attr-defined]
        "item": "d", "index": 3, "total": 5}
    found = edges(plan)
    assert ("main.0.item.0.1", "main.0.item.2.0", "sequence") in found  # lane 0
    assert ("main.0.item.1.1", "main.0.item.3.0", "sequence") in found  # lane 1
    assert {e[0] for e in found if e[1] == "main.0"} == {"main.0.item.3.1", "main.0.item.4.1"}
    assert plan.node("main.0").kind == "barrier"
    # every copy shares the body's encoded template and has its own fingerprint
    commands = {id(n.params.command) for n in items if n.id.endswith(".0")}  # type: ignore[attr-defined]
    assert len(commands) == 1
    assert all(n.fingerprint == fingerprint(n.params) for n in plan.nodes)
    assert len({n.fingerprint for n in items}) == 10


def test_a_one_step_literal_foreach_is_a_pool(tmp_path: Path) -> None:
    # Copies of a one-node body hang off the loop's predecessors and name the barrier as
    # their pool; the barrier's limit is `parallel` (the run holds it, not lane edges).
    plan = plan_of(tmp_path, """
        - shell: "echo start"
        - foreach:
            foreach: [a, b, c, d, e]
            parallel: 2
            do:
              - shell: "echo ${item}"
        - shell: "echo end"
        """)
    copies = [n for n in plan.nodes if ".item." in n.id]
    assert [n.params.pool for n in copies] == ["main.1"] * 5
    assert plan.node("main.1").params.limit == 2  # type: ignore[attr-defined]
    found = edges(plan)
    assert {(e[0], e[1]) for e in found if e[1] in {n.id for n in copies}} == {
        ("main.0", n.id) for n in copies}
    assert {e[0] for e in found if e[1] == "main.1"} == {n.id for n in copies}
    # the pool is where, not what: a copy's fingerprint leaves it out
    assert all(n.fingerprint == fingerprint(n.params) for n in plan.nodes)
    bare = [replace(n.params, pool="") for n in copies]
    assert [fingerprint(p) for p in bare] == [n.fingerprint for n in copies]
    assert loads(plan.dumps()) == plan


def test_a_sequential_one_step_foreach_is_a_pool_of_one(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        - foreach: {foreach: [a, b, c], do: [{shell: "echo ${item}"}]}
        """)
    assert plan.node("main.0").params.limit == 1  # type: ignore[attr-defined]
    assert not [e for e in plan.edges if ".item." in e.src and ".item." in e.dst]


def test_a_foreach_entering_an_exit_code_body_keeps_its_lane_edges(tmp_path: Path) -> None:
    # The body's entry must be one node: a foreach that starts it stays chained, no pool.
    plan = plan_of(tmp_path, """
        - shell: "exit 3"
          on_exit_code:
            3:
              foreach: {foreach: [a, b, c], do: [{shell: "echo ${item}"}]}
        """)
    copies = [n for n in plan.nodes if ".item." in n.id]
    assert copies and not any(n.params.pool for n in copies)
    chained = {(e.src, e.dst) for e in plan.edges if ".item." in e.src and ".item." in e.dst}
    assert len(chained) == len(copies) - 1


def test_expanded_copies_write_exactly_the_lines_of_their_nodes(tmp_path: Path) -> None:
    # plan.json is written from the body's prototypes without building the copies; building
    # them (iterating plan.nodes) must give the same text, edges and fingerprints.
    plan = plan_of(tmp_path, """
        env:
          WHO: world
        commands:
          - shell: "echo before"
            capture_output: before
          - foreach:
              foreach: [a, "b \\"q\\"", "\u00fc", "x\\ty"]
              parallel: 3
              do:
                - shell: "echo ${item} ${WHO} ${ARG} ${before}"
                - shell: "echo ${foreach.index}"
                  on_exit_code:
                    3: {shell: "echo three ${item}"}
          - shell: "echo after"
        """, args={"ARG": "x"})
    materialised = Plan(plan.workflow, tuple(plan.nodes), tuple(plan.edges), plan.subplans)
    assert isinstance(plan.nodes, JsonLines) and isinstance(plan.edges, JsonLines)
    assert plan.dumps() == materialised.dumps()
    assert plan == materialised and materialised == plan
    assert all(n.fingerprint == fingerprint(n.params) for n in plan.nodes)
    assert [plan.nodes[i] for i in range(-len(plan.nodes), 0)] == list(plan.nodes)
    assert list(plan.edges[2:5]) == list(materialised.edges[2:5])
    assert loads(plan.dumps()) == plan
    assert len([n for n in plan.nodes if ".item." in n.id]) == 4 * 3


def test_a_run_reads_a_materialized_plan_equal_to_the_compiled_one(tmp_path: Path) -> None:
    # `execute` writes the lazy plan and runs its tuple form: built once, equal node by node.
    plan = plan_of(tmp_path, """
        - foreach: {foreach: [a, b, c], parallel: 2, do: [{shell: "echo ${item}"}]}
        - foreach:
            foreach: "ls"
            do:
              - foreach: {foreach: [x, y], do: [{shell: "echo ${item}"}]}
        """)
    assert isinstance(plan.nodes, JsonLines)
    ready = plan.materialized()
    assert type(ready.nodes) is tuple and type(ready.edges) is tuple
    assert all(type(sub.nodes) is tuple for sub in ready.subplans.values())
    assert ready == plan and ready.dumps() == plan.dumps()
    assert ready.materialized() is ready


def test_literal_foreach_with_step_options_stays_one_node(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        - foreach: {foreach: [a, b], do: [{shell: "echo ${item}"}]}
          on_failure: {shell: cleanup}
        """)
    node = plan.node("main.0")
    assert node.kind == "foreach" and node.params.items == ("a", "b")  # type: ignore[attr-defined]
    assert list(plan.subplans) == ["main.0.do"]
    assert [n.id for n in plan.subplans["main.0.do"].nodes] == ["main.0.do.0"]


def test_mapreduce_phases_and_barriers(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        name: m
        mode: mapreduce
        setup: [{shell: "date", capture: t}]
        map:
          input: "items-${t}.json"
          max_parallel: 2
          agent_template: [{shell: "echo ${item.a} ${t}"}]
        reduce: [{shell: "echo ${map.results}"}]
        merge: [{shell: "echo ${merge.source_branch}"}]
        """)
    assert [n.id for n in plan.nodes] == ["setup.0", "setup.done", "map", "map.done",
                                          "reduce.0", "reduce.done", "merge.0"]
    assert [n.phase for n in plan.nodes] == ["setup", "setup", "map", "map", "reduce",
                                             "reduce", "merge"]
    found = edges(plan)
    assert {("setup.0", "setup.done", "phase"), ("setup.done", "map", "phase"),
            ("map", "map.done", "phase"), ("map.done", "reduce.0", "phase"),
            ("setup.0", "map", "data"), ("map", "reduce.0", "data")} <= found
    agent = plan.subplans["map.agent"]
    assert [n.id for n in agent.nodes] == ["map.agent.0"]
    assert agent.nodes[0].phase == "map" and agent.edges == ()
    assert plan.node("map").params.agent == "map.agent"  # type: ignore[attr-defined]


def test_nested_subplans_live_with_their_owner(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        name: m
        mode: mapreduce
        map:
          input: x.json
          agent_template:
            - claude: /fix
              validate: {claude: /check, on_incomplete: {claude: "/more ${validation.gaps}"}}
        """)
    agent = plan.subplans["map.agent"]
    assert sorted(agent.subplans) == ["map.agent.0.validate.commands",
                                      "map.agent.0.validate.on_incomplete"]
    assert plan.workflow["mode"] == "mapreduce"
    assert agent.workflow == {"subplan": "map.agent", "owner": "map", "role": "agent"}


def test_args_are_bound_into_the_nodes_that_read_them(tmp_path: Path) -> None:
    text = "- claude: '/implement $ARG'\n- shell: 'echo static'\n"
    first = plan_of(tmp_path, text, args={"ARG": "1"})
    second = plan_of(tmp_path, text, args={"ARG": "2"})
    assert first.node("main.0").params.bindings == {"ARG": "1"}
    assert first.node("main.0").fingerprint != second.node("main.0").fingerprint
    assert first.node("main.1").fingerprint == second.node("main.1").fingerprint
    assert first.workflow["args"] == {"ARG": "1", "ARG_1": "1", "1": "1"}


def test_plan_never_holds_a_secret_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.setenv("GOLDEN_SECRET", "s3cr3t-value")
    plan = plan_of(tmp_path, """
        env: {TOKEN: {secret: true, value: "${GOLDEN_SECRET}"}}
        secrets: {API: GOLDEN_SECRET}
        commands: [{shell: "echo $TOKEN $API"}]
        """)
    text = plan.dumps()
    assert "s3cr3t-value" not in text
    assert plan.workflow["secrets"] == {"TOKEN": {"provider": "env", "key": "GOLDEN_SECRET"},
                                        "API": {"provider": "env", "key": "GOLDEN_SECRET"}}
    assert "TOKEN" not in plan.workflow["env"]


def test_plans_round_trip_and_are_deterministic(tmp_path: Path) -> None:
    for source in _golden_inputs():
        first = compile_file(str(source), args={"ARG": "x"})
        again = compile_file(str(source), args={"ARG": "x"})
        assert first.dumps() == again.dumps()
        assert loads(first.dumps()) == first


def test_plan_json_leaves_defaults_out_and_loading_fills_them_in(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        - shell: "true"
        - shell: "true"
        - shell: "make"
          timeout: 5
          on_failure: {shell: fix, max_attempts: 2}
        """)
    text = plan.dumps()
    rows = {row["id"]: row for row in json.loads(text)["nodes"]}
    assert rows["main.0"]["params"] == {"command": "true"}
    assert rows["main.2"]["params"] == {"command": "make", "timeout_s": 5}
    assert rows["main.2.on_failure"]["params"] == {"max_attempts": 2}
    again = loads(text)
    assert again == plan and again.dumps() == text
    assert again.node("main.0").params == ShellParams(command="true")
    assert all(n.fingerprint == fingerprint(n.params) for n in again.nodes)
    # Identical flat params are built once and shared (they are frozen).
    assert again.node("main.0").params is again.node("main.1").params


def test_the_plan_holds_the_policies_the_runtime_reads_back(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """
        name: mr
        mode: mapreduce
        map:
          input: x.json
          agent_template:
            - shell: b
              retry: {attempts: 4, backoff: {linear: {increment: 2s}}, retry_on: [network]}
        reduce: [{shell: c}]
        error_policy:
          on_item_failure: retry
          circuit_breaker: {failure_threshold: 2, timeout: 1m}
        """)
    agent = loads(plan.dumps()).subplans["map.agent"].nodes[0].params
    assert RetryPolicy.from_json(agent.retry) == RetryPolicy(  # type: ignore[attr-defined]
        attempts=4, backoff="linear", increment_s=2, retry_on=("network",))
    policy = ErrorPolicy.from_json(plan.workflow["error_policy"])
    assert policy == ErrorPolicy(on_item_failure="retry",
                                 circuit_breaker=CircuitBreakerPolicy(2, timeout_s=60))
    assert ErrorPolicy.from_json(plan.node("map").params.error_policy) == policy  # type: ignore[attr-defined]


def test_loading_keeps_numbers_of_different_types_apart() -> None:
    def node(node_id: str, threshold: object) -> dict[str, object]:
        params = {"threshold": threshold}
        return {"id": node_id, "kind": "validate", "phase": "main", "label": node_id,
                "span": None, "fingerprint": "0" * 64, "params": params}

    data = {"format_version": 2, "workflow": {}, "edges": [], "subplans": {},
            "nodes": [node("a", 100), node("b", 100.0), node("c", 100)]}
    plan = Plan.from_json(data)
    a, b, c = (n.params for n in plan.nodes)
    assert type(a.threshold) is int and type(b.threshold) is float  # type: ignore[attr-defined]
    assert a is c and a is not b
    assert [json.loads(n.line())["params"] for n in plan.nodes] == [{}, {"threshold": 100.0}, {}]


def test_edge_kinds_are_the_plan_contract() -> None:
    assert {k.value for k in EdgeKind} == {"sequence", "on_success", "on_failure",
                                           "on_exit_code", "data", "gate", "phase"}
