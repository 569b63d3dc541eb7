"""Spend limits on agents: `max_cost_usd` and `max_tokens` (workflow, map, claude step).

    workflow  the run's spend (reused nodes and items included: spend is checkpointed)
    map       the spend of that map's agents (its items' claude nodes)
    step      the spend of that claude node over its attempts

A limit counts as reached when the spend is at or above it. A reached workflow or step limit
stops the run the way Ctrl-C does, without killing anything: no new node or item starts, the
running ones finish (and are recorded), the rest stay pending, and the run ends failed (exit 1)
with a line naming the limit; `prodigy resume RUN_ID --max-cost-usd N` (or `--max-tokens N`)
continues under a raised workflow limit. A reached map limit stops that map from starting
items; it ends failed the same way, its finished items kept. Tokens count every kind the
CLI reports (input, output, cache reads and writes): what the session processed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prodigy.runtime.usage import Spend


@dataclass(frozen=True, slots=True)
class Budget:
    max_cost_usd: float | None = None
    max_tokens: int | None = None

    @classmethod
    def of(cls, source: Any) -> Budget:
        """From params (a claude node's, a map's) or a plan's workflow mapping."""
        if isinstance(source, Mapping):
            cost, tokens = source.get("max_cost_usd"), source.get("max_tokens")
        else:
            cost = getattr(source, "max_cost_usd", None)
            tokens = getattr(source, "max_tokens", None)
        return cls(float(cost) if cost is not None else None,
                   int(tokens) if tokens is not None else None)

    def raised(self, max_cost_usd: float | None, max_tokens: int | None) -> Budget:
        """This budget with the limits given on the command line in place of its own."""
        return Budget(max_cost_usd if max_cost_usd is not None else self.max_cost_usd,
                      max_tokens if max_tokens is not None else self.max_tokens)

    def __bool__(self) -> bool:
        return self.max_cost_usd is not None or self.max_tokens is not None

    def exceeded(self, spend: Spend, whose: str) -> str | None:
        """Why `spend` is over this budget ("" never: None when it is not)."""
        if self.max_cost_usd is not None and spend.cost_usd >= self.max_cost_usd:
            return (f"{whose} max_cost_usd (${self.max_cost_usd:g}) is reached: "
                    f"${spend.cost_usd:.4f} spent")
        if self.max_tokens is not None and spend.total_tokens >= self.max_tokens:
            return (f"{whose} max_tokens ({self.max_tokens:,}) is reached: "
                    f"{spend.total_tokens:,} tokens used")
        return None
