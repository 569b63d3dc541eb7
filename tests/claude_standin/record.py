"""What the stand-in received: one Request per HTTP request, with helpers to read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .script import texts


@dataclass(frozen=True)
class Request:
    """One request the stand-in received (`body` is the parsed JSON, or None)."""

    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    script: str | None = None  # for agent turns: the script and turn index it was answered from
    turn: int | None = None
    answered: str = ""  # "turn", "error", "hang", "canned", "json"

    @property
    def has_tools(self) -> bool:
        return bool(self.body and self.body.get("tools"))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages", []))

    def tool_results(self) -> list[dict[str, Any]]:
        """The `tool_result` blocks of the last user message (what the tools returned)."""
        for message in reversed(self.messages):
            if message.get("role") == "user" and isinstance(message.get("content"), list):
                return [b for b in message["content"]
                        if isinstance(b, dict) and b.get("type") == "tool_result"]
        return []

    def user_text(self) -> str:
        """Every text of the user messages joined (the prompt is in there)."""
        return "\n".join(texts(self.body or {}))
