"""Issue 15, compiler side: the Claude options and the budgets, from the workflow to the plan.

The options (`model`, `max_turns`, `allowed_tools`, `disallowed_tools`, `permission_mode`,
`append_system_prompt`) are read on a claude step, in `defaults:` and at the workflow's top
level, the step's winning, then `defaults:`'s; they reach `ClaudeParams`. The budgets
(`max_cost_usd`, `max_tokens`) are the run's (top level, in the plan's `workflow`), a map's
(`MapParams`) and a claude step's own (`ClaudeParams`). Unset, nothing of either is in the plan.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from prodigy.compiler.pipeline import compile_file, validate_file
from prodigy.runtime.nodes import ClaudeParams, MapParams
from prodigy.runtime.plan import Plan, loads

NEW_CLAUDE_PARAMS = ("model", "max_turns", "allowed_tools", "disallowed_tools",
                     "permission_mode", "append_system_prompt", "max_cost_usd", "max_tokens")
# A value for each option as YAML text, and what ClaudeParams holds for it.
OPTIONS: dict[str, tuple[str, Any]] = {
    "model": ("opus", "opus"),
    "max_turns": ("7", 7),
    "allowed_tools": ('["Read", "Edit"]', ("Read", "Edit")),
    "disallowed_tools": ('"WebFetch, Bash"', ("WebFetch", "Bash")),
    "permission_mode": ("acceptEdits", "acceptEdits"),
    "append_system_prompt": ('"Be brief."', "Be brief."),
}
# Another value for each, to tell the levels apart.
OTHER: dict[str, tuple[str, Any]] = {
    "model": ("haiku", "haiku"),
    "max_turns": ("2", 2),
    "allowed_tools": ('"Grep"', ("Grep",)),
    "disallowed_tools": ("[Write]", ("Write",)),
    "permission_mode": ("plan", "plan"),
    "append_system_prompt": ('"Say why."', "Say why."),
}
THIRD: dict[str, tuple[str, Any]] = {
    "model": ("sonnet", "sonnet"),
    "max_turns": ("30", 30),
    "allowed_tools": ('"Glob"', ("Glob",)),
    "disallowed_tools": ('"Edit"', ("Edit",)),
    "permission_mode": ("default", "default"),
    "append_system_prompt": ('"Stop early."', "Stop early."),
}


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def plan_of(tmp_path: Path, text: str) -> Plan:
    return compile_file(_write(tmp_path, text))


def problems(tmp_path: Path, text: str) -> list[tuple[str, int, int]]:
    found = validate_file(_write(tmp_path, text))
    # The map inputs here are placeholders no file backs: P602 is not what these tests are about.
    return [(d.code, d.span.line, d.span.col) for d in found
            if d.span is not None and d.code != "P602"]


def claude(plan: Plan, node_id: str = "main.0") -> ClaudeParams:
    params = plan.node(node_id).params
    assert isinstance(params, ClaudeParams)
    return params


def _workflow(top: str = "", defaults: str = "", step: str = "") -> str:
    text = "name: t\n" + top
    if defaults:
        text += "defaults:\n" + textwrap.indent(defaults, "  ")
    text += "commands:\n  - claude: \"/fix\"\n" + textwrap.indent(step, "    ")
    return text


# ------------------------------------------------------------------ each option, each level


@pytest.mark.parametrize("level", ["step", "defaults", "top"])
@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_an_option_reaches_the_claude_node_from_each_level(tmp_path: Path, option: str,
                                                           level: str) -> None:
    written, expected = OPTIONS[option]
    line = f"{option}: {written}\n"
    plan = plan_of(tmp_path, _workflow(**{level: line}))
    assert getattr(claude(plan), option) == expected


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_the_step_wins_then_defaults_then_the_top_level(tmp_path: Path, option: str) -> None:
    line = "{option}: {value}\n".format
    top, defaults, step = (line(option=option, value=table[option][0])
                           for table in (THIRD, OTHER, OPTIONS))
    text = _workflow(top, defaults, step) + '  - claude: "/lint"\n'
    alone = "name: t\n" + top + 'commands:\n  - claude: "/lint"\n'
    plan = plan_of(tmp_path, text)
    assert getattr(claude(plan, "main.0"), option) == OPTIONS[option][1]
    assert getattr(claude(plan, "main.1"), option) == OTHER[option][1]
    assert getattr(claude(plan_of(tmp_path, alone)), option) == THIRD[option][1]


def test_levels_combine_option_by_option(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, _workflow("model: sonnet\nmax_turns: 4\n",
                                       "max_turns: 9\npermission_mode: plan\n",
                                       "permission_mode: acceptEdits\n"))
    params = claude(plan)
    assert (params.model, params.max_turns, params.permission_mode) == (
        "sonnet", 9, "acceptEdits")


def test_an_empty_tool_list_on_the_step_clears_the_default(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, _workflow(defaults="allowed_tools: [Read]\n",
                                       step="allowed_tools: []\n"))
    assert claude(plan).allowed_tools == ()


def test_every_claude_node_gets_the_workflow_options(tmp_path: Path) -> None:
    # Handler bodies, validation and goal_seek attempts are claude nodes too.
    plan = plan_of(tmp_path, """\
        model: opus
        commands:
          - shell: "make"
            on_failure: "/debug"
          - goal_seek:
              goal: g
              claude: "/improve"
              validate: "echo 100"
          - claude: "/check"
            validate:
              claude: "/measure"
        """)
    found = [n for n in _all_nodes(plan) if isinstance(n.params, ClaudeParams)]
    assert len(found) == 4
    assert {n.params.model for n in found} == {"opus"}


def _all_nodes(plan: Plan) -> list[Any]:
    nodes = list(plan.nodes)
    for sub in plan.subplans.values():
        nodes.extend(_all_nodes(sub))
    return nodes


@pytest.mark.parametrize(("written", "names"), [
    ('"Read,Edit"', ("Read", "Edit")),
    ('"Read Edit  Grep"', ("Read", "Edit", "Grep")),
    ('"Read, Bash(git log:*), Edit"', ("Read", "Bash(git log:*)", "Edit")),
    ('["Bash(npm run test:*)", " Edit "]', ("Bash(npm run test:*)", "Edit")),
    ('"Read"', ("Read",)),
])
def test_tool_lists_are_normalised_to_lists(tmp_path: Path, written: str,
                                            names: tuple[str, ...]) -> None:
    plan = plan_of(tmp_path, _workflow(step=f"allowed_tools: {written}\n"))
    assert claude(plan).allowed_tools == names


def test_append_system_prompt_is_a_template(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """\
        env:
          AREA: parser
        defaults:
          append_system_prompt: "Only touch ${AREA}."
        commands:
          - claude: "/fix"
        """)
    encoded = json.loads(json.dumps(claude(plan).append_system_prompt))
    assert encoded == ["tpl", "Only touch ", ["var", ["AREA"]], "."]
    assert claude(plan).bindings == {"AREA": "parser"}


def test_append_system_prompt_is_checked_where_each_claude_node_runs(tmp_path: Path) -> None:
    # A default that reads `${item}` is fine in a map agent and an error in setup (P204).
    text = """\
        mode: mapreduce
        defaults:
          append_system_prompt: "Item: ${item}"
        setup:
          - claude: "/prepare"
        map:
          input: items.json
          agent_template:
            - claude: "/fix"
        """
    line = textwrap.dedent(text).splitlines()[2]
    assert problems(tmp_path, text) == [("P204", 3, line.index("item}") + 1)]
    fine = textwrap.dedent(text).replace('setup:\n  - claude: "/prepare"\n', "")
    assert problems(tmp_path, fine) == []


def test_defaults_holds_claude_options_beside_variables(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """\
        defaults:
          model: opus
          TARGET: src
        commands:
          - claude: "/fix ${TARGET}"
        """)
    assert plan.workflow["args"] == {"TARGET": "src"}  # `model` is no variable
    assert claude(plan).model == "opus"


# ----------------------------------------------------------------- legacy claude spellings


@pytest.mark.parametrize("step", [
    '- name: prodigy-lint\n  model: opus\n',
    '- command: "/prodigy-lint"\n  model: opus\n',
])
def test_legacy_claude_steps_take_the_options(tmp_path: Path, step: str) -> None:
    assert claude(plan_of(tmp_path, step)).model == "opus"


# ------------------------------------------------------------------ refused where no claude


@pytest.mark.parametrize("option", [*sorted(OPTIONS), "max_cost_usd", "max_tokens"])
@pytest.mark.parametrize("command", [
    '- shell: "make"\n', '- command: "make"\n',
    '- write_file: {path: a.txt, content: x}\n',
    '- foreach: {foreach: [a], do: [{claude: "/x ${item}"}]}\n',
])
def test_an_option_on_a_step_without_claude_is_p119(tmp_path: Path, option: str,
                                                    command: str) -> None:
    value = {**{k: v for k, (v, _) in OPTIONS.items()}, "max_cost_usd": "1",
             "max_tokens": "10"}[option]
    found = validate_file(_write(tmp_path, command + f"  {option}: {value}\n"))
    assert [(d.code, d.span.line, d.span.col) for d in found if d.span] == [("P119", 2, 3)]
    assert "claude" in (found[0].hint or "")


# ---------------------------------------------------------------------------- bad values


BAD = [
    ("model: 5", "P111"), ('model: ""', "P116"),
    ("max_turns: 0", "P116"), ("max_turns: many", "P111"), ("max_turns: 2.5", "P111"),
    ("allowed_tools: {Read: true}", "P111"), ("allowed_tools: [1]", "P111"),
    ("disallowed_tools: 3", "P111"),
    ("permission_mode: yolo", "P113"), ("permission_mode: bypass_permissions", "P113"),
    ("append_system_prompt: [a, b]", "P111"),
]


def _col(line: str) -> int:
    """The column of the bad value in `line` (of the bad list item, for `[1]`)."""
    return line.index("1]") + 1 if "[1]" in line else line.index(": ") + 3


@pytest.mark.parametrize(("line", "code"), BAD)
def test_a_bad_option_value_on_a_step(tmp_path: Path, line: str, code: str) -> None:
    found = problems(tmp_path, f'- claude: "/fix"\n  {line}\n')
    assert found == [(code, 2, _col(line) + 2)], found


@pytest.mark.parametrize(("line", "code"), BAD)
def test_a_bad_option_value_in_defaults_and_at_the_top(tmp_path: Path, line: str,
                                                       code: str) -> None:
    top = problems(tmp_path, f'{line}\ncommands:\n  - claude: "/fix"\n')
    assert top == [(code, 1, _col(line))], top
    inner = problems(tmp_path, f'defaults:\n  {line}\ncommands:\n  - claude: "/fix"\n')
    assert inner == [(code, 2, _col(line) + 2)], inner


def test_invalid_option_messages_name_the_accepted_values(tmp_path: Path) -> None:
    found = validate_file(_write(tmp_path, '- claude: "/fix"\n  permission_mode: yolo\n'))
    assert "bypassPermissions, acceptEdits, plan, default" in found[0].message
    found = validate_file(_write(tmp_path, '- claude: "/fix"\n  allowed_tools: {a: 1}\n'))
    assert "a list of tool names" in found[0].message


# ------------------------------------------------------------------------------- budgets


def test_budgets_at_the_three_levels_reach_the_plan(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """\
        mode: mapreduce
        max_cost_usd: 20
        max_tokens: 2000000
        map:
          input: items.json
          max_cost_usd: 7.5
          max_tokens: 500000
          agent_template:
            - claude: "/fix ${item}"
              max_cost_usd: 0.25
              max_tokens: 40000
        """)
    assert (plan.workflow["max_cost_usd"], plan.workflow["max_tokens"]) == (20, 2000000)
    mapping = plan.node("map").params
    assert isinstance(mapping, MapParams)
    assert (mapping.max_cost_usd, mapping.max_tokens) == (7.5, 500000)
    agent = claude(plan.subplans["map.agent"], "map.agent.0")
    assert (agent.max_cost_usd, agent.max_tokens) == (0.25, 40000)


def test_the_run_budget_is_not_a_step_default(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, 'max_cost_usd: 3\ncommands:\n  - claude: "/fix"\n')
    assert plan.workflow["max_cost_usd"] == 3
    assert claude(plan).max_cost_usd is None


def test_a_standard_workflow_takes_a_run_budget(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, 'max_tokens: 1000\ncommands:\n  - claude: "/fix"\n')
    assert plan.workflow["max_tokens"] == 1000 and "max_cost_usd" not in plan.workflow


@pytest.mark.parametrize(("line", "code"), [
    ("max_cost_usd: 0", "P116"), ("max_cost_usd: -1", "P116"), ('max_cost_usd: "5"', "P111"),
    ("max_tokens: 0", "P116"), ("max_tokens: 1.5", "P111"), ("max_tokens: lots", "P111"),
])
def test_a_bad_budget_at_each_level(tmp_path: Path, line: str, code: str) -> None:
    col = _col(line)
    assert problems(tmp_path, f'{line}\ncommands:\n  - claude: "/fix"\n') == [(code, 1, col)]
    step = problems(tmp_path, f'- claude: "/fix"\n  {line}\n')
    assert step == [(code, 2, col + 2)]
    mapped = problems(tmp_path, "mode: mapreduce\nmap:\n  input: i.json\n  "
                      f'{line}\n  agent_template:\n    - claude: "/fix"\n')
    assert mapped == [(code, 4, col + 2)]


def test_budget_messages_say_what_is_accepted(tmp_path: Path) -> None:
    found = validate_file(_write(tmp_path, '- claude: "/fix"\n  max_cost_usd: 0\n'))
    assert found[0].message.endswith("must be greater than 0 (got 0)")
    assert found[0].hint == "use a value greater than 0"


@pytest.mark.parametrize("key", ["max_cost_usd", "max_tokens"])
def test_a_budget_is_not_a_default(tmp_path: Path, key: str) -> None:
    found = validate_file(_write(tmp_path, f'defaults:\n  {key}: 5\n'
                                 'commands:\n  - claude: "/fix"\n'))
    assert [(d.code, d.span.line, d.span.col) for d in found if d.span] == [("P116", 2, 3)]
    assert "not budgets" in found[0].message and "top level" in (found[0].hint or "")


def test_a_budget_where_none_is_taken_is_an_unknown_key(tmp_path: Path) -> None:
    found = problems(tmp_path, "mode: mapreduce\nmap:\n  input: i.json\n  agent_template:\n"
                     '    - shell: "true"\nreduce:\n  commands: []\n  max_cost_usd: 1\n')
    assert found == [("P110", 8, 3)]


# ------------------------------------------------------------------ plans stay as they were


def test_unset_options_and_budgets_leave_the_plan_unchanged(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, """\
        mode: mapreduce
        map:
          input: items.json
          agent_template:
            - claude: "/fix ${item}"
        """)
    data = json.loads(plan.dumps())
    assert not {"max_cost_usd", "max_tokens"} & set(data["workflow"])
    (mapping,) = [n for n in data["nodes"] if n["kind"] == "map"]
    assert not {"max_cost_usd", "max_tokens"} & set(mapping["params"])
    (agent,) = data["subplans"]["map.agent"]["nodes"]
    assert not set(NEW_CLAUDE_PARAMS) & set(agent["params"])


def test_set_options_round_trip_through_plan_json(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, _workflow(
        "max_cost_usd: 2.5\n", "allowed_tools: 'Read Bash(git diff:*)'\n",
        "model: opus\nmax_turns: 3\ndisallowed_tools: [Write]\npermission_mode: plan\n"
        "append_system_prompt: 'Run ${ARG}.'\nmax_cost_usd: 1\nmax_tokens: 9\n"))
    text = plan.dumps()
    again = loads(text)
    assert again == plan and again.dumps() == text
    params = claude(again)
    assert params.allowed_tools == ("Read", "Bash(git diff:*)")
    assert (params.max_cost_usd, params.max_tokens, params.permission_mode) == (1, 9, "plan")
