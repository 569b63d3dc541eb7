"""The per-kind part of `schemas/plan.schema.json`, generated from the params classes.

Generated: `stepParams` and every `<kind>Params` definition, the kind enum of `node` and its
dispatch rules (`node.allOf`: `kind` selects the definition of `params`). Everything else in
the file is written by hand and kept as it is: the envelope (format_version, workflow, edges,
subplans, the rest of `node`) and the shared definitions a field may name with
`Schema(ref=...)` (template, expression, sortSpec, seconds, retry, check). A definition
named `*Params` belongs to the generator: one no params class makes is dropped.

From runtime/nodes.py, per field: the JSON type from its annotation (str, int, float, bool,
`X | None`, `tuple[X, ...]`, `Mapping[str, X]`), plus the keywords of its
`Annotated[..., Schema(...)]`; its default (`required` lists exactly the fields without
one); its description from its comment (the comment lines right above it, then the one on its
line). A kind's description is the first paragraph of its class's docstring. A step kind
(a `StepParams`) extends `stepParams` and closes the object with `unevaluatedProperties`; any
other kind lists all its fields and closes it with `additionalProperties`.

    python -m prodigy.runtime.plan_schema           # rewrite the file (`make schemas`)
    python -m prodigy.runtime.plan_schema --check   # exit 1 if it is not current

The runtime never imports this module: it only reads the file.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import sys
import tokenize
import types
import typing
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from prodigy.runtime.errors import InternalError
from prodigy.runtime.nodes import NODE_KINDS, NodeParams, Schema, StepParams

PATH = Path(__file__).resolve().parent.parent / "schemas" / "plan.schema.json"
REF = "#/$defs/"
_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                            type(None): "null"}


def generate(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` (the file's current content) with its generated parts made anew."""
    out = dict(schema)
    defs = {name: body for name, body in schema["$defs"].items() if not name.endswith("Params")}
    node = dict(defs["node"])
    node["properties"] = dict(node["properties"])
    node["properties"]["kind"] = {**node["properties"]["kind"], "enum": sorted(NODE_KINDS)}
    node["allOf"] = [_dispatch(kind) for kind in sorted(NODE_KINDS)]
    defs["node"] = node
    defs["stepParams"] = params_definition(StepParams)
    for kind in sorted(NODE_KINDS):
        defs[f"{kind}Params"] = params_definition(NODE_KINDS[kind])
    out["$defs"] = defs
    return out


