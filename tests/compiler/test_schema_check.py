"""Schema diagnostics: codes, positions (line:col), plain-language messages and hints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from prodigy.compiler.resources import schema
from prodigy.compiler.schema_check import _validator, check_schema, path_text
from prodigy.compiler.source import SourceMap, load_text
from prodigy.runtime.diagnostics import Diagnostic


def check(text: str) -> list[Diagnostic]:
    loaded = load_text(text, "wf.yml")
    assert loaded.ok, loaded.diagnostics
    return check_schema(loaded.data, loaded.source_map)


# (id, yaml, code, line, col, words the message must contain, words the hint must contain)
ERRORS: list[tuple[str, str, str, int, int, str, str]] = [
    ("unknown-step-key", "- shell: cargo test\n  timout: 300\n",
     "P110", 2, 3, "unknown key `timout` in step 1", "did you mean 'timeout'?"),
    ("unknown-top-key", "name: x\ncommand:\n  - shell: a\n",
     "P110", 2, 1, "unknown key `command` at the top level", "did you mean 'commands'?"),
    ("unknown-nested-key", "commands:\n  - shell: a\n    retry:\n      attempts: 3\n"
     "      backof: fixed\n",
     "P110", 5, 7, "unknown key `backof` in `commands[0].retry`", "did you mean 'backoff'?"),
    ("map-needs-mapreduce", "map:\n  input: x.json\ncommands: [{shell: a}]\n",
     "P110", 1, 1, "unknown key `map` at the top level", "add `mode: mapreduce`"),
    ("commands-in-mapreduce", "mode: mapreduce\ncommands: [{shell: a}]\n"
     "map: {input: x, agent_template: [{shell: b}]}\n",
     "P110", 2, 1, "unknown key `commands`", "`setup:`, `map:` and `reduce:`"),
    ("removed-map-key", "mode: mapreduce\nmap:\n  input: x\n  timeout_per_agent: 60\n"
     "  agent_template: [{shell: b}]\n",
     "P110", 4, 3, "`timeout_per_agent` in `map`", "agent_timeout_secs"),
    ("policy-inside-map", "mode: mapreduce\nmap:\n  input: x\n  agent_template: [{shell: b}]\n"
     "  error_policy: {on_item_failure: dlq}\n",
     "P110", 5, 3, "`error_policy` in `map`", "top level"),
    ("synonym-condition", "- shell: a\n  condition: ${x}\n",
     "P110", 2, 3, "`condition`", "did you mean 'when'?"),
    ("unknown-env-value-key", "env:\n  TOKEN:\n    secret: true\n    valeu: abc\n"
     "commands: [{shell: a}]\n",
     "P110", 4, 5, "`valeu` in `env.TOKEN`", "did you mean 'value'?"),
    ("unknown-backoff-field", "- shell: a\n  retry:\n    backoff:\n      exponential: {bse: 2}\n",
     "P110", 4, 21, "`bse` in `[0].retry.backoff.exponential`", "did you mean 'base'?"),
    ("on-failure-number", "- shell: a\n  on_failure: 3\n",
     "P111", 2, 15, "`[0].on_failure` must be a boolean, a command string, a list of commands "
     "or steps, or a mapping with `claude`/`shell`/`commands`, not a number", ""),
    ("shell-as-list", "- shell: [echo, hi]\n",
     "P111", 1, 10, "`[0].shell` must be a string, not a list", "quote the whole value"),
    ("null-value", "- shell:\n", "P111", 1, 9, "must be a string, not empty (null)",
     "the value is empty"),
    ("step-not-a-step", "commands:\n  - 42\n",
     "P111", 2, 5, "`commands[0]` must be a command string or a step mapping", ""),
    ("collapsed-to-branch", "- shell: a\n  on_failure:\n    claude: {x: 1}\n",
     "P111", 3, 13, "`[0].on_failure.claude` must be a string, not a mapping", "quote"),
    ("map-missing-input", "mode: mapreduce\nmap:\n  agent_template: [{shell: b}]\n",
     "P112", 2, 1, "`map` is missing the required key `input`", "add `input:`"),
    ("mapreduce-missing-map", "mode: mapreduce\nreduce: [{shell: b}]\n",
     "P112", 1, 1, "the workflow is missing the required key `map`", "add `map:`"),
    ("foreach-without-items", "- foreach:\n    do: [{shell: echo}]\n",
     "P112", 2, 5, "`[0].foreach` needs the items to iterate", ""),
    ("no-steps", "name: empty\nenv: {A: b}\n",
     "P112", 1, 1, "the workflow has no steps", ""),
    ("bad-capture-format", "- shell: a\n  capture_format: xml\n",
     "P113", 2, 19, "must be one of: string, text, raw, json, lines, number, boolean (got 'xml')",
     "use one of"),
    ("bad-backoff", "- shell: a\n  retry: {backoff: exponentiall}\n",
     "P113", 2, 20, "`[0].retry.backoff` must be one of: fixed, linear, exponential, fibonacci",
     ""),
    ("bad-item-failure", "mode: mapreduce\non_item_failure: retry_forever\n"
     "map: {input: x, agent_template: [{shell: b}]}\n",
     "P113", 2, 18, "`on_item_failure` must be one of: dlq, retry, skip, stop", ""),
    ("bad-mode", "mode: batch\ncommands: [{shell: a}]\n",
     "P113", 1, 7, "`mode` must be one of: standard, mapreduce (got 'batch')", ""),
    ("no-command", "commands:\n  - shell: a\n  - description: later\n    timeout: 5\n",
     "P114", 3, 5, "step `commands[1]` has no command", "claude, shell"),
    ("two-commands", "- claude: /lint\n  shell: cargo fmt\n",
     "P115", 2, 3, "step 1 has several commands (`claude` and `shell`)", "one step per command"),
    ("nested-two-commands", "- shell: a\n  on_success:\n    shell: b\n    claude: /c\n",
     "P115", 4, 5, "step `[0].on_success` has several commands", ""),
    ("max-parallel-zero", "mode: mapreduce\nmap:\n  input: x\n  max_parallel: 0\n"
     "  agent_template: [{shell: b}]\n",
     "P116", 4, 17, "`map.max_parallel` must be at least 1 (got 0)", "at least 1"),
    ("max-parallel-word", "mode: mapreduce\nmap:\n  input: x\n  max_parallel: lots\n"
     "  agent_template: [{shell: b}]\n",
     "P116", 4, 17, "must be a whole number or a variable reference", ""),
    ("exit-code-key", "- shell: a\n  on_exit_code:\n    abc: {shell: b}\n",
     "P116", 3, 5, "'abc' is not a valid key in `[0].on_exit_code`", ""),
    ("file-mode", "- write_file: {path: a, content: b, mode: '999'}\n",
     "P116", 1, 43, "octal permissions such as \"0644\"", ""),
    ("empty-shell", "- shell: ''\n", "P116", 1, 10, "`[0].shell` must not be empty", ""),
    ("items-twice", "- foreach:\n    items: [a]\n    foreach: ls\n    do: [{shell: x}]\n",
     "P116", 2, 5, "names its items twice", ""),
    ("commands-and-steps", "commands: [{shell: a}]\nsteps: [{shell: b}]\n",
     "P116", 1, 1, "both `commands:` and `steps:`", ""),
]


@pytest.mark.parametrize(("text", "code", "line", "col", "message", "hint"),
                         [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS])
def test_error_is_reported_plainly_at_its_position(text: str, code: str, line: int, col: int,
                                                   message: str, hint: str) -> None:
    found = check(text)
    hits = [d for d in found if d.code == code and d.span is not None
            and (d.span.line, d.span.col) == (line, col)]
    listing = [(d.code, str(d.span), d.message) for d in found]
    assert hits, f"no {code} at {line}:{col}; got {listing}"
    diag = hits[0]
    assert message in diag.message
    assert hint in diag.effective_hint and diag.effective_hint.strip()
    assert "is not valid under any of the given schemas" not in diag.message


def test_a_value_breaking_two_rules_is_reported_once() -> None:
    found = check("mode: 123\ncommands: [{shell: a}]\n")
    assert [(d.code, d.span.line if d.span else 0) for d in found] == [("P111", 1)]


def test_a_misspelt_command_key_is_not_also_reported_as_missing() -> None:
    found = check("- shel: make\n")
    assert [d.code for d in found] == ["P110"]
    assert found[0].effective_hint == "did you mean 'shell'?"


def test_every_problem_is_reported_sorted_by_position() -> None:
    found = check("- shell: a\n  timout: 1\n- claude: /b\n  capture_format: xml\n- retry: 3\n")
    assert [(d.code, d.span.line) for d in found if d.span] == [
        ("P110", 2), ("P113", 4), ("P114", 5)]


VALID = [
    ("bare-list-of-strings", "- /prodigy-lint --fix\n- prodigy-code-review\n"),
    ("legacy-name-objects", "- name: prodigy-lint\n  args: [src]\n  options: {fix: true}\n"
     "  metadata: {continue_on_error: true, env: {A: b}}\n"
     "  outputs: {spec: {file_pattern: '*.md'}}\n  analysis: {max_cache_age: 60}\n"),
    ("steps-alias", "name: x\nsteps:\n  - shell: a\n"),
    ("on-failure-every-form", """\
