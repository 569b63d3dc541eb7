"""The schemas are the single source of truth for field names: check the code agrees.

- Every field the normalizer reads (`normalize_base.READS`, the command modules') is a
  property of the schema definition it reads it from, and every property of every schema
  object is read.
- Every plan node kind's params (runtime/nodes.py) are exactly the properties of its
  `*Params` definition in schemas/plan.schema.json, every property has a description, and
  exactly the params without a default are required (plan.json leaves defaults out).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from prodigy.compiler.commands import registry
from prodigy.compiler.normalize_base import READS as OPTION_READS
from prodigy.compiler.normalize_steps import STEP_FIELDS
from prodigy.compiler.resources import schema
from prodigy.runtime.nodes import NODE_KINDS, StepParams

WORKFLOW = schema("workflow.schema.json")
PLAN = schema("plan.schema.json")
# What the normalizer reads, by schema definition: its own tables, the command modules'
# declarations, and the step mapping (command keys plus options).
READS = {**OPTION_READS, **registry.READS, "stepObject": STEP_FIELDS}


def _branches(node: Any) -> Iterator[dict[str, Any]]:
    """The object schemas one definition may take, following if/then/else and *Of, not $ref."""
    if not isinstance(node, dict):
        return
    yield node
    for key in ("then", "else", "if", "not"):
        yield from _branches(node.get(key))
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key, ()):
            yield from _branches(sub)


def _properties(node: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for branch in _branches(node):
        found.update(branch.get("properties", {}))
    return found


def _resolve(name: str) -> Any:
    """`stepValidate/commands` is the object inside property `commands` of `stepValidate`."""
    head, *rest = name.split("/")
    node: Any = WORKFLOW["$defs"][head]
    for part in rest:
        node = _properties(node)[part]
        while isinstance(node, dict) and "items" in node and not _properties(node):
            node = node["items"]
    return node


@pytest.mark.parametrize("name", sorted(READS))
def test_normalizer_reads_exactly_the_schema_properties(name: str) -> None:
    declared = set(_properties(_resolve(name)))
    assert READS[name] == declared, (
        f"{name}: read but not in the schema {sorted(READS[name] - declared)}, "
        f"in the schema but never read {sorted(declared - READS[name])}")


def test_every_schema_object_with_fixed_fields_is_read() -> None:
    with_fields = {name for name, body in WORKFLOW["$defs"].items() if _properties(body)}
    # Composition objects are reported as unsupported as a whole (P119) by the workflow
    # normalizer, which reads their top-level key; their inner fields are never looked at.
    composition = {"import", "templateRef", "subWorkflow", "templateDef", "task"}
    assert with_fields - composition <= set(r.split("/")[0] for r in READS)


def _plan_properties(definition: dict[str, Any]) -> dict[str, Any]:
    """A params definition's own properties plus those of the definitions it extends."""
    found: dict[str, Any] = {}
    for ref in definition.get("allOf", ()):
        found.update(_plan_properties(PLAN["$defs"][ref["$ref"].rsplit("/", 1)[1]]))
    found.update(definition.get("properties", {}))
    return found


@pytest.mark.parametrize("kind", sorted(NODE_KINDS))
def test_plan_schema_params_match_the_node_kind(kind: str) -> None:
    definition = PLAN["$defs"][f"{kind}Params"]
    fields = {f.name for f in dataclasses.fields(NODE_KINDS[kind])}
    properties = _plan_properties(definition)
    assert set(properties) == fields
    assert all(prop.get("description") for prop in properties.values())
    # Closed: a param the runtime does not know is refused when the plan is loaded.
    assert (definition.get("additionalProperties") is False
            or definition.get("unevaluatedProperties") is False)


def test_shared_step_params_are_declared_once() -> None:
    shared = set(PLAN["$defs"]["stepParams"]["properties"])
    assert shared == {f.name for f in dataclasses.fields(StepParams)}
    for kind, cls in NODE_KINDS.items():
        definition = PLAN["$defs"][f"{kind}Params"]
        extends = [r["$ref"] for r in definition.get("allOf", ())]
        assert (extends == ["#/$defs/stepParams"]) == issubclass(cls, StepParams), kind
        assert not shared & set(definition["properties"]) or not extends, kind


@pytest.mark.parametrize("kind", sorted(NODE_KINDS))
def test_plan_schema_requires_exactly_the_params_without_default(kind: str) -> None:
    # plan.json leaves out a param equal to its default; the runtime fills it back in.
    definition = PLAN["$defs"][f"{kind}Params"]
    without_default = {f.name for f in dataclasses.fields(NODE_KINDS[kind])
                       if f.default is dataclasses.MISSING
                       and f.default_factory is dataclasses.MISSING}
    assert set(definition.get("required", ())) == without_default


def test_plan_schema_dispatches_every_kind() -> None:
    node = PLAN["$defs"]["node"]
    assert set(node["properties"]["kind"]["enum"]) == set(NODE_KINDS)
    dispatched = {rule["if"]["properties"]["kind"]["const"] for rule in node["allOf"]}
    assert dispatched == set(NODE_KINDS)


def _described(node: Any, where: str) -> Iterator[str]:
    if isinstance(node, dict):
        for name, prop in node.get("properties", {}).items():
            if isinstance(prop, dict) and not prop.get("description"):
                yield f"{where}.{name}"
            yield from _described(prop, f"{where}.{name}")
        for key, value in node.items():
            if key != "properties":
                yield from _described(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _described(item, f"{where}[{index}]")


def test_every_plan_schema_property_is_described() -> None:
    assert list(_described(PLAN, "plan")) == []


def test_plan_schema_is_a_valid_schema() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(PLAN)


def test_a_step_node_with_an_unknown_param_is_refused_when_loaded() -> None:
    import json

    from prodigy.runtime.errors import PlanError
    from prodigy.runtime.plan import FORMAT_VERSION, loads

    node = {"id": "a", "kind": "write_file", "phase": "main", "label": "w", "span": None,
            "fingerprint": "0" * 64, "params": {"path": "a", "content": "b", "bogus": 1}}
    plan = {"format_version": FORMAT_VERSION, "workflow": {}, "nodes": [node], "edges": [],
            "subplans": {}}
    with pytest.raises(PlanError, match="bogus"):
        loads(json.dumps(plan))
