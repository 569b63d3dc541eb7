"""The expression language at run time: evaluation of parsed templates, filters, conditions
and sort specs. Parsing lives in the compiler (`prodigy.compiler.expressions`, with lark); the
runtime receives the AST through plan.json (`codec`) and needs no parser.
"""

from prodigy.runtime.expr.ast import Path, SortSpec, Template, expr_refs, template_refs
from prodigy.runtime.expr.codec import from_json, to_json
from prodigy.runtime.expr.evaluate import (
    Scope,
    compile_expr,
    eval_condition,
    eval_filter,
    filter_items,
    render_template,
    resolve,
)
from prodigy.runtime.expr.select import select_json_path, sort_items
from prodigy.runtime.expr.values import MISSING, stringify, truthy

__all__ = [
    "MISSING",
    "Path",
    "Scope",
    "SortSpec",
    "Template",
    "compile_expr",
    "eval_condition",
    "eval_filter",
    "expr_refs",
    "filter_items",
    "from_json",
    "render_template",
    "resolve",
    "select_json_path",
    "sort_items",
    "stringify",
    "template_refs",
    "to_json",
    "truthy",
]
