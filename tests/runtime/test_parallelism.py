"""How many agents a map runs at once, and what it says about it: `max_parallel` unless a
smaller `--jobs` is given (the default is not a cap), the console's `N at a time` is what
runs, and an item's duration is its own, not time spent waiting for a slot."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from prodigy.runtime.execute import default_jobs
from prodigy.runtime.store import RunStatus

pytestmark = pytest.mark.process

WF = """\
name: p
mode: mapreduce
map:
  input: items.json
  max_parallel: {parallel}
  agent_template:
    - shell: "date +%s.%N > ${{item}}.start; {meet}; sleep {linger}; date +%s.%N > ${{item}}.end"
reduce:
  - shell: "cp ${{map.results_file}} results.json"
"""


# An agent waits (10 s at most) until `n` agents have started, rather than sleeping long enough
# that they overlap on a loaded machine: fast, and the overlap is certain.
MEET = "for k in $(seq 500); do [ $(ls *.start | wc -l) -ge {n} ] && break; sleep 0.02; done"


def compile_map(tmp_path: Path, parallel: int, items: int, meet: int, linger: float = 0) -> Any:
    from prodigy.compiler.pipeline import compile_file

    (tmp_path / "items.json").write_text(json.dumps([f"i{n}" for n in range(items)]))
    (tmp_path / "wf.yml").write_text(WF.format(parallel=parallel, meet=MEET.format(n=meet),
                                               linger=linger))
    return compile_file(str(tmp_path / "wf.yml"))


def most_at_once(tmp_path: Path, items: int) -> int:
    spans = [(float((tmp_path / f"i{n}.start").read_text()),
              float((tmp_path / f"i{n}.end").read_text())) for n in range(items)]
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


def test_the_default_jobs_do_not_cap_max_parallel(run_plan: Any, tmp_path: Path) -> None:
    parallel = (os.cpu_count() or 1) + 2  # more agents than CPUs: they wait on a model
    plan = compile_map(tmp_path, parallel, parallel, meet=parallel)
    assert default_jobs(plan) == parallel
    outcome, events, _ = run_plan(plan, executor="local", jobs=None)
    assert outcome.status is RunStatus.SUCCEEDED
    assert most_at_once(tmp_path, parallel) == parallel
    [started] = [e for e in events if e["event"] == "loop_started"]
    assert started["window"] == parallel and "asked" not in started
    assert [e["jobs"] for e in events if e["event"] == "run_started"] == [parallel]


def test_a_smaller_jobs_caps_it_and_the_console_says_so(run_plan: Any, tmp_path: Path) -> None:
    from prodigy.runtime.report_lines import event_line

    # Two meet, then stay 0.3 s: time enough for a third to start if the cap let it.
    plan = compile_map(tmp_path, 3, 3, meet=2, linger=0.3)
    outcome, events, _ = run_plan(plan, executor="local", jobs=2)
    assert outcome.status is RunStatus.SUCCEEDED
    assert most_at_once(tmp_path, 3) == 2  # what it claims below is what ran
    [started] = [e for e in events if e["event"] == "loop_started"]
    assert (started["window"], started["asked"], started["jobs"]) == (2, 3, 2)
    assert event_line(started) == "map      map: items.json: 3 items, 2 at a time " \
        "(it asks for 3; --jobs 2)"


def test_an_items_duration_leaves_out_its_wait_for_a_slot(run_plan: Any,
                                                          tmp_path: Path) -> None:
    """The map starts beside a 1-second step with one slot: its agent's command waits in the
    executor's queue, and that wait is not the item's."""
    from prodigy.runtime.plan import Plan

    (tmp_path / "items.json").write_text('["a"]')
    (tmp_path / "wf.yml").write_text("""\
name: q
mode: mapreduce
setup:
  - shell: "sleep 1"
map:
  input: items.json
  agent_template:
    - shell: "true"
reduce:
  - shell: "cp ${map.results_file} results.json"
""")
    from prodigy.compiler.pipeline import compile_file

    data = compile_file(str(tmp_path / "wf.yml")).to_json()
    data["edges"] = [e for e in data["edges"] if e["to"] != "map"]  # map beside setup
    outcome, _, _ = run_plan(Plan.from_json(data), executor="local", jobs=1)
    assert outcome.status is RunStatus.SUCCEEDED and outcome.duration >= 1
    [result] = json.loads((tmp_path / "results.json").read_text())
    assert result["duration"] < 0.5
