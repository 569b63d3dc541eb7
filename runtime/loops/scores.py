"""Reading what validation and scoring commands report (pure functions, no I/O).

Validation result (upstream A.9): a JSON object `{completion_percentage, status, implemented,
missing, gaps}`; output that is not a JSON object counts as complete when the command
succeeded (upstream's rule), as failed (0%) otherwise. The `validation` variable it becomes:
`{completion, completion_percentage, status, implemented, missing, missing_count, gaps,
attempt, passed}`; `${validation.gaps}` renders as compact JSON.

Score (goal_seek): JSON `{"score": N}` (with optional `gaps`), else the first of
`score: N`, `N/100`, `N out of 100`, `N%` in the text, else 0; clamped to 0..100.
Convergence: three or more scores, the last three within CONVERGED points of each other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

CONVERGED = 2.0
_SCORE = (re.compile(r"score\s*[:=]\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE),
          re.compile(r"(-?\d+(?:\.\d+)?)\s*/\s*100\b"),
          re.compile(r"(-?\d+(?:\.\d+)?)\s+out\s+of\s+100\b", re.IGNORECASE),
          re.compile(r"(-?\d+(?:\.\d+)?)\s*%"))


def _number(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip().rstrip("%"))
    except ValueError:
        return default


def parse_validation(text: str, succeeded: bool, attempt: int, threshold: float,
                     schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `validation` variable for one measurement's output."""
    try:
        data = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        data = None
    problem = ""
    if isinstance(data, dict) and schema:
        problem = _schema_problem(data, schema)
    if isinstance(data, dict) and not problem:
        completion = _number(data.get("completion_percentage", data.get("completion")))
        status = str(data.get("status") or ("complete" if completion >= threshold
                                            else "incomplete"))
        implemented = list(data.get("implemented") or [])
        missing = list(data.get("missing") or [])
        gaps = data.get("gaps") or {}
    else:
        completion = 100.0 if succeeded and not problem else 0.0
        status = "complete" if completion else "failed"
        implemented, missing, gaps = [], [], {}
        if problem:
            missing = [problem]
    completion = max(0.0, min(100.0, completion))
    shown: float | int = int(completion) if completion.is_integer() else completion
    return {"completion": shown, "completion_percentage": shown, "status": status,
            "implemented": implemented, "missing": missing, "missing_count": len(missing),
            "gaps": gaps, "attempt": attempt, "passed": completion >= threshold}


def _schema_problem(data: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    import jsonschema  # a runtime dependency; only validations with expected_schema need it

    try:
        jsonschema.validate(dict(data), dict(schema))
    except jsonschema.ValidationError as exc:
        return f"result does not match expected_schema: {exc.message}"
    except jsonschema.SchemaError as exc:
        return f"expected_schema is not a valid JSON Schema: {exc.message}"
    return ""


def parse_score(text: str) -> tuple[float, Any]:
    """(score, gaps) from a scoring command's output."""
    stripped = text.strip()
    try:
        data = json.loads(stripped) if stripped else None
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and "score" in data:
        return max(0.0, min(100.0, _number(data["score"]))), data.get("gaps") or []
    for pattern in _SCORE:
        match = pattern.search(text)
        if match:
            return max(0.0, min(100.0, float(match.group(1)))), []
    return 0.0, []


def converged(scores: Sequence[float]) -> bool:
    last = scores[-3:]
    return len(scores) >= 3 and max(last) - min(last) <= CONVERGED


def shown(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
