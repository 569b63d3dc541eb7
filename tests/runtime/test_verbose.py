"""-v: what claude agents write is printed as it streams (plain lines; the live view too)."""

from __future__ import annotations

import io

from prodigy.runtime.report import PlainReporter

MESSAGE = {"event": "agent_message", "node": "map[item_1]/map.agent.0", "label": "claude: /fix",
           "item": "item_1", "item_label": "src/x.py", "text": "Looking at it.\nFound it.",
           "turn": 2}


def test_agent_text_shows_only_with_verbose() -> None:
    quiet, loud = io.StringIO(), io.StringIO()
    PlainReporter(quiet).on_event(MESSAGE)
    PlainReporter(loud, verbose=1).on_event(MESSAGE)
    assert quiet.getvalue() == ""
    assert loud.getvalue().splitlines() == [
        "says     claude: /fix [src/x.py]: Looking at it.", "         | Found it."]