- shell: a
  on_failure: true
- shell: a
  on_failure: "npm ci"
- shell: a
  on_failure: ["cargo clean", "/fix-build"]
- shell: a
  on_failure:
    - shell: rollback.sh
    - claude: /diagnose
- shell: a
  on_failure: {strategy: recovery, commands: [{shell: b}], timeout: 30, fail_workflow: false,
               handler_failure_fatal: true, capture: {}}
- shell: a
  on_failure: {claude: /fix, max_attempts: 3, fail_workflow: true, commit_required: true,
               on_success: {shell: a}, on_failure: {shell: notify}}
"""),
    ("retry-forms", """\
- shell: a
  retry: 3
- shell: a
  retry: {attempts: 5, backoff: fibonacci, initial_delay: 1s, max_delay: "30s", jitter: true,
          jitter_factor: 0.2, retry_on: [network, {pattern: "5\\\\d\\\\d"}], retry_budget: 5m,
          on_failure: {fallback: {command: echo}}}
- shell: a
  retry: {backoff: {linear: {increment: 2s}}}
- shell: a
  retry: {backoff: {custom: {delays: [1s, 5s, 1m]}}}
- shell: a
  retry_config: {attempts: 2, backoff: {type: exponential, base: 2.0}}
"""),
    ("capture-forms", """\
