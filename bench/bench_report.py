"""`prodigy report` on a big map: time to write the page and its size, for a synthetic run of
N items (three claude steps each, 40 at a time, a failure every 50 items, with its DLQ-less
results file and a few `agent_tool_use` events per step, as a real log has).

    python bench/bench_report.py [--items 10000] [--repeat 3]

Goals (issue 20): a 1,000-item map's page under 2 MB; 10,000 items in under 2 s and 10 MB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from prodigy.runtime.html_report import write_report
from prodigy.runtime.store import RunRecord, RunStatus, StateDir

SLOTS = 40


def make_run(state: StateDir, items: int) -> RunRecord:
    start = 1_700_000_000.0
    end = start + (items // SLOTS + 1) * 60.0
    record = RunRecord(run_id="big", status=RunStatus.SUCCEEDED, workflow="big",
                       source="big.yml", cwd=str(state.root), created_at=start,
                       updated_at=end, pid=1, finished_at=end)
    state.write_run(record)
    lines = [{"ts": start, "event": "run_started", "attempt": 1},
             {"ts": start, "event": "node_started", "node": "map", "kind": "map",
              "label": "map: items.json"}]
    results = []
    for i in range(items):
        t = start + (i // SLOTS) * 60.0
        for k in range(3):
            base: dict[str, Any] = {"node": f"map[item_{i}]/map.agent.{k}", "kind": "claude",
                                    "label": f"claude: /fix step {k}", "item": f"item_{i}",
                                    "item_label": f"src/pkg/module_{i}.py"}
            lines.append({"ts": t + k * 20, "event": "node_started", **base,
                          "log": f"/state/runs/big/logs/map_item_{i}__map.agent.{k}.log"})
            lines += [{"ts": t + k * 20 + j, "event": "agent_tool_use", **base,
                       "tool": f"Edit src/pkg/module_{i}.py", "turn": j} for j in range(5)]
            failed = i % 50 == 0 and k == 2
            lines.append({"ts": t + k * 20 + 19, "event": "node_finished", **base,
                          "status": "failed" if failed else "succeeded",
                          "exit_code": int(failed), "cost_usd": 0.0123,
                          "tokens": {"input": 1200, "output": 300}, "turns": 5})
        results.append({"item_id": f"item_{i}", "index": i, "label": f"src/pkg/module_{i}.py",
                        "status": "failed" if i % 50 == 0 else "succeeded", "attempts": 1,
                        "duration": 59.0, "commits": ["a" * 40], "cost_usd": 0.0369,
                        "tokens": {"input": 3600, "output": 900}})
    lines.append({"ts": end, "event": "node_finished", "node": "map", "kind": "map",
                  "status": "succeeded"})
    lines.append({"ts": end, "event": "run_finished", "status": "succeeded",
                  "steps": {"succeeded": 1}, "items": {"succeeded": items - items // 50,
                                                       "failed": items // 50}})
    state.events_path("big").write_text("".join(json.dumps(e) + "\n" for e in lines))
    (state.run_dir("big") / "map").mkdir()
    (state.run_dir("big") / "map" / "map.json").write_text(json.dumps(results))
    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'items':>7} {'events':>8} {'write (median)':>15} {'page':>9}")
    for items in args.items:
        with tempfile.TemporaryDirectory() as tmp:
            state = StateDir(Path(tmp))
            record = make_run(state, items)
            events = sum(1 for _ in state.events_path("big").open())
            took = []
            for _ in range(args.repeat):
                began = time.perf_counter()
                path = write_report(state, record)
                took.append(time.perf_counter() - began)
            size = path.stat().st_size
        print(f"{items:>7} {events:>8} {statistics.median(took):>14.2f}s "
              f"{size / 1e6:>7.2f}MB")


if __name__ == "__main__":
    main()
