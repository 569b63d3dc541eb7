"""Map input: where work items come from and the pipeline that selects and orders them.

Order (the issue's, which is also upstream's documented one): json_path selection, then filter,
sort_by, distinct, offset, max_items. Upstream parses `offset` and `distinct` but never applies
them; here they are applied.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.runtime.errors import ProdigyError
from prodigy.runtime.expr import filter_items, select_json_path, sort_items
from prodigy.runtime.input_files import missing_file
from prodigy.runtime.plan import canonical_json

INPUT_COMMAND_TIMEOUT_S = 300.0
LABEL_FIELDS = ("id", "name", "path", "file")  # an item's fields that name it, first wins
LABEL_WIDTH = 60


class WorkItemError(ProdigyError):
    """The map input could not be produced or read; the map node fails with this message."""


@dataclass(frozen=True, slots=True)
class ItemPipeline:
    """The selection steps of a map, with expressions already decoded."""

    json_path: str = ""
    filter: Any = None
    sort: Any = None
    distinct: str | None = None
    offset: int = 0
    max_items: int | None = None


def read_input(source: str, cwd: Path, env: Mapping[str, str]) -> Any:
    """The raw input data: a JSON file if `source` names one, else a command's parsed stdout."""
    candidate = cwd / source
    if source and candidate.is_file():
        try:
            return json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise WorkItemError(f"map input {source!r} is not a JSON file: {exc}") from None
    missing = missing_file(source, cwd)
    if missing is not None:
        raise WorkItemError(missing)
    try:
        done = subprocess.run(["sh", "-c", source], cwd=cwd, env=dict(env), capture_output=True,
                              text=True, timeout=INPUT_COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise WorkItemError(
            f"map input command timed out after {INPUT_COMMAND_TIMEOUT_S:.0f}s: {source}"
        ) from None
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        raise WorkItemError(f"map input command failed with exit code {done.returncode}: "
                            f"{source}" + ("\n" + "\n".join(tail) if tail else ""))
    return parse_command_output(done.stdout)


def parse_command_output(text: str) -> Any:
    """Whole-output JSON, else JSON lines, else plain lines (one `{"item": line}` each)."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    lines = [line for line in stripped.splitlines() if line.strip()]
    try:
        return [json.loads(line) for line in lines]
    except json.JSONDecodeError:
        return [LineItem(line.strip()) for line in lines]


class LineItem(dict[str, str]):
    """A plain-text input line: `${item.item}` (upstream's shape) and `${item}` both give it."""

    def __init__(self, line: str) -> None:
        super().__init__(item=line)
        self.line = line


def _field(item: Any, path: str) -> Any:
    value = item
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None
    return value


def select(data: Any, pipeline: ItemPipeline) -> list[Any]:
    """Apply json_path, filter, sort_by, distinct, offset and max_items in that order."""
    items = select_json_path(data, pipeline.json_path)
    if pipeline.filter is not None:
        items = filter_items(items, pipeline.filter)
    if pipeline.sort is not None:
        items = sort_items(items, pipeline.sort)
    if pipeline.distinct:
        items = list(_distinct(items, lambda it: _field(it, pipeline.distinct or "")))
    items = items[max(pipeline.offset, 0):]
    if pipeline.max_items is not None:
        items = items[: max(pipeline.max_items, 0)]
    return items


def _distinct(items: Iterable[Any], key: Callable[[Any], Any]) -> Iterable[Any]:
    seen: set[str] = set()
    for item in items:
        marker = canonical_json(key(item))
        if marker not in seen:
            seen.add(marker)
            yield item


def item_variables(item: Any, index: int, total: int) -> dict[str, Any]:
    """The variables a map agent sees for one item (its `item` keeps its JSON types)."""
    if isinstance(item, LineItem):
        as_text: Any = item.line
        variables: dict[str, Any] = {"item": as_text, "item.item": as_text}
    else:
        variables = {"item": item}
    variables.update(
        item_index=index,
        item_total=total,
        item_id=f"item_{index}",
        item_json=canonical_json(dict(item) if isinstance(item, LineItem) else item),
    )
    return variables


def item_label(item: Any, index: int) -> str:
    """How people see an item (console lines, events' `item_label`, `dlq list`, `runs show`,
    merge messages): `${item}` itself when it is a scalar (or a plain-text line), else its
    first `id`, `name`, `path` or `file` field, else its id `item_<index>`; one line, short."""
    shown: Any = None
    if isinstance(item, LineItem):
        shown = item.line
    elif isinstance(item, Mapping):
        shown = next((item[k] for k in LABEL_FIELDS if _scalar(item.get(k))), None)
    elif _scalar(item):
        shown = item
    if isinstance(shown, bool):
        shown = json.dumps(shown)  # as `${item}` renders it
    text = " ".join(str(shown).split()) if shown is not None else ""
    if not text:
        return f"item_{index}"
    return text if len(text) <= LABEL_WIDTH else text[:LABEL_WIDTH - 1] + "\u2026"


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and value != ""