- shell: a
  capture: build.result
  capture_format: json
  capture_streams: {stdout: true, stderr: true, exit_code: true, success: true}
- shell: b
  capture_output: result
  capture_streams: both
"""),
    ("foreach-spellings", """\
- foreach:
    foreach: "find . -name '*.rs'"
    parallel: 4
    do: [{shell: "rustfmt ${item}"}]
- foreach:
    items: [a, b]
    parallel: true
    continue_on_error: true
    max_items: 10
    do: [{claude: "/x ${item}"}]
"""),
    ("other-commands", """\
- write_file: {path: out.json, content: {a: 1}, format: json, mode: "0644", create_dirs: true}
- write_file: {path: out.txt, content: hi, mode: 0755}
- analyze: {max_cache_age: 300, force_refresh: false, save: true, format: summary}
- goal_seek: {goal: tests pass, command: "claude: /fix", validate: "cargo test", threshold: 90}
- test: {command: cargo test, on_failure: {claude: /debug}}
- handler: {name: git, attributes: {op: status}}
- command: /legacy
- validate:
    claude: /check
    result_file: r.json
    threshold: 80
    on_incomplete: {claude: /complete, max_attempts: 3, fail_workflow: false}
- shell: a
  step_validate: ["cargo test", "claude: /check"]
- shell: a
  step_validate: {commands: [{command: test -f x, expect_exit_code: 0}],
                  success_criteria: {at_least: 1}}
- shell: a
  validate: [{shell: check.sh}]
  on_exit_code: {"0": {shell: ok}, "-1": {claude: /fix}}
"""),
    ("mapreduce-full", """\
name: full
mode: mapreduce
env:
  PLAIN: text
  NUMBER: 5
  FLAG: true
  TOKEN: {secret: true, value: "${GITHUB_TOKEN}"}
  WORKERS: {command: nproc, cache: true}
  STAGE: {condition: "${branch} == 'main'", when_true: prod, when_false: dev}
  URL: {default: "http://localhost", prod: "https://x"}
secrets:
  API_KEY: SECRET_API_KEY
  DB: {provider: vault, key: db/pass, version: 2}
env_files: [.env]
profiles:
  dev: {description: local, PLAIN: other}
setup:
  commands: [{shell: "make items > items.json"}]
  timeout: $SETUP_TIMEOUT
  capture_outputs:
    COUNT: 0
    DETAIL: {command_index: 0, source: stdout, json_path: "$.n", multiline: join}
map:
  input: items.json
  json_path: "$.items[*]"
  agent_template:
    commands: [{claude: "/fix ${item.path}", commit_required: true}]
  max_parallel: "${WORKERS}"
  filter: "priority > 2"
  sort_by: "priority DESC"
  max_items: 10
  offset: 2
  distinct: id
  agent_timeout_secs: 600
  timeout_config: {timeout_policy: PerAgent, timeout_action: dlq, command_timeouts: {claude: 60}}
