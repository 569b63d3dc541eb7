"""Every accepted surface form normalizes to the expected model value."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import pytest

from prodigy.compiler.commands.analyze import Analyze
from prodigy.compiler.commands.claude import Claude
from prodigy.compiler.commands.foreach import Foreach
from prodigy.compiler.commands.goal_seek import GoalSeek
from prodigy.compiler.commands.shell import Shell
from prodigy.compiler.commands.write_file import WriteFile
from prodigy.compiler.model import Handler, Step
from prodigy.compiler.model_workflow import (
    EnvCommand,
    EnvCondition,
    EnvSecretRef,
    EnvText,
    Workflow,
)
from prodigy.compiler.normalize import normalize
from prodigy.compiler.schema_check import check_schema
from prodigy.compiler.source import load_text
from prodigy.runtime.diagnostics import Diagnostic
from prodigy.runtime.policies import CircuitBreakerPolicy, ErrorPolicy, RetryPolicy


def _normalize(text: str, args: Mapping[str, str] | None = None, profile: str | None = None,
               environ: Mapping[str, str] | None = None
               ) -> tuple[Workflow | None, list[Diagnostic]]:
    loaded = load_text(textwrap.dedent(text), "wf.yml")
    assert loaded.ok, loaded.diagnostics
    assert check_schema(loaded.data, loaded.source_map) == []
    return normalize(loaded.data, loaded.source_map, args, profile, environ or {})


def model(text: str, **kwargs: object) -> Workflow:
    found, diagnostics = _normalize(text, **kwargs)  # type: ignore[arg-type]
    assert diagnostics == []
    assert found is not None
    return found


def codes(text: str, **kwargs: object) -> list[str]:
    return [d.code for d in _normalize(text, **kwargs)[1]]  # type: ignore[arg-type]


def steps(text: str) -> tuple[Step, ...]:
    workflow = model(text)
    assert workflow.main is not None
    return workflow.main.steps


def one(text: str) -> Step:
    (step,) = steps(text)
    return step


# ------------------------------------------------------------------------------ file shapes


def test_bare_list_commands_and_steps_are_the_same_workflow() -> None:
    bare = steps("- shell: make\n- claude: /lint\n")
    listed = steps("commands:\n  - shell: make\n  - claude: /lint\n")
    named = steps("steps:\n  - shell: make\n  - claude: /lint\n")
    assert [type(s.command) for s in bare] == [Shell, Claude]
    for found in (listed, named):
        assert [s.command.command.value if isinstance(s.command, Shell)  # type: ignore[union-attr]
                else s.command.prompt.value for s in found] == ["make", "/lint"]  # type: ignore[union-attr]
    assert model("commands: []\n").main.steps == ()  # type: ignore[union-attr]


def test_workflow_metadata() -> None:
    found = model("""
        name: demo
        description: what it does
        version: 2
        max_iterations: 3
        timeout: 600
        commands: [{shell: make}]
        """)
    assert (found.name, found.description, found.version) == ("demo", "what it does", "2")
    assert (found.max_iterations, found.timeout_s, found.mode) == (3, 600, "standard")


# ---------------------------------------------------------------------------- legacy forms


def test_legacy_string_commands_are_claude_commands_with_their_arguments() -> None:
    first, second = steps('- prodigy-lint\n- "/prodigy-implement-spec $ARG --focus x"\n')
    assert isinstance(first.command, Claude) and first.command.prompt.value == "/prodigy-lint"
    assert isinstance(second.command, Claude)
    assert second.command.prompt.value == "/prodigy-implement-spec $ARG --focus x"


def test_legacy_name_objects_become_claude_commands() -> None:
    step = one("""
        - name: prodigy-code-review
          args: [src, 3]
          options: {focus: security, verbose: true, quiet: false}
          metadata: {retries: 2, timeout: 60, commit_required: true, env: {A: "1"}}
        """)
    assert isinstance(step.command, Claude)
    assert step.command.prompt.value == "/prodigy-code-review src 3 --focus security --verbose"
    assert step.retry is not None and step.retry.attempts == 3
    assert (step.timeout_s, step.commit_required) == (60, True)
    assert [(k, v.value) for k, v in step.env] == [("A", "1")]


def test_name_next_to_a_command_is_a_label() -> None:
    step = one('- name: "Build it"\n  shell: make\n')
    assert isinstance(step.command, Shell) and step.label == "Build it"
    assert one('- description: "Build"\n  shell: make\n').label == "Build"


def test_command_field_picks_claude_or_shell() -> None:
    first, second = steps("- command: /prodigy-lint\n- command: make lint\n")
    assert isinstance(first.command, Claude) and isinstance(second.command, Shell)


def test_test_step_is_shell_plus_on_failure() -> None:
    step = one("""
        - test:
            command: cargo test
            on_failure: {claude: "/fix ${shell.output}", max_attempts: 3, fail_workflow: true}
        """)
    assert isinstance(step.command, Shell) and step.command.command.value == "cargo test"
    assert step.on_failure is not None
    assert (step.on_failure.max_attempts, step.on_failure.fail_workflow) == (3, True)
    assert isinstance(step.on_failure.steps[0].command, Claude)


def test_analysis_on_a_command_runs_an_analysis_first() -> None:
    step = one("- claude: /x\n  analysis: {max_cache_age: 60, force_refresh: true}\n")
    assert step.analysis == Analyze(60, True, True, "summary", step.analysis.span)  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- on_failure


def _handler(value: str) -> Handler:
    step = one(f"- shell: make\n  on_failure: {value}\n")
    assert step.on_failure is not None
    return step.on_failure


def _kinds(handler: Handler) -> list[str]:
    return [type(s.command).__name__ for s in handler.steps]


@pytest.mark.parametrize(("value", "kinds", "attempts", "fail"), [
    ("true", [], 1, False),
    ('"/fix it"', ["Claude"], 1, False),
    ('"make clean"', ["Shell"], 1, False),
    ('["/fix", "make clean"]', ["Claude", "Shell"], 1, False),
    ("[{shell: a}, {claude: /b}]", ["Shell", "Claude"], 1, False),
    ("{claude: /fix, max_attempts: 3, fail_workflow: true}", ["Claude"], 3, True),
    ("{shell: fix, max_retries: 2}", ["Shell"], 3, False),
    ("{claude: /fix, retry_original: true}", ["Claude"], 2, False),
    ("{commands: [{shell: a}, {claude: /b}], strategy: cleanup}", ["Shell", "Claude"], 1,
     False),
    ("{}", [], 1, False),
])
def test_every_on_failure_form_is_one_handler(value: str, kinds: list[str], attempts: int,
                                              fail: bool) -> None:
    handler = _handler(value)
    assert (_kinds(handler), handler.max_attempts, handler.fail_workflow) == (kinds, attempts,
                                                                              fail)


def test_on_failure_false_means_no_handler() -> None:
    assert one("- shell: make\n  on_failure: false\n").on_failure is None


def test_detailed_handler_options() -> None:
    handler = _handler("{commands: [{shell: a}], strategy: fallback, timeout: 30, "
                       "handler_failure_fatal: true, continue_on_error: true}")
    assert (handler.strategy, handler.timeout_s, handler.handler_failure_fatal) == (
        "fallback", 30, True)
    # continue_on_error: a failing handler command does not stop the handler
    assert handler.steps[0].on_failure is not None
    assert handler.steps[0].on_failure.fail_workflow is False


def test_handler_command_options_nest() -> None:
    handler = _handler("{claude: /fix, commit_required: true, capture_output: fix, "
                       "description: repair, on_success: {shell: verify}, "
                       "on_failure: {shell: report}}")
    (step,) = handler.steps
    assert step.commit_required and step.label == "repair"
    assert step.capture is not None and step.capture.name == "fix"
    assert isinstance(step.on_success[0].command, Shell)
    assert step.on_failure is not None and _kinds(step.on_failure) == ["Shell"]


@pytest.mark.parametrize("option", ["allow_failure: true", "continue_on_error: true",
                                    "fail_workflow: false"])
def test_tolerated_failures_become_non_fatal_handlers(option: str) -> None:
    step = one(f"- shell: make\n  {option}\n")
    assert step.on_failure is not None and not step.on_failure.fail_workflow


def test_fail_workflow_true_makes_the_handler_fatal() -> None:
    step = one("- shell: make\n  fail_workflow: true\n  on_failure: {shell: fix}\n")
    assert step.on_failure is not None and step.on_failure.fail_workflow


def test_conflicting_handlers_are_reported() -> None:
    assert "P118" in codes("- test: {command: a, on_failure: {claude: /b}}\n"
                           "  on_failure: {shell: c}\n")
    assert "P119" in codes("- shell: a\n  on_failure: {shell: b, capture: {x: 1}}\n")


# ------------------------------------------------------------------------------- captures


def test_capture_output_true_and_name() -> None:
    first, second = steps("- shell: a\n  capture_output: true\n"
                          "- shell: b\n  capture_output: out\n")
    assert first.capture is not None and first.capture.name == "CAPTURED_OUTPUT"
    assert second.capture is not None and second.capture.name == "out"
    assert one("- shell: a\n  capture_output: false\n").capture is None


def test_capture_with_format_and_streams() -> None:
    step = one("- shell: a\n  capture: n\n  capture_format: number\n"
               "  capture_streams: both\n")
    assert step.capture is not None
    assert (step.capture.name, step.capture.format) == ("n", "number")
    assert dict(step.capture.streams) == {"stdout": True, "stderr": True, "exit_code": True,
                                          "success": True, "duration": True}
    mapped = one("- shell: a\n  capture: m\n  capture_format: text\n"
                 "  capture_streams: {stderr: true, duration: false}\n")
    assert mapped.capture is not None and mapped.capture.format == "string"
    assert dict(mapped.capture.streams)["stderr"] is True
    assert dict(mapped.capture.streams)["duration"] is False


def test_capture_conflicts_and_missing_names() -> None:
    assert codes("- shell: a\n  capture: x\n  capture_output: y\n") == ["P118"]
    assert codes("- shell: a\n  capture_format: json\n") == ["P112"]
    step = one("- shell: a\n  capture: x\n  capture_output: x\n")
    assert step.capture is not None and step.capture.name == "x"


def test_output_file_and_its_alias() -> None:
    step = one("- shell: a\n  output: out.txt\n")
    assert step.output_file is not None and step.output_file.value == "out.txt"
    assert codes("- shell: a\n  output: a\n  output_file: b\n") == ["P118"]


# ------------------------------------------------------------------------ commands kinds


def test_write_file_mode_keeps_its_octal_text() -> None:
    step = one("- write_file: {path: a.sh, content: 42, mode: 0755, create_dirs: true}\n")
    assert isinstance(step.command, WriteFile)
    assert (step.command.mode, step.command.content.value, step.command.format) == (
        "0755", "42", "text")
    short = one("- write_file: {path: a, content: b, mode: 644, format: json}\n")
    assert isinstance(short.command, WriteFile) and short.command.mode == "0644"


@pytest.mark.parametrize("key", ["foreach", "items", "input"])
def test_foreach_spellings(key: str) -> None:
    step = one(f"- foreach:\n    {key}: [a, 2, true]\n    do: [{{shell: 'echo ${{item}}'}}]\n")
    assert isinstance(step.command, Foreach)
    assert step.command.items == ("a", "2", "true") and step.command.command is None


@pytest.mark.parametrize(("parallel", "workers"), [("false", 1), ("true", 10), ("4", 4)])
def test_foreach_parallel(parallel: str, workers: int) -> None:
    step = one(f"- foreach:\n    foreach: ls\n    parallel: {parallel}\n"
               "    continue_on_error: true\n    max_items: 5\n    do: [{shell: x}]\n")
    assert isinstance(step.command, Foreach)
    assert step.command.command is not None and step.command.command.value == "ls"
    assert (step.command.parallel, step.command.max_items) == (workers, 5)
    assert step.command.continue_on_error


def test_goal_seek_and_analyze() -> None:
    seek, analyze = steps("""
        - goal_seek: {goal: better, claude: /improve, validate: ./score.sh, threshold: 80}
        - analyze: {max_cache_age: 10, force_refresh: true, save: false, format: detailed}
        """)
    assert isinstance(seek.command, GoalSeek)
    assert (seek.command.threshold, seek.command.max_attempts) == (80, 3)
    assert isinstance(seek.command.attempt.command, Claude)
    assert isinstance(analyze.command, Analyze)
    assert (analyze.command.max_cache_age_s, analyze.command.format) == (10, "detailed")


def test_unsupported_modular_handler() -> None:
    assert codes("- handler: {name: notify}\n") == ["P119"]


# ------------------------------------------------------------------------------ validation


def test_validate_object_form() -> None:
    step = one("""
        - claude: /impl
          validate:
            claude: /check
            result_file: out.json
            threshold: 80
            timeout: 60
            on_incomplete:
              claude: "/complete ${validation.gaps}"
              max_attempts: 4
              fail_workflow: false
        """)
    validation = step.validation
    assert validation is not None and validation.on_incomplete is not None
    assert validation.result_file is not None and validation.result_file.value == "out.json"
    assert (validation.threshold, validation.timeout_s) == (80, 60)
    assert (validation.on_incomplete.max_attempts,
            validation.on_incomplete.fail_workflow) == (4, False)


def test_validate_array_forms_and_defaults() -> None:
    step = one("- shell: a\n  validate: [{shell: check}]\n")
    assert step.validation is not None and len(step.validation.steps) == 1
    assert (step.validation.threshold, step.validation.on_incomplete) == (100, None)
    listed = one("- shell: a\n  validate: {shell: c, on_incomplete: [{shell: fix}]}\n")
    assert listed.validation is not None and listed.validation.on_incomplete is not None
    assert (listed.validation.on_incomplete.max_attempts,
            listed.validation.on_incomplete.fail_workflow) == (2, True)
    legacy = one("- shell: a\n  validate: {command: check}\n")
    assert legacy.validation is not None
    assert isinstance(legacy.validation.steps[0].command, Shell)


def test_validate_only_step() -> None:
    step = one("- validate: {shell: check}\n")
    assert step.command is None and step.validation is not None


def test_step_validate_forms() -> None:
    step = one("- shell: a\n  step_validate: ['test -f x', 'claude: /check']\n"
               "  validation_timeout: 5\n  ignore_validation_failure: true\n")
    assert step.verify is not None
    assert [c.runner for c in step.verify.checks] == ["shell", "claude"]
    assert step.verify.checks[1].command.value == "/check"
    assert (step.verify.timeout_s, step.verify.fail_workflow) == (5, False)
    detailed = one("- shell: a\n  step_validate:\n    commands: [{command: x, expect_exit_code: 2}]"
                   "\n    success_criteria: {at_least: 1}\n    max_attempts: 2\n")
    assert detailed.verify is not None
    assert (detailed.verify.criteria, detailed.verify.at_least) == ("at_least", 1)
    assert one("- shell: a\n  step_validate: x\n  skip_validation: true\n").verify is None


# ----------------------------------------------------------------------------------- retry


def test_retry_and_backoff_forms() -> None:
    step = one("""
        - shell: a
          retry:
            attempts: 4
            backoff: {linear: {initial: 2s, increment: 500ms, max_delay: 1m}}
            jitter: true
            retry_on: [network, {pattern: "5\\\\d\\\\d"}]
            retry_budget: 5m
        """)
    retry = step.retry
    assert retry is not None
    assert (retry.attempts, retry.backoff, retry.initial_delay_s, retry.increment_s,
            retry.max_delay_s) == (4, "linear", 2, 0.5, 60)
    assert (retry.retry_on, retry.retry_on_patterns, retry.budget_s) == (
        ("network",), ("5\\d\\d",), 300)
    custom = one("- shell: a\n  retry: {backoff: {custom: {delays: [1s, 2]}}}\n").retry
    assert custom is not None and custom.delays_s == (1, 2) and custom.attempts == 3
    typed = one("- shell: a\n  retry: {backoff: {type: exponential, base: 3}}\n").retry
    assert typed is not None and (typed.backoff, typed.base) == ("exponential", 3)


def test_retry_defaults_apply_to_commands_without_their_own() -> None:
    found = steps("""
        retry_defaults: {attempts: 5}
        commands:
          - shell: a
          - shell: b
            retry: {attempts: 2}
          - shell: c
            max_attempts: 7
        """.replace("retry_defaults", "retry_defaults", 1))
    assert [s.retry.attempts for s in found] == [5, 2, 7]  # type: ignore[union-attr]


def test_retry_exhaustion_policies() -> None:
    fallback = one("- shell: a\n  retry: {on_failure: {fallback: {command: /fix}}}\n")
    assert fallback.on_failure is not None and fallback.on_failure.strategy == "fallback"
    assert isinstance(fallback.on_failure.steps[0].command, Claude)
    carry_on = one("- shell: a\n  retry: {on_failure: continue}\n")
    assert carry_on.on_failure is not None and not carry_on.on_failure.fail_workflow
    assert one("- shell: a\n  retry_config: {attempts: 2}\n").retry.attempts == 2  # type: ignore[union-attr]

def test_policies_are_the_runtimes_own_classes_and_defaults() -> None:
    # One definition: the normalizer builds the runtime's classes, and every key a workflow
    # leaves out takes the default the runtime declares.
    assert one("- shell: a\n  retry: {}\n").retry == RetryPolicy()
    assert one("- shell: a\n  max_attempts: 4\n").retry == RetryPolicy(attempts=4)
    found = model("""
        name: mr
        mode: mapreduce
        map: {input: x.json, agent_template: [{shell: b}]}
        error_policy: {circuit_breaker: {}, retry_config: {}}
        """)
    assert found.error_policy == ErrorPolicy(circuit_breaker=CircuitBreakerPolicy(),
                                             retry=RetryPolicy())


# ------------------------------------------------------------------------------- mapreduce


MAPREDUCE = """
    name: mr
    mode: mapreduce
    env: {WORKERS: "3", AGENT_TIMEOUT: "90"}
    setup:
      timeout: 300
      commands:
        - shell: "echo '{\\"items\\": []}' > items.json"
        - shell: "git rev-parse HEAD"
      capture_outputs:
        HEAD: 1
        FIRST: {command_index: 0, pattern: "(\\\\w+)", multiline: first_line}
    map:
      input: items.json
      json_path: "$.items[*]"
      filter: "priority > 2"
      sort_by: "priority DESC"
      distinct: id
      offset: 1
      max_items: 7
      max_parallel: ${WORKERS}
      timeout_config: {agent_timeout_secs: "$AGENT_TIMEOUT", timeout_policy: PerCommand,
                       timeout_action: GracefulTerminate, command_timeouts: {claude: 60}}
      agent_template:
        commands:
          - claude: "/fix ${item.path}"
    reduce:
      commands:
        - shell: "echo ${map.successful}"
    merge:
      timeout: 120
      commands:
        - shell: "echo ${merge.source_branch}"
    error_policy: {on_item_failure: retry, max_failures: 3, error_collection: "batched:5"}
    on_item_failure: skip
    """


def test_mapreduce_nested_forms() -> None:
    found = model(MAPREDUCE)
    assert found.mode == "mapreduce" and found.setup is not None and found.map is not None
    assert found.setup.timeout_s == 300 and len(found.setup.steps) == 2
    assert [e.name for e in found.setup.steps[1].extracts] == ["HEAD"]
    first = found.setup.steps[0].extracts[0]
    assert (first.name, first.pattern, first.multiline) == ("FIRST", "(\\w+)", "first_line")
    mapping = found.map
    assert (mapping.max_parallel, mapping.agent_timeout_s, mapping.offset, mapping.max_items,
            mapping.distinct) == (3, 90, 1, 7, "id")
    assert mapping.timeouts is not None
    assert (mapping.timeouts.policy, mapping.timeouts.action) == ("per_command",
                                                                  "graceful_terminate")
    assert mapping.timeouts.command_timeouts == (("claude", 60),)
    assert len(mapping.agent) == 1 and isinstance(mapping.agent[0].command, Claude)
    assert found.reduce is not None and len(found.reduce.steps) == 1
    assert found.merge is not None and found.merge.timeout_s == 120
    policy = found.error_policy
    assert policy is not None
    # top-level convenience keys override error_policy's
    assert (policy.on_item_failure, policy.max_failures, policy.error_collection,
            policy.batch_size) == ("skip", 3, "batched", 5)


def test_mapreduce_list_forms() -> None:
    found = model("""
        name: mr
        mode: mapreduce
        setup: [{shell: a}]
        map: {input: x.json, agent_template: [{shell: b}], max_parallel: 2}
        reduce: [{shell: c}]
        merge: [{shell: d}]
        """)
    assert [len(p.steps) for p in found.phases] == [1, 1, 1]
    assert found.map is not None and found.map.max_parallel == 2


@pytest.mark.parametrize(("value", "args", "environ", "expected"), [
    ('"${N}"', {"N": "6"}, {}, 6),
    ('"$N"', None, {"N": "7"}, 7),
    ("8", None, {}, 8),
])
def test_max_parallel_from_variables(value: str, args: dict[str, str] | None,
                                     environ: dict[str, str], expected: int) -> None:
    found = model(f"name: m\nmode: mapreduce\nmap: {{input: x, agent_template: [{{shell: a}}], "
                  f"max_parallel: {value}}}\n", args=args, environ=environ)
    assert found.map is not None and found.map.max_parallel == expected


def test_max_parallel_unresolved_or_not_a_number() -> None:
    text = "name: m\nmode: mapreduce\nenv: {N: many}\nmap: {input: x, max_parallel: '${%s}', " \
           "agent_template: [{shell: a}]}\n"
    assert codes(text % "MISSING") == ["P209"]
    assert codes(text % "N") == ["P209"]


# ------------------------------------------------------------------------- env and secrets


def test_env_values_keep_their_source_text() -> None:
    found = model("""
        env:
          A: production
          B: 0644
          C: true
          D: {command: "nproc", cache: true}
          E: {condition: "${A} == 'production'", when_true: fast, when_false: slow}
          F: {secret: true, value: "${GITHUB_TOKEN}"}
          G: {provider: file, key: /run/secret}
          H: {value: plain, description: documented}
        commands: [{shell: a}]
        """)
    values = {var.name: var.value for var in found.env}
    assert [values[k].text.value for k in "ABC"] == ["production", "0644", "true"]  # type: ignore[union-attr]
    assert isinstance(values["D"], EnvCommand) and values["D"].cache
    assert isinstance(values["E"], EnvCondition) and values["E"].when_false.value == "slow"
    assert values["F"] == EnvSecretRef("env", "GITHUB_TOKEN", None)
    assert values["G"] == EnvSecretRef("file", "/run/secret", None)
    assert isinstance(values["H"], EnvText) and values["H"].text.value == "plain"


def test_secret_values_are_never_literal() -> None:
    assert codes("env: {T: {secret: true, value: hunter2}}\ncommands: [{shell: a}]\n") == [
        "P117"]
    assert codes("env: {T: {secret: true, command: cat key}}\ncommands: [{shell: a}]\n") == [
        "P119"]


def test_secrets_forms_keep_names_only() -> None:
    found = model("""
        secrets:
          A: API_KEY
          B: "${env:OTHER_KEY}"
          C: {provider: vault, key: secret/path, version: 2}
          D: {secret: true, value: "$TOKEN"}
        commands: [{shell: a}]
        """)
    assert {var.name: var.value for var in found.secrets} == {
        "A": EnvSecretRef("env", "API_KEY", None),
        "B": EnvSecretRef("env", "OTHER_KEY", None),
        "C": EnvSecretRef("vault", "secret/path", "2"),
        "D": EnvSecretRef("env", "TOKEN", None),
    }
    assert codes("secrets: {A: 'not a name'}\ncommands: [{shell: a}]\n") == ["P113"]


PROFILED = """
    env:
      MODE: prod
      URL: {default: "https://x", dev: "http://localhost"}
    env_files: [.env, .env.local]
    profiles:
      dev: {description: local, MODE: dev}
      ci: {MODE: ci}
    commands: [{shell: a}]
    """


def test_profiles_apply_on_top_of_env() -> None:
    plain = model(PROFILED)
    assert {v.name: v.value.text.value for v in plain.env} == {  # type: ignore[union-attr]
        "MODE": "prod", "URL": "https://x"}
    assert [f.value for f in plain.env_files] == [".env", ".env.local"]
    dev = model(PROFILED, profile="dev")
    assert dev.profile == "dev"
    assert {v.name: v.value.text.value for v in dev.env} == {  # type: ignore[union-attr]
        "MODE": "dev", "URL": "http://localhost"}
    assert [p.name for p in dev.profiles] == ["dev", "ci"]
    assert dev.profiles[0].description == "local"


def test_unknown_profile() -> None:
    _, diagnostics = _normalize(PROFILED, profile="staging")
    assert [d.code for d in diagnostics] == ["P502"] and diagnostics[0].span is not None
    assert "dev, ci" in (diagnostics[0].hint or "")
    assert codes(PROFILED + "active_profile: nope\n") == ["P502"]
    assert model(PROFILED + "active_profile: ci\n").profile == "ci"


# ------------------------------------------------------------------- arguments, parameters


def test_args_bind_arg_arg_n_and_positionals() -> None:
    found = model("- shell: echo $ARG\n", args={"ARG": "42"})
    assert dict(found.args) == {"ARG": "42", "ARG_1": "42", "1": "42"}
    named = model("- shell: echo $X\n", args={"X": "y", "ARG_2": "b"})
    assert dict(named.args) == {"X": "y", "ARG_2": "b", "2": "b"}


def test_parameters_defaults_and_types() -> None:
    text = """
        parameters:
          target: {type: string, required: true}
          jobs: {type: integer, default: 4}
          mode: {type: string, validation: "fast|slow"}
        defaults: {extra: "1"}
        commands: [{shell: a}]
        """
    found = model(text, args={"target": "x", "mode": "fast"})
    assert dict(found.args) == {"target": "x", "jobs": "4", "mode": "fast", "extra": "1"}
    assert codes(text) == ["P503"]
    assert codes(text, args={"target": "x", "jobs": "many"}) == ["P504"]
    assert codes(text, args={"target": "x", "mode": "medium"}) == ["P504"]


def test_file_local_templates_are_reported() -> None:
    # Composition proper is compiled away before normalization (tests/compiler/test_compose.py).
    assert codes("templates: {t: {commands: [{shell: a}]}}\ncommands: [{shell: a}]\n") == [
        "P119"]


def test_checkpoint_and_worktree_settings() -> None:
    found = model("""
        checkpoint: {interval_items: 10, interval_duration: 5m, max_checkpoints: 3}
        worktree_config: {parallel_worktrees: 2, allocation_strategy: OnDemand,
                          cleanup_policy: {keep_failed: true}}
        commands: [{shell: a}]
        """)
    assert found.checkpoint is not None
    assert (found.checkpoint.interval_items, found.checkpoint.interval_s) == (10, 300)
    assert found.worktree is not None
    assert found.worktree.allocation_strategy == "on_demand"
    assert found.worktree.cleanup == (("keep_failed", True),)


def test_exit_code_handlers_sorted_by_code() -> None:
    step = one("- shell: a\n  on_exit_code:\n    '2': {shell: b}\n    0: {shell: c}\n")
    assert [h.code for h in step.on_exit_code] == [0, 2]


def test_when_id_env_working_dir_timeouts() -> None:
    step = one("- shell: a\n  id: build\n  when: '${x} == 1'\n  env: {N: 1}\n"
               "  working_dir: sub\n  timeout: 60\n  clear_env: true\n  temporary: true\n"
               "  commit_required: true\n  auto_commit: true\n"
               "  commit_config: {sign: true, include_files: [a]}\n"
               "  outputs: {spec: {file_pattern: '*.md'}}\n")
    assert step.id is not None and step.id.value == "build"
    assert step.when is not None and step.when.value == "${x} == 1"
    assert (step.timeout_s, step.clear_env, step.auto_commit) == (60, True, True)
    assert step.working_dir is not None and step.working_dir.value == "sub"
    assert step.commit_config is not None and step.commit_config.include_files == ("a",)
    assert [(o.name, o.file_pattern) for o in step.outputs] == [("spec", "*.md")]


def test_text_keeps_its_place_in_the_file() -> None:
    step = one("commands:\n  - shell: 'echo ${x}'\n")
    assert isinstance(step.command, Shell)
    assert step.command.command.path == ("commands", 0, "shell")
    assert (step.command.command.span.line, step.command.command.span.col) == (2, 12)


def test_options_a_loop_or_bare_validation_cannot_use_are_reported() -> None:
    assert codes("- foreach: {foreach: [a], do: [{shell: x}]}\n  timeout: 5\n") == ["P119"]
    assert codes("- goal_seek: {goal: g, shell: s, validate: v}\n  env: {A: b}\n") == ["P119"]
    assert codes("- validate: {shell: c}\n  on_failure: {shell: x}\n") == ["P119"]
    assert codes("- foreach: {foreach: [a], do: [{shell: x}]}\n  on_failure: {shell: y}\n"
                 "  capture_output: false\n") == []
