"""The pure scheduler, driven by hand: no processes, no clock, no store."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from prodigy.runtime.scheduler import Graph, NodeState, Reason, Scheduler

from .conftest import build_plan, chain, sh

S = NodeState


def sched(nodes: list[Any], edges: list[Any]) -> Scheduler:
    return Scheduler(Graph.from_plan(build_plan(nodes, edges)))


def handler(node_id: str, **params: Any) -> tuple[str, str, dict[str, Any]]:
    return (node_id, "handler", params)


def gate(node_id: str) -> tuple[str, str, dict[str, Any]]:
    return (node_id, "gate", {"when": ["lit", True]})


def drain(s: Scheduler, fail: dict[str, int] | None = None) -> list[str]:
    """Run everything to the end: nodes in `fail` fail with that exit code, others succeed."""
    order = []
    fail = fail or {}
    while s.has_ready():
        for node in s.pop_ready():
            order.append(node)
            if node in fail:
                s.fail(node, exit_code=fail[node])
            else:
                s.succeed(node)
    assert s.finished and not s.leftovers()
    return order


def test_chain_runs_in_order_one_at_a_time() -> None:
    s = sched([sh("a", "x"), sh("b", "x"), sh("c", "x")], chain("a", "b", "c"))
    assert s.pop_ready() == ["a"]
    assert s.pop_ready() == []
    s.succeed("a")
    assert s.pop_ready() == ["b"]
    s.succeed("b")
    assert s.pop_ready() == ["c"]
    s.succeed("c")
    assert s.finished and all(v is S.SUCCEEDED for v in s.state.values())


def test_fan_out_respects_the_limit_and_joins() -> None:
    s = sched([sh(n, "x") for n in "abcd"],
              [("a", "b", "sequence"), ("a", "c", "sequence"), ("b", "d", "data"),
               ("c", "d", "sequence")])
    s.succeed(s.pop_ready()[0])
    assert s.pop_ready(1) == ["b"]
    assert s.pop_ready(1) == ["c"]
    s.succeed("b")
    assert not s.has_ready()  # d still waits for c
    s.succeed("c")
    assert s.pop_ready() == ["d"]


def test_duplicate_edges_are_one_dependency() -> None:
    s = sched([sh("a", "x"), sh("b", "x")], [("a", "b", "data"), ("a", "b", "sequence")])
    assert drain(s) == ["a", "b"]


def test_unhandled_failure_skips_descendants_and_stops_the_rest() -> None:
    s = sched([sh("a", "x"), sh("b", "x"), sh("c", "x"), sh("x", "x")], chain("a", "b", "c"))
    assert s.pop_ready(1) == ["a"]
    assert s.fail("a", exit_code=1) is S.FAILED
    assert s.failed
    assert (s.state["b"], s.reason["b"], s.cause["b"]) == (S.SKIPPED, Reason.UPSTREAM_FAILED, "a")
    assert s.state["c"] is S.SKIPPED and s.cause["c"] == "a"
    # x is independent but was never started: nothing new starts after a failure.
    assert (s.state["x"], s.reason["x"]) == (S.SKIPPED, Reason.RUN_FAILED)
    assert s.finished and not s.leftovers()


def test_running_nodes_finish_after_a_failure_elsewhere() -> None:
    s = sched([sh("a", "x"), sh("b", "x"), sh("c", "x")], [("b", "c", "sequence")])
    assert s.pop_ready() == ["a", "b"]
    s.fail("a", exit_code=1)
    assert not s.finished
    s.succeed("b")
    assert s.state["c"] is S.SKIPPED and s.finished


def test_closed_gate_skips_the_guarded_node_which_resolves_for_successors() -> None:
    s = sched([gate("g"), sh("n", "x"), sh("m", "x")],
              [("g", "n", "gate"), ("g", "n", "sequence"), ("n", "m", "sequence")])
    assert s.pop_ready() == ["g"]
    s.succeed("g", gate_open=False)
    assert (s.state["n"], s.reason["n"], s.cause["n"]) == (S.SKIPPED, Reason.GATE_CLOSED, "g")
    assert s.pop_ready() == ["m"]


def test_open_gate_lets_the_node_run() -> None:
    s = sched([gate("g"), sh("n", "x")], [("g", "n", "gate")])
    s.succeed(s.pop_ready()[0], gate_open=True)
    assert s.pop_ready() == ["n"]


HANDLED_PLAN = ([sh("n", "x"), handler("h", max_attempts=1), sh("b", "x"), sh("s", "x")],
                [("n", "h", "on_failure"), ("h", "b", "sequence"), ("n", "s", "sequence")])


def test_handler_runs_its_body_then_the_node_is_handled() -> None:
    s = sched(*HANDLED_PLAN)
    order = drain(s, fail={"n": 1})
    assert order == ["n", "h", "b", "s"]
    assert s.state["n"] is S.HANDLED and not s.failed


def test_handler_not_needed_is_not_run() -> None:
    s = sched(*HANDLED_PLAN)
    assert drain(s) == ["n", "s"]
    assert s.state["h"] is S.NOT_RUN and s.state["b"] is S.NOT_RUN
    assert s.reason["b"] is Reason.HANDLER_NOT_NEEDED


def test_reusing_a_handled_node_does_not_start_its_body() -> None:
    s = sched(*HANDLED_PLAN)
    assert s.pop_ready() == ["n"]
    s.reuse("n", handled=True)
    assert s.pop_ready() == ["s"]
    assert s.state["b"] is S.NOT_RUN


def test_max_attempts_counts_every_run_of_the_original_with_handlers_between() -> None:
    nodes, edges = HANDLED_PLAN
    s = sched([sh("n", "x"), handler("h", max_attempts=3), *nodes[2:]], edges)
    order = drain(s, fail={"n": 1})
    # Upstream's retry loop: 3 attempts, the handler between them (twice), not after the last.
    assert order == ["n", "h", "b", "n", "h", "b", "n", "s"]
    assert s.attempts["n"] == 3 and s.state["n"] is S.HANDLED
    assert s.reason["n"] is Reason.ATTEMPTS_EXHAUSTED and s.cause["n"] == "h"


def test_a_handler_of_a_step_without_retries_runs_once() -> None:
    nodes, edges = HANDLED_PLAN
    s = sched([sh("n", "x"), handler("h", max_attempts=1), *nodes[2:]], edges)
    assert drain(s, fail={"n": 1}) == ["n", "h", "b", "s"]
    assert s.attempts["n"] == 1 and s.state["n"] is S.HANDLED


def test_second_attempt_succeeds_after_the_handler() -> None:
    nodes, edges = HANDLED_PLAN
    s = sched([sh("n", "x"), handler("h", max_attempts=3), *nodes[2:]], edges)
    s.pop_ready()
    s.fail("n", exit_code=1)
    s.succeed(s.pop_ready()[0])  # h
    s.succeed(s.pop_ready()[0])  # b
    assert s.pop_ready() == ["n"]
    s.succeed("n")
    assert s.state["n"] is S.SUCCEEDED and s.pop_ready() == ["s"]


def test_fail_workflow_fails_the_run_once_attempts_are_exhausted() -> None:
    nodes, edges = HANDLED_PLAN
    s = sched([sh("n", "x"), handler("h", max_attempts=2, fail_workflow=True), *nodes[2:]],
              edges)
    order = drain(s, fail={"n": 1})
    assert order == ["n", "h", "b", "n"]  # no handler after the last attempt
    assert s.failed and s.reason["n"] is Reason.ATTEMPTS_EXHAUSTED
    assert s.state["s"] is S.SKIPPED and s.cause["s"] == "n"


def test_a_failing_handler_body_is_tolerated_by_default() -> None:
    s = sched([sh("n", "x"), handler("h"), sh("b1", "x"), sh("b2", "x"), sh("s", "x")],
              [("n", "h", "on_failure"), *chain("h", "b1", "b2"), ("n", "s", "sequence")])
    order = drain(s, fail={"n": 1, "b1": 1})
    assert order == ["n", "h", "b1", "s"]
    assert (s.state["b1"], s.reason["b1"]) == (S.FAILED, Reason.TOLERATED)
    assert s.state["b2"] is S.SKIPPED and s.state["n"] is S.HANDLED and not s.failed


def test_handler_failure_fatal_fails_the_run() -> None:
    s = sched([sh("n", "x"), handler("h", handler_failure_fatal=True), sh("b", "x"),
               sh("s", "x")],
              [("n", "h", "on_failure"), ("h", "b", "sequence"), ("n", "s", "sequence")])
    drain(s, fail={"n": 1, "b": 1})
    assert s.failed
    assert (s.state["n"], s.reason["n"], s.cause["n"]) == (S.FAILED, Reason.HANDLER_FAILED, "b")
    assert s.state["s"] is S.SKIPPED


def test_on_success_body_runs_only_on_success() -> None:
    nodes = [sh("n", "x"), sh("ok", "x"), sh("ok2", "x")]
    edges = [("n", "ok", "on_success"), ("ok", "ok2", "sequence")]
    assert drain(sched(nodes, edges)) == ["n", "ok", "ok2"]
    s = sched([*nodes, handler("h"), sh("b", "x")],
              [*edges, ("n", "h", "on_failure"), ("h", "b", "sequence")])
    assert drain(s, fail={"n": 1}) == ["n", "h", "b"]
    assert s.state["ok"] is S.NOT_RUN and s.reason["ok2"] is Reason.ON_SUCCESS_NOT_NEEDED


def test_on_exit_code_body_runs_but_does_not_handle_the_failure() -> None:
    nodes = [sh("n", "x", on_exit_code={"2": "e2", "3": "e3"}), sh("e2", "x"), sh("e3", "x"),
             sh("s", "x")]
    edges = [("n", "e2", "on_exit_code"), ("n", "e3", "on_exit_code"), ("n", "s", "sequence")]
    s = sched(nodes, edges)
    order = drain(s, fail={"n": 2})
    assert order == ["n", "e2"]  # the matching body still runs, as upstream does
    assert s.failed and s.state["e3"] is S.NOT_RUN and s.state["s"] is S.SKIPPED


def test_on_exit_code_zero_runs_on_success() -> None:
    s = sched([sh("n", "x", on_exit_code={"0": "e0"}), sh("e0", "x")],
              [("n", "e0", "on_exit_code")])
    assert drain(s) == ["n", "e0"]


def test_data_successor_of_a_body_that_did_not_run_still_runs() -> None:
    s = sched([sh("n", "x"), handler("h"), sh("b", "x"), sh("later", "x")],
              [("n", "h", "on_failure"), ("h", "b", "sequence"), ("n", "later", "sequence"),
               ("b", "later", "data")])
    assert drain(s) == ["n", "later"]


def test_interrupt_marks_running_and_unstarted_nodes() -> None:
    s = sched([sh("a", "x"), sh("b", "x"), sh("c", "x")], [("a", "c", "sequence")])
    assert s.pop_ready() == ["a", "b"]
    s.succeed("b")
    s.stop(Reason.INTERRUPTED)
    assert (s.state["c"], s.reason["c"]) == (S.SKIPPED, Reason.INTERRUPTED)
    s.interrupt("a")
    assert s.state["a"] is S.INTERRUPTED and s.finished and not s.leftovers()


def test_interrupt_during_a_handler_cycle_ends_the_owner() -> None:
    s = sched(*HANDLED_PLAN)
    s.pop_ready()
    s.fail("n", exit_code=1)
    assert s.pop_ready() == ["h"]
    s.stop(Reason.INTERRUPTED)
    s.interrupt("h")
    assert s.state["n"] is S.INTERRUPTED and not s.leftovers()


@st.composite
def dags(draw: Any) -> tuple[list[Any], list[Any], set[str]]:
    count = draw(st.integers(1, 12))
    ids = [f"n{i}" for i in range(count)]
    edges = []
    for j in range(1, count):
        for i in draw(st.sets(st.integers(0, j - 1), max_size=3)):
            edges.append((ids[i], ids[j], draw(st.sampled_from(["sequence", "data"]))))
    failing = draw(st.sets(st.sampled_from(ids), max_size=2))
    return [sh(i, "x") for i in ids], edges, failing


@settings(max_examples=150, deadline=None)
@given(dags(), st.integers(1, 3))
def test_any_dag_terminates_and_respects_dependencies(case: Any, limit: int) -> None:
    nodes, edges, failing = case
    s = sched(nodes, edges)
    deps: dict[str, set[str]] = {n[0]: set() for n in nodes}
    for src, dst, _ in edges:
        deps[dst].add(src)
    started: list[str] = []
    while s.has_ready():
        for node in s.pop_ready(limit):
            assert all(s.state[d] is S.SUCCEEDED for d in deps[node])
            started.append(node)
            s.fail(node, exit_code=1) if node in failing else s.succeed(node)
    assert s.finished and not s.leftovers()
    assert len(started) == len(set(started))
    assert s.failed == bool(failing & set(started))
    if not s.failed:
        assert len(started) == len(nodes)


# --- pools: the copies of a one-step literal foreach -----------------------------------------


def pool(size: int, limit: int) -> Scheduler:
    copies = [sh(f"i{n}", "x", pool="loop") for n in range(size)]
    barrier = ("loop", "barrier", {"closes": "foreach", "limit": limit})
    edges = [(c[0], "loop", "sequence") for c in copies]
    return sched([*copies, barrier, sh("after", "x")], [*edges, ("loop", "after", "sequence")])


def test_a_pool_hands_out_at_most_its_limit() -> None:
    s = pool(5, 2)
    assert s.pop_ready() == ["i0", "i1"]
    assert not s.has_ready() and not s.finished
    s.succeed("i0")
    assert s.pop_ready() == ["i2"]
    s.fail("i1", exit_code=1)  # a failure frees its place too (and here stops the plan)
    assert s.pop_ready() == [] and s.state["i3"] is S.SKIPPED
    s.succeed("i2")
    assert s.finished and not s.leftovers()


def test_a_pool_s_allowance_lets_more_out_ahead() -> None:
    s = pool(6, 2)
    s.allowance["loop"] = 4
    assert s.pop_ready() == ["i0", "i1", "i2", "i3"]
    assert s.pop_ready(1) == []
    s.succeed("i0")
    assert s.pop_ready() == ["i4"]


def test_a_pool_node_requeued_runs_again_and_one_dropped_ends_skipped() -> None:
    s = pool(3, 3)
    assert s.pop_ready() == ["i0", "i1", "i2"]
    s.requeue("i1")  # its command was lost with the spawner
    assert s.state["i1"] is S.READY and s.attempts["i1"] == 0
    assert s.pop_ready() == ["i1"] and s.attempts["i1"] == 1
    s.fail("i0", exit_code=1)
    s.drop("i1")  # the executor gave it back unstarted after the failure
    assert (s.state["i1"], s.reason["i1"]) == (S.SKIPPED, Reason.RUN_FAILED)
    s.succeed("i2")
    assert s.finished and not s.leftovers() and s.state["after"] is S.SKIPPED


def test_a_copy_dropped_in_a_draining_body_still_lets_its_barrier_run() -> None:
    # A body chosen by an exit code runs on after the failure stopped the plan; a copy the
    # executor gave back unstarted resolves (skipped), so the rest of the body completes.
    copies = [sh(f"i{n}", "x", pool="loop") for n in range(3)]
    nodes = [sh("a", "exit 3", on_exit_code={"3": "b"}), sh("b", "x"), *copies,
             ("loop", "barrier", {"closes": "foreach", "limit": 2}), sh("c", "x")]
    edges = [("a", "b", "on_exit_code"), *[("b", c[0], "sequence") for c in copies],
             *[(c[0], "loop", "sequence") for c in copies], ("loop", "c", "sequence")]
    s = sched(nodes, edges)
    assert s.pop_ready() == ["a"]
    s.fail("a", exit_code=3)
    assert s.pop_ready() == ["b"]
    s.succeed("b")
    assert s.pop_ready() == ["i0", "i1"]
    s.drop("i0")
    s.succeed("i1")
    assert s.pop_ready() == ["i2"]
    s.succeed("i2")
    assert s.pop_ready() == ["loop"]
    s.succeed("loop")
    assert s.pop_ready() == ["c"]  # the body's last step
    s.succeed("c")
    assert s.finished and not s.leftovers() and s.failed


def test_drained_pool_runs_every_copy_then_the_barrier() -> None:
    order = drain(pool(7, 3))
    assert order[:7] == [f"i{n}" for n in range(7)] and order[7:] == ["loop", "after"]


def test_a_pool_naming_no_limited_barrier_is_a_plan_error() -> None:
    import pytest

    from prodigy.runtime.errors import PlanError

    with pytest.raises(PlanError, match="pool 'nowhere'"):
        sched([sh("a", "x", pool="nowhere")], [])