reduce:
  commands: [{shell: "echo ${map.successful}"}]
merge:
  commands: [{shell: git merge}]
  timeout: 600
error_policy:
  on_item_failure: {custom: page-oncall}
  error_collection: batched:5
  circuit_breaker: {failure_threshold: 3, timeout: 30s}
  retry_config: {max_attempts: 3, backoff: exponential}
continue_on_failure: true
max_failures: 5
failure_threshold: 0.2
"""),
    ("composition-and-tasks", """\
.shared: &shared
  - shell: make
imports: ["common.yml", {path: lib.yml, alias: lib}]
template: {name: ci, source: templates/ci.yml, with: {lang: rust}}
extends: base
parameters:
  target: {type: string, required: true, description: what to build}
defaults: {target: all}
workflows:
  api: {source: api.yml, parallel: true, outputs: [coverage]}
worktree_config:
  parallel_worktrees: 4
  allocation_strategy: pooled
  cleanup_policy: {idle_timeout_secs: 60, keep_failed: true}
tasks:
  - name: A
    worktree: experiment-a
    commands: *shared
max_iterations: 3
retry_defaults: {attempts: 2}
"""),
]


@pytest.mark.parametrize("text", [case[1] for case in VALID], ids=[case[0] for case in VALID])
def test_documented_forms_are_accepted(text: str) -> None:
    assert [(d.code, str(d.span), d.message) for d in check(text)] == []


@pytest.mark.parametrize("data", [
    None, 0, 1.5, float("nan"), "text", True, [], {}, [None], [[]], {"commands": None},
    {"commands": [{}]}, {"mode": None}, {"mode": "mapreduce"}, {"mode": "mapreduce", "map": []},
    [{"on_failure": {"on_failure": {"on_failure": 1}}}], {1: 2}, ["x" * 10_000],
])
def test_any_json_like_value_gives_diagnostics_not_exceptions(data: Any) -> None:
    found = check_schema(data, SourceMap("wf.yml", ""))
    assert all(isinstance(d, Diagnostic) for d in found)


def test_pathologically_deep_data_is_a_diagnostic() -> None:
    data: Any = "x"
    for _ in range(5000):
        data = [data]
    found = check_schema(data, SourceMap("wf.yml", ""))
    assert found and all(d.span is not None for d in found)


def test_path_text() -> None:
    assert path_text(("map", "agent_template", 0, "shell")) == "map.agent_template[0].shell"
    assert path_text((2, "on_failure")) == "[2].on_failure"
    assert path_text(()) == ""


# ----- the schema itself -------------------------------------------------------------------------


def _subschemas(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _subschemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _subschemas(value, f"{where}/{index}")


def test_schema_is_valid_draft_2020_12_with_an_id() -> None:
    workflow = schema("workflow.schema.json")
    Draft202012Validator.check_schema(workflow)
    assert workflow["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert workflow["$id"]
    assert "$defs" in workflow


def _conditional(where: str) -> bool:
    # Subschemas under `if`/`not` only test a value; editors never show them, nor do we.
    return "/if" in where or "/not" in where


def test_every_property_has_a_description() -> None:
    missing = [
        f"{where}/{name}"
        for where, node in _subschemas(schema("workflow.schema.json"))
        if isinstance(node.get("properties"), dict) and not _conditional(where)
        for name, prop in node["properties"].items()
        if not (isinstance(prop, dict) and prop.get("description"))
    ]
    assert missing == []


def test_every_alternative_explains_itself_in_words() -> None:
    # Each oneOf/anyOf needs `x-accepts` (or its own message) so its failure reads as one
    # sentence; `if` conditions are never reported, so they are exempt.
    bare = [
        where for where, node in _subschemas(schema("workflow.schema.json"))
        if ("anyOf" in node or "oneOf" in node) and not _conditional(where)
        and not {"x-accepts", "x-message", "x-rule"} & set(node)
    ]
    assert bare == []


def test_unknown_keys_are_errors_everywhere_steps_can_appear() -> None:
    defs = schema("workflow.schema.json")["$defs"]
    for name in ("stepObject", "map", "standardWorkflow", "mapReduceWorkflow", "retry",
                 "onFailureObject", "validateObject", "writeFile", "foreach"):
        assert defs[name]["additionalProperties"] is False, name


def test_the_validator_is_built_once() -> None:
    assert _validator() is _validator()


def test_schema_file_is_stable_json() -> None:
    workflow = schema("workflow.schema.json")
    assert json.loads(json.dumps(workflow)) == workflow
