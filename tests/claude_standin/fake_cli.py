"""A scripted stand-in for the Claude Code CLI, no Node: `python fake_cli.py ARGS...`.

Prints a `stream-json` transcript shaped like the real CLI's (2.1.197): `system/init`, one
`assistant` event per content block, a `user` event per tool result, then `result`. Stdlib only.

Environment: `PRODIGY_FAKE_CLAUDE_SCRIPT` names the JSON script; `PRODIGY_FAKE_CLAUDE_CALLS`, if
set, gets one JSON line per call: `{"argv", "cwd", "pid", "env"}` (env: the PRODIGY_* variables).

The script is an object; `scripts: {NAME: {...}}` inside it holds per-agent scripts picked by a
`[script:NAME]` marker in the prompt (the last argument), their keys over the top level's:
- `turns`: a list; each entry is an assistant turn (a list of blocks `{"text": ...}` /
  `{"tool": "Bash"|"Write"|"Edit"|..., "input": {...}}`, or `{"blocks": [...], "usage": {...}}`),
  or `{"raw": "a line"}` (printed as is: a malformed line), `{"sleep": SECONDS}`, or
  `{"exit": CODE}` (stop at once: a truncated stream, no result). A script that ends after a
  turn with tool uses gets a last turn `done`, as the stand-in server does.
- `execute` (default true): run Bash in the cwd, do Write and Edit for real; else results "ok".
- `result`: fields laid over the result event (`is_error`, `subtype`, `result`, `errors`,
  `total_cost_usd`, ...), or `null` for no result event at all.
- `exit_code` (default: 1 if the result is an error, else 0, as the real CLI), `stderr`.
`--max-turns N` is honoured as the CLI does: after N turns the result is `error_max_turns`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

PRICE = {"input_tokens": 5e-6, "output_tokens": 25e-6, "cache_read_input_tokens": 0.5e-6,
         "cache_creation_input_tokens": 6.25e-6}  # USD per token, as the CLI prices Opus 4.x
USAGE = {"input_tokens": 200, "output_tokens": 40, "cache_creation_input_tokens": 0,
         "cache_read_input_tokens": 0}
SESSION = str(uuid.uuid4())


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def option(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv[:-1] else None


def load(prompt: str) -> dict[str, Any]:
    path = os.environ.get("PRODIGY_FAKE_CLAUDE_SCRIPT")
    script: dict[str, Any] = json.loads(Path(path).read_text()) if path else {}
    marker = re.search(r"\[script:([A-Za-z0-9_.\-]+)\]", prompt)
    if marker and marker.group(1) in script.get("scripts", {}):
        script = {**script, **script["scripts"][marker.group(1)]}
    return script


def run_tool(name: str, args: dict[str, Any], execute: bool) -> tuple[str, bool]:
    """(content, is_error) of one tool use."""
    if not execute:
        return "ok", False
    try:
        if name == "Bash":
            out = subprocess.run(["bash", "-c", args["command"]], capture_output=True, text=True,
                                 timeout=float(args.get("timeout", 120000)) / 1000)
            text = (out.stdout + out.stderr).strip()
            if out.returncode:
                return f"Exit code {out.returncode}" + (f"\n{text}" if text else ""), True
            return text, False
        if name == "Write":
            Path(args["file_path"]).write_text(args["content"])
            return f"File created successfully at: {args['file_path']}", False
        if name == "Edit":
            path = Path(args["file_path"])
            path.write_text(path.read_text().replace(args["old_string"], args["new_string"], 1))
            return f"The file {args['file_path']} has been updated successfully.", False
    except (OSError, KeyError, subprocess.TimeoutExpired) as exc:
        return f"<tool_use_error>{exc}</tool_use_error>", True
    return "ok", False


def play_turn(spec: Any, model: str, execute: bool, totals: dict[str, int]) -> tuple[str, bool]:
    """Print one assistant turn and its tool results; (its last text, whether it used tools)."""
    spec = {"blocks": spec} if isinstance(spec, list) else spec
    usage = {**USAGE, **spec.get("usage", {})}
    for key in totals:
        totals[key] += usage[key]
    message_id, text, results = "msg_" + uuid.uuid4().hex[:24], "", []
    for raw in spec.get("blocks", []):
        if "text" in raw:
            block: dict[str, Any] = {"type": "text", "text": raw["text"]}
            text = raw["text"]
        else:
            block = {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24],
                     "name": raw["tool"], "input": raw.get("input", {})}
            results.append(block)
        emit({"type": "assistant", "message": {
            "id": message_id, "type": "message", "role": "assistant", "model": model,
            "content": [block], "stop_reason": None, "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1}}, "parent_tool_use_id": None,
            "session_id": SESSION, "uuid": str(uuid.uuid4())})
    for use in results:
        content, failed = run_tool(use["name"], use["input"], execute)
        emit({"type": "user", "message": {"role": "user", "content": [
            {"tool_use_id": use["id"], "type": "tool_result", "content": content,
             "is_error": failed}]}, "parent_tool_use_id": None, "session_id": SESSION,
            "uuid": str(uuid.uuid4()), "tool_use_result": {"stdout": content, "stderr": ""}})
    return text, bool(results)


def main(argv: list[str]) -> int:
    started = time.monotonic()
    prompt = argv[-1] if argv else ""
    calls = os.environ.get("PRODIGY_FAKE_CLAUDE_CALLS")
    if calls:
        with open(calls, "a") as log:
            log.write(json.dumps({"argv": argv, "cwd": os.getcwd(), "pid": os.getpid(), "env": {
                k: v for k, v in os.environ.items() if k.startswith("PRODIGY_")}}) + "\n")
    script = load(prompt)
    model = option(argv, "--model") or script.get("model", "claude-fake")
    mode = ("bypassPermissions" if "--dangerously-skip-permissions" in argv
            else option(argv, "--permission-mode") or "default")
    limit = int(option(argv, "--max-turns") or 0)
    emit({"type": "system", "subtype": "init", "cwd": os.getcwd(), "session_id": SESSION,
          "tools": ["Bash", "Edit", "Read", "Write"], "mcp_servers": [], "model": model,
          "permissionMode": mode, "apiKeySource": "none", "claude_code_version": "fake",
          "uuid": str(uuid.uuid4())})
    if script.get("stderr"):
        sys.stderr.write(script["stderr"])
    totals = dict.fromkeys(USAGE, 0)
    final, turns, used_tools = "", 0, False
    result: dict[str, Any] = {"subtype": "success", "is_error": False}
    for spec in [*script.get("turns", []), None]:
        if spec is None and not used_tools:
            break
        if isinstance(spec, dict) and "raw" in spec:
            print(spec["raw"], flush=True)
            continue
        if isinstance(spec, dict) and "sleep" in spec:
            time.sleep(float(spec["sleep"]))
            continue
        if isinstance(spec, dict) and "exit" in spec:
            return int(spec["exit"])
        if limit and turns >= limit:
            turns += 1
            result = {"subtype": "error_max_turns", "is_error": True,
                      "errors": [f"Reached maximum number of turns ({limit})"]}
            break
        final, used_tools = play_turn(spec if spec is not None else [{"text": "done"}], model,
                                      bool(script.get("execute", True)), totals)
        turns += 1
    if "result" in script and script["result"] is None:
        return int(script.get("exit_code", 0))
    cost = sum(PRICE[k] * n for k, n in totals.items())
    event = {"type": "result", **result, "api_error_status": None,
             "duration_ms": int((time.monotonic() - started) * 1000), "duration_api_ms": 1,
             "num_turns": turns, "stop_reason": "tool_use" if used_tools else "end_turn",
             "session_id": SESSION, "total_cost_usd": round(cost, 8), "usage": totals,
             "modelUsage": {}, "permission_denials": [], "uuid": str(uuid.uuid4())}
    if result["subtype"] == "success":
        event["result"] = final
    event.update(script.get("result") or {})
    emit(event)
    return int(script.get("exit_code", 1 if event["is_error"] else 0))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
