"""`verify` nodes (`step_validate:`): check commands run after a step, judged together.

Each check runs its command (shell: `sh -c`; claude: the Claude CLI, as claude nodes do) in
the node's directory and passes when its exit code is `expect_exit_code` (default: 0) and,
with `expect_output`, its stdout matches that regex (re.search). `criteria` all | any |
at_least (`at_least` checks). Not satisfied: after `retry_delay_s`, all checks run again, up
to `max_attempts` rounds. Still not satisfied: the node fails if `fail_workflow`, else it
succeeds with `verify.passed` false. Each check is limited to `timeout_s`.
Publishes `verify.passed`, `verify.passed_count`, `verify.total`, `verify.attempts`.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from prodigy.runtime.executors.process import run_command
from prodigy.runtime.nodes import NodeParams, VerifyParams
from prodigy.runtime.ops.base import Context, NodeResult, Op, Prepared, Task
from prodigy.runtime.ops.claude import claude_argv
from prodigy.runtime.ops.claude_stream import parse
from prodigy.runtime.ops.render import render
from prodigy.runtime.ops.step import process_env


def prepare(params: NodeParams, ctx: Context) -> Prepared:
    assert isinstance(params, VerifyParams)
    checks = []
    for check in params.checks:
        command = render(check.get("command"), ctx.scope)
        argv = (claude_argv(command, None, None) if check.get("runner") == "claude"
                else ["sh", "-c", command])
        checks.append({"command": command, "argv": argv, "runner": check.get("runner"),
                       "expect_output": check.get("expect_output"),
                       "expect_exit_code": check.get("expect_exit_code")})
    overlay, digest = ctx.env.step_overlay({}, ctx.variables, ctx.scope.get("item"))
    inputs = {"checks": checks, "criteria": params.criteria, "at_least": params.at_least,
              "max_attempts": max(1, params.max_attempts), "retry_delay_s": params.retry_delay_s,
              "timeout": params.timeout_s, "fail_workflow": params.fail_workflow, "env": digest}
    return Prepared(inputs, overlay, str(ctx.cwd))


def satisfied(criteria: str, passed: int, total: int, at_least: int | None) -> bool:
    if criteria == "any":
        return passed > 0 or total == 0
    if criteria == "at_least":
        return passed >= (at_least if at_least is not None else total)
    return passed == total


def _check(task: Task, check: dict[str, Any], attempt: int) -> tuple[bool, str]:
    proc = run_command(check["argv"], env=process_env(task), cwd=task.cwd,
                       timeout=task.inputs.get("timeout"), log_path=Path(task.log_path),
                       masker=task.masker, capture_stdout=True,
                       header=f"$ {check['command']}   # check, round {attempt}\n")
    want = check.get("expect_exit_code")
    code = -1 if proc.timed_out else proc.exit_code
    text = proc.stdout
    if check.get("runner") == "claude":  # a stream: its result is the text, its error a failure
        summary = parse(proc.stdout)
        text = summary.result
        if not proc.timed_out and summary.failure(code):
            return False, summary.failure(code)
    if proc.error or code != (0 if want is None else int(want)):
        return False, proc.error or f"exit code {code}" + (" (timed out)" if proc.timed_out
                                                           else "")
    pattern = check.get("expect_output")
    if pattern and not re.search(pattern, text):
        return False, f"output does not match {pattern!r}"
    return True, ""


def run(task: Task) -> NodeResult:
    started, started_at = time.monotonic(), time.time()
    inputs = task.inputs
    checks = inputs["checks"]
    rounds = inputs["max_attempts"]
    passed, problems = 0, []
    for attempt in range(1, rounds + 1):
        outcomes = [_check(task, check, attempt) for check in checks]
        passed = sum(1 for ok, _ in outcomes if ok)
        problems = [f"`{c['command']}`: {why}" for c, (ok, why) in zip(checks, outcomes,
                                                                        strict=True) if not ok]
        if satisfied(inputs["criteria"], passed, len(checks), inputs["at_least"]):
            break
        if attempt < rounds and inputs["retry_delay_s"]:
            time.sleep(float(inputs["retry_delay_s"]))
    ok = satisfied(inputs["criteria"], passed, len(checks), inputs["at_least"])
    summary = (f"step_validate: {passed} of {len(checks)} checks passed "
               f"(criteria {inputs['criteria']}) after {attempt} round(s)")
    with Path(task.log_path).open("a", encoding="utf-8") as log:
        log.write(task.masker.mask(summary + "\n" + "".join(f"  {p}\n" for p in problems)))
    variables = {"verify.passed": ok, "verify.passed_count": passed,
                 "verify.total": len(checks), "verify.attempts": attempt}
    fails = not ok and inputs["fail_workflow"]
    return NodeResult(ok=not fails, exit_code=1 if fails else 0,
                      duration=time.monotonic() - started,
                      message=f"{summary}: {'; '.join(problems)}" if fails else "",
                      output=summary, variables=variables, started_at=started_at)


OP = Op(prepare=prepare, run=run)
