"""What agents cost: per node (its result's `usage`), added up per map item, map and run.

A claude node's result carries `usage`: `cost_usd`, `tokens` ({input, output, cache_read,
cache_creation}), `turns`, `session_id`, `model`, `tools`, `transcript`. It is kept in the
node's checkpoint, so a resumed run starts from what it already spent. `Spend` adds usages up;
events carry a node's usage flat (`agent_fields`), so `prodigy runs show` and the report read
them back from the event log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TOKEN_KINDS = ("input", "output", "cache_read", "cache_creation")


@dataclass(slots=True)
class Spend:
    """Cost and tokens added up over agents."""

    cost_usd: float = 0.0
    tokens: dict[str, int] = field(default_factory=dict)
    agents: int = 0

    def add(self, usage: Mapping[str, Any] | None) -> None:
        if not usage:
            return
        self.agents += 1
        cost = usage.get("cost_usd")
        if isinstance(cost, int | float):
            self.cost_usd += float(cost)
        for kind, count in (usage.get("tokens") or {}).items():
            if isinstance(count, int):
                self.tokens[kind] = self.tokens.get(kind, 0) + count

    def add_entry(self, entry: Mapping[str, Any]) -> None:
        """A map item's recorded result entry (`cost_usd`, `tokens` when its agents ran)."""
        if "cost_usd" in entry or "tokens" in entry:
            self.add({"cost_usd": entry.get("cost_usd"), "tokens": entry.get("tokens")})

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens.values())

    def to_json(self) -> dict[str, Any]:
        return {"cost_usd": round(self.cost_usd, 6), "tokens": dict(self.tokens),
                "agents": self.agents}

    def line(self) -> str:
        """`$0.0123, 12,345 tokens (10,000 in, 2,345 out)` for a summary."""
        parts = [f"{self.tokens.get(k, 0):,} {name}" for k, name in
                 (("input", "in"), ("output", "out"), ("cache_read", "cache read"))
                 if self.tokens.get(k)]
        detail = f" ({', '.join(parts)})" if parts else ""
        return f"${self.cost_usd:.4f}, {self.total_tokens:,} tokens{detail}"


def agent_fields(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """A node's usage as event fields (nothing for a node that ran no agent)."""
    if not usage:
        return {}
    return {"cost_usd": usage.get("cost_usd"), "tokens": usage.get("tokens") or None,
            "turns": usage.get("turns"), "session_id": usage.get("session_id"),
            "model": usage.get("model"), "transcript": usage.get("transcript")}


def from_events(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Every agent's usage in a run's event log, and the sums per map and for the run:
    `{"cost_usd", "tokens", "agents": {node: {...}}, "maps": {map node: {...}}}`. Each attempt
    counts (a retried agent was paid for twice); a reused node was paid for by an earlier
    attempt, whose events are in the same log."""
    run, maps = Spend(), dict[str, Spend]()
    agents: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.get("event") not in ("node_finished", "node_retrying") or (
                "cost_usd" not in event and "tokens" not in event):
            continue
        node = str(event.get("node"))
        usage = {"cost_usd": event.get("cost_usd"), "tokens": event.get("tokens") or {}}
        run.add(usage)
        if "[" in node:  # `map[item_3]/map.agent.0`: an agent of a map item
            maps.setdefault(node.split("[", 1)[0], Spend()).add(usage)
        mine = agents.setdefault(node, {"cost_usd": 0.0, "tokens": {}, "attempts": 0})
        mine["attempts"] += 1
        mine["cost_usd"] = round(mine["cost_usd"] + float(event.get("cost_usd") or 0), 6)
        for kind, count in (event.get("tokens") or {}).items():
            mine["tokens"][kind] = mine["tokens"].get(kind, 0) + int(count)
        for key in ("item", "label", "turns", "session_id", "model", "transcript", "status"):
            if event.get(key) is not None:
                mine[key] = event[key]
    return {**run.to_json(), "agents": agents,
            "maps": {node: spend.to_json() for node, spend in maps.items()}}
