"""Graph and reference checks: positioned diagnostics about what the lowered workflow means.

P203 unknown step id (with a did-you-mean), P204 `${item}` outside a map or foreach, P208 a
reference nothing earlier produces, P301 a dependency cycle (every step in it listed), P302 a
handler that can never run, P303 a duplicate step id.

Unresolved references are normally fine (`${HOME}` is the shell's), so only the cases
`lower_refs` flagged are judged here, and an unknown root is an error only when it is close to
a declared step id.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

import networkx as nx

from prodigy.compiler.expressions import parse_condition
from prodigy.compiler.lower_core import LNode, Lowered
from prodigy.compiler.model import Step
from prodigy.compiler.model_workflow import Workflow, walk_steps
from prodigy.compiler.scope import RefIssue
from prodigy.runtime.diagnostics import Diagnostic
from prodigy.runtime.expr.ast import Literal
from prodigy.runtime.plan import EdgeKind
from prodigy.runtime.span import Span

# Exit statuses a process can report: 0-255, negative for signals and timeouts.
EXIT_CODES = range(-128, 256)
_DEPENDENCY = {EdgeKind.SEQUENCE.value, EdgeKind.DATA.value, EdgeKind.PHASE.value,
               EdgeKind.GATE.value}
_TRIGGERS = {EdgeKind.ON_FAILURE.value, EdgeKind.ON_SUCCESS.value, EdgeKind.ON_EXIT_CODE.value}


def check(workflow: Workflow, lowered: Lowered) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    found.extend(_references(lowered))
    found.extend(_cycles(lowered))
    found.extend(_unreachable(workflow))
    found.extend(_duplicate_ids(workflow))
    return found


# ------------------------------------------------------------------------------ references


def _references(lowered: Lowered) -> Iterator[Diagnostic]:
    ids = sorted(lowered.step_ids)
    for issue in lowered.issues:
        diag = _reference(issue, ids, lowered)
        if diag is not None:
            yield diag


def _reference(issue: RefIssue, ids: list[str], lowered: Lowered) -> Diagnostic | None:
    ref = f"${{{issue.text}}}"
    if issue.kind == "unknown":
        close = difflib.get_close_matches(issue.root, ids, n=1, cutoff=0.75)
        if not close:
            return None  # an environment variable, left for the shell
        return Diagnostic("P203", f"unknown step id '{issue.root}' in '{ref}'", issue.span,
                          hint=f"did you mean '{close[0]}'?")
    if issue.kind == "item_outside":
        return Diagnostic("P204", f"'{ref}' is used in {issue.where}, outside any map agent or "
                          "foreach body", issue.span)
    if issue.kind == "not_visible":
        owner = _describe(issue.detail, lowered)
        return Diagnostic("P208", f"'{ref}' reads '{issue.root}', which is produced in {owner} "
                          f"and is not visible in {issue.where}", issue.span,
                          hint="map agent results reach reduce as `${map.results}`"
                          if "map agent" in owner else None)
    if issue.kind == "later":
        return Diagnostic("P208", f"'{ref}' is read before '{issue.root}' is captured: "
                          f"{_where(issue.detail, lowered)} captures it later", issue.span,
                          hint="move the capture to an earlier step")
    if issue.detail:
        return Diagnostic("P208", f"'{ref}' is not available in {issue.where}: `{issue.root}` "
                          f"exists only in {issue.detail}", issue.span)
    return Diagnostic("P208", f"'{ref}' is used in {issue.where}, but no earlier step "
                      f"produces `{issue.root}`", issue.span,
                      hint=_published_hint(issue.root))


def _published_hint(root: str) -> str:
    return {
        "shell": "`${shell.output}` is the output of the last shell step before this one",
        "claude": "`${claude.output}` is the output of the last Claude step before this one",
        "CAPTURED_OUTPUT": "set `capture_output: true` on an earlier step",
        "handler": "`${handler.output}` exists after an on_failure handler step ran",
    }.get(root, "reference a value an earlier step produces")


def _where(node: str, lowered: Lowered) -> str:
    span = _span(lowered, node) if node in lowered.graph else None
    return f"step {node} (line {span.line})" if span else f"step {node}"


def _describe(node: str, lowered: Lowered) -> str:
    lowered_node: LNode | None = lowered.graph.nodes[node].get("node") if (
        node in lowered.graph) else None
    plan = lowered_node.plan if lowered_node else ""
    if plan.startswith("map.agent"):
        return "a map agent"
    return f"sub-plan '{plan}'" if plan else _where(node, lowered)


# ---------------------------------------------------------------------------------- cycles


def _cycles(lowered: Lowered) -> Iterator[Diagnostic]:
    # Lowering only draws an edge from a node already lowered, except for a reference to a
    # step id declared later (a back reference): without one there is no cycle to find.
    if not lowered.back_refs:
        return
    graph = _resolution_graph(lowered.graph)
    for component in nx.strongly_connected_components(graph):
        sub = graph.subgraph(component)
        if len(component) == 1 and not any(sub.has_edge(n, n) for n in component):
            continue
        cycle = [u for u, _ in nx.find_cycle(sub)]
        back = next(((u, v) for u, v in nx.find_cycle(sub) if (u, v) in lowered.back_refs),
                    None)
        span = lowered.back_refs[back] if back else _span(lowered, cycle[0])
        names = " -> ".join(_name(lowered, n) for n in [*cycle, cycle[0]])
        related = tuple(s for n in cycle if (s := _span(lowered, n)) is not None)
        yield Diagnostic("P301", f"dependency cycle: {names}", span, related=related)


def _resolution_graph(graph: nx.DiGraph) -> nx.DiGraph:
    """The dependency edges, plus: a step resolves only after its handler bodies, so each
    body node also precedes whatever depends on the step (bodies as the scheduler sees
    them: the entry and the nodes all of whose SEQUENCE predecessors are in the body)."""
    deps = nx.DiGraph()
    deps.add_nodes_from(graph)
    deps.add_edges_from((u, v) for u, v, kinds in graph.edges(data=True)
                        if kinds.keys() & _DEPENDENCY)
    for owner, entry, kinds in graph.edges(data=True):
        if not kinds.keys() & _TRIGGERS:
            continue
        after = [d for d in graph.successors(owner) if graph.edges[owner, d].keys() & _DEPENDENCY]
        body = _body(graph, entry)
        deps.add_edges_from((member, d) for member in body for d in after if d not in body)
    return deps


def _body(graph: nx.DiGraph, entry: str) -> set[str]:
    seq = EdgeKind.SEQUENCE.value
    body, queue = {entry}, [entry]
    while queue:
        node = queue.pop()
        for nxt in graph.successors(node):
            if nxt in body or seq not in graph.edges[node, nxt]:
                continue
            preds = [p for p in graph.predecessors(nxt) if seq in graph.edges[p, nxt]]
            if all(p in body for p in preds):
                body.add(nxt)
                queue.append(nxt)
    return body


def _span(lowered: Lowered, node: str) -> Span | None:
    found: LNode | None = lowered.graph.nodes[node].get("node")
    return found.span if found else None


def _name(lowered: Lowered, node: str) -> str:
    found: LNode | None = lowered.graph.nodes[node].get("node")
    return f"{node} ({found.label})" if found else node


# ------------------------------------------------------------------------------- handlers


def _unreachable(workflow: Workflow) -> Iterator[Diagnostic]:
    for step in walk_steps(workflow):
        for exit_handler in step.on_exit_code:
            if exit_handler.code not in EXIT_CODES:
                yield Diagnostic("P302", f"the handler for exit code {exit_handler.code} never "
                                 "runs: exit codes are 0-255 (negative for signals)",
                                 exit_handler.span, hint="use an exit code between 0 and 255")
        validation = step.validation
        if (validation is not None and validation.on_incomplete is not None
                and validation.threshold <= 0):
            yield Diagnostic("P302", "`on_incomplete` never runs: a threshold of "
                             f"{validation.threshold} is always met",
                             validation.on_incomplete.span, hint="raise `threshold`")
        if step.when is not None and _never(step):
            for span in _handler_spans(step):
                yield Diagnostic("P302", f"this handler never runs: its step never runs "
                                 f"(`when: {step.when.value}`)", span,
                                 hint="remove the handler or fix the condition")


def _never(step: Step) -> bool:
    assert step.when is not None
    condition, problems = parse_condition(step.when.value)
    return (not problems and isinstance(condition, Literal)
            and condition.value in (False, None, 0, ""))


def _handler_spans(step: Step) -> Iterator[Span]:
    if step.on_failure is not None:
        yield step.on_failure.span
    for success in step.on_success:
        yield success.span
    for exit_handler in step.on_exit_code:
        yield exit_handler.span


# ------------------------------------------------------------------------------------ ids


def _duplicate_ids(workflow: Workflow) -> Iterator[Diagnostic]:
    seen: dict[str, Span] = {}
    for step in walk_steps(workflow):
        if step.id is None:
            continue
        first = seen.get(step.id.value)
        if first is None:
            seen[step.id.value] = step.id.span
            continue
        yield Diagnostic("P303", f"step id '{step.id.value}' is already used at line "
                         f"{first.line}", step.id.span, related=(first,))