def render(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def current_text(path: Path = PATH) -> tuple[str, str]:
    """The file's text and what it should be."""
    text = path.read_text(encoding="utf-8")
    return text, render(generate(json.loads(text)))


def _dispatch(kind: str) -> dict[str, Any]:
    return {"if": {"properties": {"kind": {"description": f"`{kind}` nodes ...", "const": kind}}},
            "then": {"properties": {"params": {"description": f"... have {kind}Params.",
                                               "$ref": f"{REF}{kind}Params"}}}}


def params_definition(cls: type[NodeParams]) -> dict[str, Any]:
    """The JSON Schema definition of one params class."""
    step = issubclass(cls, StepParams) and cls is not StepParams
    inherited = {f.name for f in dataclasses.fields(StepParams)} if step else set()
    own = [f for f in dataclasses.fields(cls) if f.name not in inherited]
    hints = typing.get_type_hints(cls, include_extras=True)
    description = _docstring(cls)
    if cls is StepParams:
        description += (" Each step kind's params extend it and close the object"
                        " (unevaluatedProperties).")
    out: dict[str, Any] = {"description": description, "type": "object"}
    if step:
        out["allOf"] = [{"$ref": f"{REF}stepParams"}]
    elif cls is not StepParams:
        out["additionalProperties"] = False
    required = sorted(f.name for f in own if _default(f) is dataclasses.MISSING)
    if required:
        out["required"] = required
    out["properties"] = {f.name: _property(cls, f, hints[f.name]) for f in own}
    if step:
        out["unevaluatedProperties"] = False
    return out


def _property(cls: type, field: dataclasses.Field[Any], hint: Any) -> dict[str, Any]:
    where = f"{cls.__name__}.{field.name}"
    out = fragment(hint, where)
    default = _default(field)
    if default is not dataclasses.MISSING:
        out["default"] = _json(default)
    description = _comment(cls, field.name)
    if not description:
        raise InternalError(f"{where} has no comment to describe it in the plan schema: "
                            f"write one on its line or right above it (runtime/nodes.py)")
    out["description"] = description
    return out


def fragment(hint: Any, where: str) -> dict[str, Any]:
    """The JSON Schema of a type annotation (already evaluated, extras included)."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        base, *extras = typing.get_args(hint)
        keywords: dict[str, Any] = {}
        for extra in extras:
            if isinstance(extra, Schema):
                keywords.update(extra.keywords)
        ref = keywords.pop("ref", None)
        if ref is not None:
            return {"$ref": f"{REF}{ref}", **_json(keywords)}
        return _refine(fragment(base, where), _json(keywords))
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(hint)
        others = [arg for arg in args if arg is not type(None)]
        if len(others) != 1 or len(args) != 2:
            raise InternalError(f"{where}: only `X | None` unions have a plan schema, not {hint}")
        inner = fragment(others[0], where)
        if isinstance(inner.get("type"), str):
            return {**inner, "type": [inner["type"], "null"]}
        return {"oneOf": [{"type": "null"}, inner]}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    args = typing.get_args(hint)
    if origin in (tuple, list) and (origin is list or args[1:] == (Ellipsis,)):
        return {"type": "array", "items": fragment(args[0], where)}
    if origin in (Mapping, dict) and args[0] is str:
        if args[1] is Any:
            return {"type": "object"}
        return {"type": "object", "additionalProperties": fragment(args[1], where)}
    raise InternalError(f"{where}: no plan schema for the annotation {hint}; use a JSON type, "
                        f"or say it with Annotated[..., Schema(...)] (runtime/nodes.py)")


def _refine(base: dict[str, Any], keywords: dict[str, Any]) -> dict[str, Any]:
    """The keywords after the type (which an enum replaces), before items/additionalProperties."""
    head = {} if "enum" in keywords or "type" not in base else {"type": base["type"]}
    return {**head, **keywords, **{k: v for k, v in base.items() if k != "type"}}


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _json(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    return value


def _docstring(cls: type) -> str:
    doc = inspect.cleandoc(cls.__doc__ or "")
    first = doc.split("\n\n", 1)[0]
    if not first:
        raise InternalError(f"{cls.__name__} has no docstring to describe it in the plan schema")
    return " ".join(first.split())


def _comment(cls: type, name: str) -> str:
    """The comment describing field `name`: in the class of `cls`'s MRO that declares it."""
    for owner in cls.__mro__:
        found = _comments(owner).get(name)
        if found is not None:
            return found
    return ""


@cache
def _comments(cls: type) -> dict[str, str]:
    """Field name -> its comment, for the fields `cls`'s own body declares."""
    if not dataclasses.is_dataclass(cls):
        return {}
    path = inspect.getsourcefile(cls)
    if path is None:
        return {}
    tree, lines, comments = _source(path)
    start = inspect.getsourcelines(cls)[1]  # its first decorator's line, else its own
    body = next((node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                 and node.name == cls.__name__
                 and min([node.lineno] + [d.lineno for d in node.decorator_list]) == start),
                None)
    if body is None:
        return {}
    found: dict[str, str] = {}
    for stmt in body.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        above: list[str] = []
        line = stmt.lineno - 1
        while line in comments and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        after = [comments[n] for n in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1)
                 if n in comments]
        found[stmt.target.id] = " ".join(text for text in above + after if text)
    return found


@cache
def _source(path: str) -> tuple[ast.Module, list[str], dict[int, str]]:
    text = Path(path).read_text(encoding="utf-8")
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            body = token.string.lstrip("#").split("# noqa", 1)[0].strip()
            comments[token.start[0]] = body
    return ast.parse(text), text.splitlines(), comments


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text, wanted = current_text(PATH)
    if text == wanted:
        print(f"{PATH.name} is current")
        return 0
    if "--check" in args:
        print(f"{PATH.name} is not current: run `make schemas`", file=sys.stderr)
        return 1
    PATH.write_text(wanted, encoding="utf-8")
    print(f"{PATH.name} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
