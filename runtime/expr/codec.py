"""AST <-> plain JSON, for embedding parsed expressions in plan.json.

The runtime then never re-parses source text (and never needs lark). The encoding is compact
and positional:

    template, no variables     "plain text"
    template                   ["tpl", "text", ["var", path], ["var", path, "default"], ...]
    lone text / var part       ["text", "..."] / ["var", path, "default"?]
    var with modifiers         ["var", path, "default" | null, [modifier, ...]]
    path                       [root, segment, ...]      (int segments are array indices)
    literal                    ["lit", value]
    field / ref / exists       ["field", path] / ["ref", path] / ["exists", path]
    ref with modifiers         ["ref", path, [modifier, ...]]
    not / and / or             ["not", e] / ["and", e, e, ...] / ["or", e, e, ...]
    comparison                 ["==", left, right]        (any of == != < <= > >=)
    membership                 ["in", e, [value, ...]]
    function call              ["call", name, arg, ...]
    sort spec                  ["sort", key, ...]  with key [path, "asc"|"desc", "first"|"last"]

A bare JSON string always decodes as a template, so literals are tagged even when scalar.
"""

from __future__ import annotations

from typing import Any

from prodigy.runtime.expr.ast import (
    COMPARE_OPS,
    FUNCTIONS,
    And,
    Call,
    Compare,
    Exists,
    Field,
    In,
    Literal,
    Node,
    Not,
    Or,
    Path,
    Ref,
    SortKey,
    SortSpec,
    Template,
    Text,
    Var,
)


def to_json(node: Node) -> Any:
    if isinstance(node, Template):
        if node.is_plain:
            return "".join(p.value for p in node.parts if isinstance(p, Text))
        return ["tpl", *(p.value if isinstance(p, Text) else _var(p) for p in node.parts)]
    if isinstance(node, Text):
        return ["text", node.value]  # standalone parts: inside a template they are inlined
    if isinstance(node, Var):
        return _var(node)
    if isinstance(node, Literal):
        return ["lit", node.value]
    if isinstance(node, Field):
        return ["field", _path(node.path)]
    if isinstance(node, Ref):
        ref: list[Any] = ["ref", _path(node.path)]
        return ref if node.modifiers is None else [*ref, list(node.modifiers)]
    if isinstance(node, Exists):
        return ["exists", _path(node.path)]
    if isinstance(node, Not):
        return ["not", to_json(node.operand)]
    if isinstance(node, And):
        return ["and", *(to_json(op) for op in node.operands)]
    if isinstance(node, Or):
        return ["or", *(to_json(op) for op in node.operands)]
    if isinstance(node, Compare):
        return [node.op, to_json(node.left), to_json(node.right)]
    if isinstance(node, In):
        return ["in", to_json(node.operand), [v.value for v in node.values]]
    if isinstance(node, Call):
        return ["call", node.name, *(to_json(a) for a in node.args)]
    if isinstance(node, SortKey):
        return [_path(node.path), "desc" if node.descending else "asc",
                "first" if node.nulls_first else "last"]
    if isinstance(node, SortSpec):
        return ["sort", *(to_json(k) for k in node.keys)]
    raise TypeError(f"not an expression node: {type(node).__name__}")


def _var(var: Var) -> list[Any]:
    out: list[Any] = ["var", _path(var.path)]
    if var.default is not None or var.modifiers is not None:
        out.append(var.default)
    if var.modifiers is not None:
        out.append(list(var.modifiers))
    return out


def _path(path: Path) -> list[Any]:
    return [path.root, *path.segments]


def from_json(data: Any) -> Node:
    """Decode what `to_json` produced; raises ValueError on anything else (a corrupt plan)."""
    try:
        return _decode(data)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
        raise ValueError(f"invalid expression encoding: {exc}") from exc


def _decode(data: Any) -> Node:
    if isinstance(data, str):
        return Template((Text(data),) if data else ())
    if not isinstance(data, list) or not data:
        raise ValueError(f"unexpected {type(data).__name__}")
    if isinstance(data[0], list):
        return _decode_key(data)
    tag, args = data[0], data[1:]
    if tag == "text":
        (value,) = args
        if not isinstance(value, str):
            raise ValueError("bad text")
        return Text(value)
    if tag == "var":
        return _decode_var(data)
    if tag == "tpl":
        parts: list[Text | Var] = []
        for arg in args:
            if not isinstance(arg, str):
                parts.append(_decode_var(arg))
            elif parts and isinstance(parts[-1], Text):
                parts[-1] = Text(parts[-1].value + arg)  # keep the parser's normal form
            elif arg:
                parts.append(Text(arg))
        return Template(tuple(parts))
    if tag == "sort":
        return SortSpec(tuple(_decode_key(k) for k in args))
    node: Node = _expr(data)
    return node


def _decode_var(data: list[Any]) -> Var:
    if data[0] != "var" or len(data) not in (2, 3, 4):
        raise ValueError("bad template variable")
    default = data[2] if len(data) >= 3 else None
    if default is not None and not isinstance(default, str):
        raise ValueError("bad default")
    return Var(_decode_path(data[1]), default, _modifiers(data[3]) if len(data) == 4 else None)


def _modifiers(data: Any) -> tuple[str, ...]:
    if not isinstance(data, list) or not all(isinstance(m, str) for m in data):
        raise ValueError("bad modifiers")
    return tuple(data)


def _decode_key(data: list[Any]) -> SortKey:
    path, direction, nulls = data
    if direction not in ("asc", "desc") or nulls not in ("first", "last"):
        raise ValueError("bad sort key")
    return SortKey(_decode_path(path), direction == "desc", nulls == "first")


def _decode_path(data: list[Any]) -> Path:
    root, *segments = data
    if not isinstance(root, str) or not all(
        isinstance(s, str) or (isinstance(s, int) and not isinstance(s, bool)) for s in segments
    ):
        raise ValueError("bad path")
    return Path(root, tuple(segments))


_SCALARS = (str, int, float, bool, type(None))


def _expr(data: Any) -> Any:
    if not isinstance(data, list) or not data:
        raise ValueError("expected an expression")
    tag, args = data[0], data[1:]
    if tag == "lit":
        (value,) = args
        if not isinstance(value, _SCALARS):
            raise ValueError("bad literal")
        return Literal(value)
    if tag == "ref" and len(args) == 2:
        return Ref(_decode_path(args[0]), _modifiers(args[1]))
    if tag in ("field", "ref", "exists"):
        (path,) = args
        return {"field": Field, "ref": Ref, "exists": Exists}[tag](_decode_path(path))
    if tag == "not":
        (operand,) = args
        return Not(_expr(operand))
    if tag in ("and", "or"):
        if len(args) < 2:
            raise ValueError(f"{tag} needs two operands")
        return (And if tag == "and" else Or)(tuple(_expr(a) for a in args))
    if tag in COMPARE_OPS:
        left, right = args
        return Compare(tag, _expr(left), _expr(right))
    if tag == "in":
        operand, values = args
        if not all(isinstance(v, _SCALARS) for v in values):
            raise ValueError("bad list value")
        return In(_expr(operand), tuple(Literal(v) for v in values))
    if tag == "call":
        name, *call_args = args
        if FUNCTIONS.get(name) != len(call_args):
            raise ValueError(f"unknown function or wrong arity: {name!r}")
        return Call(name, tuple(_expr(a) for a in call_args))
    raise ValueError(f"unknown tag {tag!r}")
