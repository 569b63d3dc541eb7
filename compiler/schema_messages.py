"""Words for schema diagnostics: key paths, value kinds, and the hints that explain a mistake.

Kept apart from schema_check.py, which decides *which* diagnostics to report; this module only
decides how they read. Hints name the likely cause (a YAML reading, a renamed key, a key in the
wrong place) before falling back to "did you mean".
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from prodigy.compiler.commands.registry import COMMAND_KEYS
from prodigy.compiler.source import DataPath

MAPREDUCE_ONLY = {"setup", "map", "reduce", "error_policy", "on_item_failure",
                  "continue_on_failure", "max_failures", "failure_threshold", "error_collection"}
# Keys upstream accepted or documented once, and what replaced them.
MOVED = {
    "timeout_per_agent": "use `agent_timeout_secs` (or `timeout_config`)",
    "retry_on_failure": "use `retry:` on the agent's steps, or `error_policy.retry_config`",
}
# Spellings from other tools (or from upstream's docs) and the key that means the same here.
SYNONYMS = {"condition": "when", "if": "when", "retries": "retry", "input": "items",
            "cmd": "shell", "run": "shell", "script": "shell", "prompt": "claude",
            "environment": "env", "cwd": "working_dir", "workdir": "working_dir",
            "steps": "commands", "on_error": "on_failure", "parallelism": "max_parallel"}
TYPE_WORDS = {"string": "a string", "integer": "a whole number", "number": "a number",
              "boolean": "a boolean", "array": "a list", "object": "a mapping", "null": "null"}
_YAML11_BOOLS = {"yes", "no", "y", "n", "on", "off"}


def path_text(path: Sequence[object]) -> str:
    """`commands[2].on_failure` style text for a data path; '' for the document itself."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def where(path: Sequence[object]) -> str:
    return f"`{path_text(path)}`" if path else "the workflow"


def step_name(path: Sequence[object]) -> str:
    # Steps of a bare-list workflow have no key to name them by; count them instead.
    if len(path) == 1 and isinstance(path[0], int):
        return f"step {path[0] + 1}"
    return f"step {where(path)}"


def got(value: object) -> str:
    """What kind of value YAML produced, as a noun phrase."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "empty (null)" if value is None else type(value).__name__


def shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def type_hint(accepts: str, value: object) -> str | None:
    """The YAML reading that usually explains a wrong type, when there is one."""
    if value is None:
        return "the value is empty: write it after the colon (or remove the key)"
    if "string" in accepts and isinstance(value, list):
        return "YAML read the text as a list because it starts with `[`: quote the whole value"
    if "string" in accepts and isinstance(value, dict):
        return ("YAML read the text as a mapping because it contains `: ` or starts with `{`: "
                "quote the whole value")
    if accepts.startswith("a string") and isinstance(value, bool | int | float):
        return "quote the value to make it text"
    if "boolean" in accepts and isinstance(value, str) and value.lower() in _YAML11_BOOLS:
        return "only `true` and `false` are booleans (YAML 1.2); `yes`/`no`/`on`/`off` are text"
    if "number" in accepts and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return "remove the quotes: the value is text, a number is expected"
    return None


def key_hint(key: str, allowed: Sequence[str], path: DataPath) -> str:
    """Why `key` is unknown at `path`, and what was probably meant."""
    if key in MOVED:
        return f"`{key}` is no longer supported: {MOVED[key]}"
    if not path and key in MAPREDUCE_ONLY and "map" not in allowed:
        return f"`{key}:` belongs to MapReduce workflows: add `mode: mapreduce`"
    if path == ("map",) and key in MAPREDUCE_ONLY:
        return f"`{key}:` goes at the top level of the workflow, not inside `map:`"
    if not path and key in ("commands", "steps") and "map" in allowed:
        return ("a MapReduce workflow uses `setup:`, `map:` and `reduce:`; drop "
                "`mode: mapreduce` for a list of steps")
    if SYNONYMS.get(key) in allowed:
        return f"did you mean '{SYNONYMS[key]}'?"
    close = closest(key, allowed)
    if close:
        return f"did you mean '{close}'?"
    if "shell" in allowed and "claude" in allowed:  # a step: the full list would be noise
        return ("a step takes one command (" + ", ".join(COMMAND_KEYS) + ") plus options "
                "such as id, when, timeout, env, capture_output, on_failure, retry")
    listed = ", ".join(sorted(allowed)[:12]) + (", ..." if len(allowed) > 12 else "")
    return f"allowed here: {listed}" if allowed else "remove the key"


def closest(key: str, allowed: Sequence[str]) -> str | None:
    lowered = {name.lower(): name for name in allowed}
    if key.lower() in lowered:
        return lowered[key.lower()]
    match = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None
