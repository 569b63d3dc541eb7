"""Driver CPU spent reading Claude transcripts (issue 15: at most 2 ms per 100 stream lines).

The driver follows each running claude node's `logs/NODE.jsonl` (runtime/agents_live.py): it
reads the new bytes, splits lines and feeds them to `StreamReader`, emitting events for tool
uses. This times exactly that path (`AgentWatch._read`, events written to a real event log) on
a synthetic transcript shaped like the real CLI's (per turn: an assistant text block, a
tool_use block, a user tool_result with some output; init first, result last), appended in
chunks as a live session would, and reports CPU time per 100 lines (process time, best of
--repeat runs).

    .venv/bin/python bench/bench_claude_stream.py [--lines 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from prodigy.runtime.agents_live import AgentWatch
from prodigy.runtime.events import EventLog
from prodigy.runtime.masking import Masker
from prodigy.runtime.ops import Task


def transcript(lines: int) -> list[str]:
    out = [json.dumps({"type": "system", "subtype": "init", "session_id": "s", "model": "m",
                       "tools": ["Bash", "Edit", "Read", "Write"] * 6})]
    turn = 0
    while len(out) < lines - 1:
        turn += 1
        ident = f"msg_{turn}"
        out.append(json.dumps({"type": "assistant", "session_id": "s", "message": {
            "id": ident, "content": [{"type": "text", "text": "Let me look at the tests. " * 4}],
            "usage": {"input_tokens": 1200, "output_tokens": 1}}}))
        out.append(json.dumps({"type": "assistant", "session_id": "s", "message": {
            "id": ident, "content": [{"type": "tool_use", "id": f"t{turn}", "name": "Bash",
                                      "input": {"command": "pytest -q tests/test_x.py",
                                                "description": "run the tests"}}]}}))
        out.append(json.dumps({"type": "user", "session_id": "s", "message": {"content": [
            {"type": "tool_result", "tool_use_id": f"t{turn}", "is_error": False,
             "content": "....F...\n" * 20}]}}))
    out.append(json.dumps({"type": "result", "subtype": "success", "is_error": False,
                           "result": "done", "num_turns": turn, "total_cost_usd": 0.5}))
    return out


def once(lines: list[str], chunk: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        events = EventLog(root / "events.jsonl", "r", Masker(()))
        task = Task("r", "n", "claude", "claude: x", 1, {}, {}, tmp, str(root / "n.log"),
                    Masker(()))
        watch = AgentWatch(events)
        watch.start(task)
        path = root / "n.jsonl"
        spent = 0.0
        with path.open("a", encoding="utf-8") as out:
            for start in range(0, len(lines), chunk):
                out.write("".join(line + "\n" for line in lines[start:start + chunk]))
                out.flush()
                begin = time.process_time()
                watch.poll([(None, "n", task)], force=True)
                spent += time.process_time() - begin
        events.close()
        return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--chunk", type=int, default=7, help="lines appended between polls")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    lines = transcript(args.lines)
    best = min(once(lines, args.chunk) for _ in range(args.repeat))
    per_100 = best / len(lines) * 100 * 1000
    print(f"{len(lines)} lines, polled every {args.chunk} lines: {best * 1000:.1f} ms CPU, "
          f"**{per_100:.3f} ms per 100 lines** (goal <= 2 ms)")


if __name__ == "__main__":
    main()
