"""Node params to plan JSON and back: the fields added late (`late(...)`) are left out at
their default, so plans and checkpoint keys of workflows that do not set them never change, and
the runtime reads every value back as the compiler wrote it."""

from __future__ import annotations

import json

from prodigy.runtime.nodes import (
    ClaudeParams,
    MapParams,
    late_defaults,
    params_from_json,
    params_to_json,
)
from prodigy.runtime.plan import fingerprint

CLAUDE_LATE = {"model", "max_turns", "allowed_tools", "disallowed_tools", "permission_mode",
               "append_system_prompt", "max_cost_usd", "max_tokens", "track_changes",
               "allow_outside"}


def _round_trip(params: ClaudeParams | MapParams) -> object:
    data = json.loads(json.dumps(params_to_json(params)))  # as plan.json holds it
    return params_from_json(params.kind, data)


def test_claude_params_with_every_option_round_trip() -> None:
    params = ClaudeParams(prompt=("tpl", "/fix ", ("var", ("item",))), model="opus",
                          max_turns=5, allowed_tools=("Read", "Bash(git log:*)"),
                          disallowed_tools=("WebFetch",), permission_mode="acceptEdits",
                          append_system_prompt=("tpl", "Only ", ("var", ("AREA",))),
                          max_cost_usd=1.25, max_tokens=40000)
    data = params_to_json(params)
    assert data["allowed_tools"] == ["Read", "Bash(git log:*)"]
    assert data["permission_mode"] == "acceptEdits"
    assert _round_trip(params) == params


def test_claude_params_at_their_defaults_leave_the_new_fields_out() -> None:
    params = ClaudeParams(prompt="/fix")
    data = params_to_json(params)
    assert not CLAUDE_LATE & set(data)
    back = _round_trip(params)
    assert back == params
    assert isinstance(back, ClaudeParams)
    assert (back.permission_mode, back.allowed_tools, back.model) == (
        "bypassPermissions", (), None)


def test_an_option_at_its_default_does_not_change_the_fingerprint() -> None:
    bare = ClaudeParams(prompt="/fix")
    said = ClaudeParams(prompt="/fix", permission_mode="bypassPermissions", allowed_tools=())
    assert fingerprint(said) == fingerprint(bare)
    assert fingerprint(ClaudeParams(prompt="/fix", model="opus")) != fingerprint(bare)


def test_the_late_claude_fields_are_these() -> None:
    # and `group` and `pool`, which every kind has (where a composed step was inlined from,
    # which foreach holds how many run at once)
    assert {name for name, _ in late_defaults(ClaudeParams)} == CLAUDE_LATE | {"group", "pool"}
    assert dict(late_defaults(ClaudeParams))["allowed_tools"] == []  # compared as JSON


def test_map_budgets_round_trip_and_are_left_out_unset() -> None:
    bare = MapParams(input="items.json", agent="map.agent")
    assert not {"max_cost_usd", "max_tokens"} & set(params_to_json(bare))
    budgeted = MapParams(input="items.json", agent="map.agent", max_cost_usd=7.5,
                         max_tokens=500000)
    assert params_to_json(budgeted)["max_cost_usd"] == 7.5
    assert _round_trip(budgeted) == budgeted
    assert _round_trip(bare) == bare
