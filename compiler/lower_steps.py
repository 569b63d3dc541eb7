"""Lowering of steps: one model `Step` -> its nodes and edges.

A step's main path is a chain: [gate] -> [analysis] -> command -> [validate] -> [verify]; its
handlers hang off the command node (on_failure through a `handler` node, on_success and
on_exit_code bodies directly). Loops with bodies become sub-plans (`lower_loops`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from prodigy.compiler.commands import analyze
from prodigy.compiler.commands.base import Site, label_text
from prodigy.compiler.commands.foreach import Foreach
from prodigy.compiler.commands.registry import KIND_ROOTS, spec_of
from prodigy.compiler.lower_core import Lowering, Subplan
from prodigy.compiler.lower_exprs import freeze
from prodigy.compiler.lower_loops import expandable, lower_expanded
from prodigy.compiler.model import Command, Step, Validation, Verify
from prodigy.compiler.scope import FAILURE_HANDLER, REFINEMENT, Scope
from prodigy.runtime.nodes import GateParams, HandlerParams, ValidateParams, VerifyParams
from prodigy.runtime.plan import EdgeKind

SEQ, GATE = EdgeKind.SEQUENCE, EdgeKind.GATE


def lower_steps(low: Lowering, steps: tuple[Step, ...], prefix: str, scope: Scope,
                preds: tuple[str, ...], kind: EdgeKind) -> tuple[tuple[str, ...], Scope]:
    """Lower `steps` in order as `prefix.0`, `prefix.1`, ...; the first is attached to `preds`
    by `kind`. Returns the exit of the last step and the scope after it."""
    _, exits, scope = lower_body(low, steps, prefix, scope, preds, kind)
    return exits, scope


def lower_body(low: Lowering, steps: tuple[Step, ...], prefix: str, scope: Scope,
               preds: tuple[str, ...], kind: EdgeKind
               ) -> tuple[str | None, tuple[str, ...], Scope]:
    """Like `lower_steps`, also returning the body's entry node (None when empty)."""
    entry: str | None = None
    exits = preds
    for index, step in enumerate(steps):
        first, exits, scope = lower_step(low, step, f"{prefix}.{index}", scope, exits,
                                         kind if index == 0 else SEQ)
        entry = entry or first
    return entry, exits, scope


@dataclass(slots=True)
class _Chain:
    """The main path of one step being built: each node follows the previous one."""

    low: Lowering
    preds: tuple[str, ...]
    kind: EdgeKind
    gate: str | None = None
    entry: str | None = None

    def add(self, node: str) -> None:
        self.low.connect(self.preds, node, self.kind)
        if self.gate is not None:
            self.low.edge(self.gate, node, GATE)
        self.entry = self.entry or node
        self.preds, self.kind = (node,), SEQ


def lower_step(low: Lowering, step: Step, base: str, scope: Scope, preds: tuple[str, ...],
               kind: EdgeKind) -> tuple[str, tuple[str, ...], Scope]:
    """Returns (entry node, exit nodes, scope after the step)."""
    outer, low.group = low.group, step.group or low.group
    try:
        return _lower_step(low, step, base, scope, preds, kind)
    finally:
        low.group = outer


def _lower_step(low: Lowering, step: Step, base: str, scope: Scope, preds: tuple[str, ...],
                kind: EdgeKind) -> tuple[str, tuple[str, ...], Scope]:
    chain = _Chain(low, preds, kind)
    if step.when is not None:
        gate = f"{base}.when"
        exprs = low.exprs(scope, gate)
        condition = exprs.condition(step.when)
        low.add(gate, GateParams(when=condition, bindings=exprs.bindings), scope,
                label_text("when", step.when.value), step.when.span)
        chain.add(gate)
        chain.gate = gate
    if step.analysis is not None:
        node = f"{base}.analysis"
        low.add(node, analyze.params(step.analysis, {}), scope, "analyze", step.analysis.span)
        chain.add(node)
    command = step.command
    if isinstance(command, Foreach) and expandable(step, chain.kind):
        entry, join, scope = lower_expanded(low, step, command, base, scope, chain.preds,
                                            chain.kind, lower_body)
        return chain.entry or entry, (join,), scope
    if command is not None:
        scope = _command_node(low, step, command, base, scope, chain)
    if step.validation is not None:
        node = base if command is None else f"{base}.validate"
        _validate(low, step.validation, node, scope, step)
        chain.add(node)
        scope = low.publish(scope, node, ("validation",), step.id if command is None else None)
    if step.verify is not None:
        node = f"{base}.verify"
        _verify(low, step.verify, node, scope)
        chain.add(node)
    last = chain.preds
    return chain.entry or last[0], last, scope


