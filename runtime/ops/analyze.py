"""`analyze` nodes: refresh the codebase analysis later steps read (runtime/analysis.py).

The analysis of the node's directory is cached under `<state dir>/analysis/` by the content
it describes (git tree plus uncommitted changes) and reused while younger than
`max_cache_age_s` unless `force_refresh`. With `save` (default) the result is also written to
`<state dir>/analysis/latest.json`, for commands (a Claude slash command, say) to read.
`format`: summary (no per-file tree) | detailed (with it) | json (summary, printed as JSON).
Publishes `analysis` (the result object), `analysis.file` (latest.json, when saved) and
`analyze.output` (the printed text); a `capture:` name gets the result object too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from prodigy.runtime.analysis import AnalyzeOptions, cached_analysis
from prodigy.runtime.nodes import AnalyzeParams
from prodigy.runtime.ops.base import Context, Task
from prodigy.runtime.ops.capture import Outcome
from prodigy.runtime.ops.step import step_op
from prodigy.runtime.store import atomic_write


def prepare(params: AnalyzeParams, ctx: Context) -> dict[str, Any]:
    state = ctx.state_dir or ctx.cwd / ".prodigy"
    return {"max_cache_age_s": params.max_cache_age_s, "force_refresh": params.force_refresh,
            "save": params.save, "format": params.format,
            "cache_dir": str(Path(state) / "analysis")}


def summary_text(result: dict[str, Any]) -> str:
    languages = ", ".join(f"{name} {info['files']} files/{info['lines']} lines"
                          for name, info in list(result.get("languages", {}).items())[:6])
    churn = ", ".join(f"{c['file']} ({c['commits']})" for c in result.get("churn", [])[:5])
    lines = [f"codebase: {result['files']} files, {result['lines']} lines"
             + (" (cached)" if result.get("from_cache") else ""),
             f"languages: {languages or 'none'}"]
    if churn:
        lines.append(f"most changed in {result.get('churn_days')} days: {churn}")
    return "\n".join(lines) + "\n"


def run(task: Task) -> Outcome:
    started, started_at = time.monotonic(), time.time()
    inputs = task.inputs
    cache = Path(inputs["cache_dir"])
    options = AnalyzeOptions(float(inputs["max_cache_age_s"]), bool(inputs["force_refresh"]),
                             bool(inputs["save"]), inputs["format"] == "detailed")
    try:
        result = cached_analysis(Path(task.cwd), cache, options)
    except OSError as exc:
        message = f"analyze: {exc.strerror or exc}"
        return Outcome(1, time.monotonic() - started, started_at, stderr=message,
                       output=message, error=message)
    text = (json.dumps(result, indent=1) + "\n" if inputs["format"] == "json"
            else summary_text(result))
    variables: dict[str, Any] = {"analysis": result}
    if inputs["save"]:
        latest = cache / "latest.json"
        atomic_write(latest, json.dumps(result, indent=1, sort_keys=True) + "\n")
        variables["analysis.file"] = str(latest)
    log = Path(task.log_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(task.masker.mask(text))
    return Outcome(0, time.monotonic() - started, started_at, stdout=text,
                   output=task.masker.mask(text), variables=variables, value=result)


OP = step_op(prepare, run)
