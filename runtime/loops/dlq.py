"""Dead-letter queue entries: what is kept about a failed map item, and how it is shown.

One entry per failed item (the store keeps them, `store.DlqPut`), replaced when the item
fails again (a `dlq retry`), removed when it succeeds. Shape (JSON object):

    run_id, loop            the run and the map node
    item_id, index, item    `item_<index>`, its position, the work item itself
    item_label              the item as people see it (`work_items.item_label`)
    error, error_type       the failure message; timeout | command_failed | commit_required |
                            merge_conflict |
                            capture | interrupted | unknown
    exit_code               of the failing command (-1 after a timeout)
    failed_node, failed_step  the agent node that failed (template id) and its label
    attempts                agent runs in the latest try (retries by the error policy)
    failure_count           failures over the item's life (each `dlq retry` that failed adds)
    output_tail, log        the failing command's last 4 KiB of output, and its full log
    stderr                  the last lines the failing command wrote to stderr (with its
                            stdout, as written, when it wrote straight to its log)
    first_failure_at, last_failure_at, started_at  unix seconds; duration_s of the last try
    reprocess_eligible      the error looks transient (timeout, network, rate limit...)
    error_signature         sha256 prefix of the message with digits removed: groups failures
    history                 the last HISTORY tries: {at, error, exit_code, attempts}
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HISTORY = 10
_TRANSIENT = re.compile(r"time(d)? ?out|network|temporar|rate.?limit|resource|connection",
                        re.IGNORECASE)


def error_type(message: str, timed_out: bool, exit_code: int | None) -> str:
    text = message.lower()
    if timed_out:
        return "timeout"
    if text.startswith("merge conflict"):
        return "merge_conflict"
    if "commit_required" in text or "created no commits" in text:
        return "commit_required"
    if text.startswith("capture"):
        return "capture"
    if text == "interrupted":
        return "interrupted"
    if exit_code is not None and exit_code != 0:
        return "command_failed"
    return "unknown"


def signature(message: str) -> str:
    return hashlib.sha256(re.sub(r"\d+", "N", message).encode()).hexdigest()[:16]


def make_entry(previous: Mapping[str, Any] | None, *, run_id: str, loop: str, index: int,
               item: Any, item_label: str, message: str, timed_out: bool,
               exit_code: int | None, node: str, label: str, attempts: int, output: str,
               stderr: str, log: str, started_at: float, duration: float,
               now: float) -> dict[str, Any]:
    """The entry for an item that just failed, carrying over what an earlier entry knew."""
    history = list((previous or {}).get("history") or [])
    history.append({"at": now, "error": message, "exit_code": exit_code, "attempts": attempts})
    return {
        "run_id": run_id, "loop": loop, "item_id": f"item_{index}", "index": index,
        "item": item, "item_label": item_label, "error": message,
        "error_type": error_type(message, timed_out, exit_code),
        "exit_code": exit_code, "failed_node": node, "failed_step": label,
        "attempts": attempts,
        "failure_count": int((previous or {}).get("failure_count") or 0) + 1,
        "output_tail": output[-4096:], "stderr": stderr, "log": log,
        # A claude step's transcript beside its log (upstream's name for it).
        "json_log_location": _transcript(log),
        "first_failure_at": (previous or {}).get("first_failure_at") or now,
        "last_failure_at": now, "started_at": started_at, "duration_s": round(duration, 3),
        "reprocess_eligible": timed_out or bool(_TRANSIENT.search(message)),
        "error_signature": signature(message), "history": history[-HISTORY:],
    }


def _transcript(log: str) -> str | None:
    if not log.endswith(".log"):
        return None
    path = Path(log).with_suffix(".jsonl")
    return str(path) if path.exists() else None


def index_of(item_id: str) -> int | None:
    """`item_12` -> 12 (a bare number is accepted too)."""
    match = re.fullmatch(r"(?:item_)?(\d+)", item_id.strip())
    return int(match.group(1)) if match else None