def _command_node(low: Lowering, step: Step, command: Command, base: str, scope: Scope,
                  chain: _Chain) -> Scope:
    """The command node `base`, its published names and its handler bodies."""
    exprs = low.exprs(scope, base)
    spec = spec_of(command)
    assert spec.lower is not None and spec.label is not None, spec.key
    params = spec.lower(command, Site(low, step, base, scope, exprs, lower_body))
    published, label = (*spec.publishes, "step"), spec.label(command)
    if "error" in scope.context:
        published = (*published, "handler")
    captures = [e.name for e in step.extracts]
    if step.capture is not None:
        captures.append(step.capture.name)
    after = low.publish(scope, base, published, step.id, captures)
    chain.add(base)
    exit_entries, carried = _handlers(low, step, base, after)
    changes: dict[str, Any] = {}
    if exit_entries:
        changes["on_exit_code"] = exit_entries
    if exprs.bindings:
        changes["bindings"] = exprs.bindings
    if changes:
        params = replace(params, **changes)
    if step.id is not None and not step.label:  # the user's name for it, where people read it
        label = f"{step.id.value}: {label}"
    low.add(base, params, scope, step.label or label, step.span)
    return after.bind(carried)


def _handlers(low: Lowering, step: Step, node: str, scope: Scope
              ) -> tuple[dict[str, str], dict[str, str]]:
    """Lower the on_failure, on_success and on_exit_code bodies of `node`.

    Returns the entry node of each exit-code body keyed by the code as text (the
    `on_exit_code` param), and the names the bodies publish that stay visible after the step.
    """
    inside = scope.within(attached=node)
    carried: dict[str, str] = {}
    handler = step.on_failure
    if handler is not None:
        entry = f"{node}.on_failure"
        low.add(entry, HandlerParams(max_attempts=handler.max_attempts,
                                     fail_workflow=handler.fail_workflow,
                                     strategy=handler.strategy,
                                     handler_failure_fatal=handler.handler_failure_fatal,
                                     timeout_s=handler.timeout_s),
                scope, "on_failure", handler.span)
        low.edge(node, entry, EdgeKind.ON_FAILURE)
        body = inside.within(FAILURE_HANDLER, where="an on_failure handler")
        _, _, after = lower_body(low, handler.steps, entry, body, (entry,), SEQ)
        _remember(carried, scope, after)
    if step.on_success:
        _, _, after = lower_body(low, step.on_success, f"{node}.on_success", inside, (node,),
                                 EdgeKind.ON_SUCCESS)
        _remember(carried, scope, after)
    entries: dict[str, str] = {}
    for exit_handler in step.on_exit_code:
        prefix = f"{node}.on_exit_code.{exit_handler.code}"
        first, _, after = lower_body(low, exit_handler.steps, prefix, inside, (node,),
                                     EdgeKind.ON_EXIT_CODE)
        if first is not None:
            entries[str(exit_handler.code)] = first
        _remember(carried, scope, after)
    return entries, carried


def _remember(carried: dict[str, str], before: Scope, after: Scope) -> None:
    """Names captured inside a body stay visible after the step (absent at run time if the
    body did not run); the kind roots (`shell`, `claude`, ...) do not, so `${claude.output}`
    keeps meaning the last Claude step of the main path."""
    for name, node in after.names.items():
        if before.names.get(name) != node and (name not in KIND_ROOTS or name == "handler"):
            carried[name] = node


def _validate(low: Lowering, validation: Validation, node: str, scope: Scope,
              step: Step) -> None:
    commands = f"{node}.commands" if validation.steps else None
    if commands is not None:
        low.subplans[commands] = Subplan(node, "commands")
        inner = scope.sub(commands, node, frozenset(), "a validation")
        lower_steps(low, validation.steps, commands, inner, (), SEQ)
    refine = validation.on_incomplete
    refine_plan = f"{node}.on_incomplete" if refine is not None and refine.steps else None
    if refine is not None and refine_plan is not None:
        low.subplans[refine_plan] = Subplan(node, "on_incomplete")
        inner = scope.sub(refine_plan, node, REFINEMENT, "an on_incomplete handler")
        lower_steps(low, refine.steps, refine_plan, inner, (), SEQ)
    exprs = low.exprs(scope, node)
    schema = freeze(json.loads(validation.expected_schema)) if validation.expected_schema else None
    params = ValidateParams(
        commands=commands,
        result_file=exprs.template(validation.result_file),
        threshold=validation.threshold,
        timeout_s=validation.timeout_s,
        expected_schema=schema if isinstance(schema, dict) else None,
        on_incomplete=refine_plan,
        max_attempts=refine.max_attempts if refine is not None else 1,
        fail_workflow=refine.fail_workflow if refine is not None else True,
        prompt=exprs.template(refine.prompt if refine is not None else None),
        bindings=exprs.bindings,
    )
    low.add(node, params, scope, step.label if step.command is None and step.label
            else "validate", validation.span)


def _verify(low: Lowering, verify: Verify, node: str, scope: Scope) -> None:
    exprs = low.exprs(scope, node)
    checks = tuple({"command": exprs.template(c.command), "runner": c.runner,
                    "expect_output": c.expect_output, "expect_exit_code": c.expect_exit_code}
                   for c in verify.checks)
    low.add(node, VerifyParams(checks=checks, criteria=verify.criteria,
                               at_least=verify.at_least, max_attempts=verify.max_attempts,
                               retry_delay_s=verify.retry_delay_s, timeout_s=verify.timeout_s,
                               fail_workflow=verify.fail_workflow, bindings=exprs.bindings),
            scope, "verify", verify.span)

