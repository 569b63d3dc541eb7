"""Plan building: the lowered graph -> `runtime.plan.Plan`, deterministic to the byte.

Nodes come in `nx.lexicographical_topological_sort` order with a natural id key (`main.2`
before `main.10`), edges sorted by the positions of their ends, every mapping is emitted with
sorted keys by `Plan.dumps`, and nothing depends on set or dict iteration order, so compiling
the same input twice gives identical files. A sub-plan is stored in the `subplans` of the plan
that holds its owner node.

Workflow metadata carries what the runtime needs before any node runs: env (encoded
templates, or `{command, cache}` / `{condition, when_true, when_false}`), secrets by name and
source only (never a value), env files, profiles, bound args, the error policy, timeouts.
"""

from __future__ import annotations

import gc
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from itertools import chain
from typing import Any

import networkx as nx

from prodigy.compiler.lower_core import Expansion, LNode, Lowered, natural_key
from prodigy.compiler.lower_exprs import ExprCache
from prodigy.compiler.model import Text
from prodigy.compiler.model_json import worktree_json
from prodigy.compiler.model_workflow import (
    EnvCommand,
    EnvCondition,
    EnvSecretRef,
    EnvText,
    EnvValue,
    EnvVar,
    Workflow,
)
from prodigy.compiler.plan_expand import ExpandedNodes, edge_codes
from prodigy.compiler.plan_rows import PlanEdges, PlanNodes
from prodigy.runtime.nodes import thaw
from prodigy.runtime.plan import Plan, PlanNode, fingerprint


def build_plan(lowered: Lowered, workflow: Workflow, cache: ExprCache, source: str,
               source_text: str) -> Plan:
    # A large foreach makes hundreds of thousands of small acyclic objects here; the cyclic
    # garbage collector would walk every live object of the compile (the YAML source map
    # included) several times meanwhile, for nothing.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _build(lowered, workflow, cache, source, source_text)
    finally:
        if paused:
            gc.enable()


def _build(lowered: Lowered, workflow: Workflow, cache: ExprCache, source: str,
           source_text: str) -> Plan:
    members: dict[str, list[str]] = defaultdict(list)
    for node, attrs in lowered.graph.nodes(data=True):
        lnode: LNode = attrs["node"]
        members[lnode.plan].append(node)
    children: dict[str, list[str]] = defaultdict(list)
    for name, info in lowered.subplans.items():
        owner: LNode = lowered.graph.nodes[info.owner]["node"]
        children[owner.plan].append(name)
    return _plan("", _metadata(workflow, cache, source, source_text), lowered, members,
                 children)


def _plan(name: str, workflow: dict[str, Any], lowered: Lowered,
          members: dict[str, list[str]], children: dict[str, list[str]]) -> Plan:
    graph = lowered.graph.subgraph(members.get(name, ()))
    keys = {node: natural_key(node) for node in graph}
    parts: list[tuple[PlanNode, ...] | ExpandedNodes] = []
    run: list[PlanNode] = []
    position: dict[str, int] = {}  # of every node but the copies
    groups: dict[str, tuple[Expansion, int]] = {}  # group node -> (its copies, first position)
    count = 0
    for node in nx.lexicographical_topological_sort(graph, key=keys.__getitem__):
        lnode: LNode = graph.nodes[node]["node"]
        if lnode.expansion is not None:
            # The copies take the place of the node standing for them: after every
            # predecessor of the loop, before its barrier.
            copies = ExpandedNodes(lnode.expansion)
            parts.extend((tuple(run), copies))
            groups[node], run = (lnode.expansion, count), []
            count += len(copies)
        else:
            run.append(_node(node, lnode))
            position[node] = count
            count += 1
    parts.append(tuple(run))
    nodes = PlanNodes(parts)

    def code(src: int, dst: int, kind: str) -> int:
        return PlanEdges.code(count, src, dst, kind)

    codes = [code(position[u], position[v], kind) for u, v, kinds in graph.edges(data=True)
             if u not in groups and v not in groups for kind in kinds]
    expanded = []
    for group, (expansion, base) in groups.items():
        into = tuple((u, tuple(sorted(k for k in graph.edges[u, group] if k != "data")))
                     for u in graph.predecessors(group))
        join = next(((v, tuple(sorted(graph.edges[group, v]))) for v in graph.successors(group)),
                    None)
        expanded.append(edge_codes(expansion, base, position.__getitem__,
                                   tuple(i for i in into if i[1]), join, code))
    subplans = {}
    for child in sorted(children.get(name, ()), key=natural_key):
        info = lowered.subplans[child]
        meta = {"subplan": child, "owner": info.owner, "role": info.role}
        subplans[child] = _plan(child, meta, lowered, members, children)
    return Plan(workflow=workflow, nodes=nodes, edges=PlanEdges(nodes, chain(codes, *expanded)),
                subplans=subplans)


def _node(node_id: str, lnode: LNode) -> PlanNode:
    return PlanNode(id=node_id, params=lnode.params, phase=lnode.phase, label=lnode.label,
                    span=lnode.span, fingerprint=fingerprint(lnode.params))


# -------------------------------------------------------------------------------- metadata


def _metadata(workflow: Workflow, cache: ExprCache, source: str, text: str) -> dict[str, Any]:
    def template(value: Text) -> Any:
        parsed = cache.parse("template", value)
        return thaw(parsed.encoded) if parsed is not None else value.value

    env, secrets = _env(workflow.env, cache, template)
    for var in workflow.secrets:
        if isinstance(var.value, EnvSecretRef):
            secrets[var.name] = _secret(var.value)
    profiles = {p.name: _env(p.env, cache, template)[0] for p in workflow.profiles}
    timeouts = {p.name: p.timeout_s for p in workflow.phases if p.timeout_s is not None}
    policy = workflow.error_policy
    # `in_place` and the budgets only when set: plans of workflows that do not say them stay
    # as they were.
    budget = workflow.budget
    return {**({"in_place": True} if workflow.in_place else {}),
        **({"max_cost_usd": budget.max_cost_usd} if budget.max_cost_usd is not None else {}),
        **({"max_tokens": budget.max_tokens} if budget.max_tokens is not None else {}),
        "name": workflow.name,
        "description": workflow.description,
        "version": workflow.version,
        "mode": workflow.mode,
        "source": source,
        "source_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "env": env,
        "secrets": secrets,
        "env_files": [template(f) for f in workflow.env_files],
        "profiles": profiles,
        "profile": workflow.profile,
        "args": dict(workflow.args),
        "parameters": sorted(p.name for p in workflow.parameters),
        "error_policy": None if policy is None else policy.to_json(),
        "max_iterations": workflow.max_iterations,
        "timeout_s": workflow.timeout_s,
        "phase_timeouts": timeouts,
        "worktree": worktree_json(workflow.worktree),
        "checkpoint": None if workflow.checkpoint is None else {
            "interval_items": workflow.checkpoint.interval_items,
            "interval_s": workflow.checkpoint.interval_s,
            "max_checkpoints": workflow.checkpoint.max_checkpoints,
            "max_age_s": workflow.checkpoint.max_age_s,
        },
    }


def _env(variables: Iterable[EnvVar], cache: ExprCache, template: Any
         ) -> tuple[dict[str, Any], dict[str, Any]]:
    env: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for var in variables:
        value: EnvValue = var.value
        if isinstance(value, EnvSecretRef):
            secrets[var.name] = _secret(value)
        elif isinstance(value, EnvText):
            env[var.name] = template(value.text)
        elif isinstance(value, EnvCommand):
            env[var.name] = {"command": template(value.command), "cache": value.cache}
        elif isinstance(value, EnvCondition):
            parsed = cache.parse("condition", value.condition)
            env[var.name] = {"condition": thaw(parsed.encoded) if parsed else None,
                             "when_true": template(value.when_true),
                             "when_false": template(value.when_false)}
    return env, secrets


def _secret(ref: EnvSecretRef) -> dict[str, Any]:
    found: dict[str, Any] = {"provider": ref.provider, "key": ref.key}
    if ref.version is not None:
        found["version"] = ref.version
    return found


