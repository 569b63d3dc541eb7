"""The compiler, as the ordered list of its stages.

    load        compiler/source.py         YAML -> data + a span for every value
    schema      compiler/schema_check.py   data vs schemas/workflow.schema.json
    normalize   compiler/normalize*.py     data -> the canonical model (compiler/model.py)
    expressions compiler/lower_exprs.py    every template, condition, filter, sort, json_path
    lower       compiler/lower*.py         model -> networkx graph of typed plan nodes
    checks      compiler/checks.py         references, cycles, unreachable handlers, ids
                compiler/lint.py           warnings (errors under --strict): unquoted items
    plan        compiler/plan_build.py     graph -> runtime.plan.Plan (compile only)

Each stage adds its diagnostics to the unit; the pipeline stops after the first stage that
reported an error, so a later stage never sees input an earlier one rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from prodigy.compiler.checks import check
from prodigy.compiler.lint import lint
from prodigy.compiler.lower import lower
from prodigy.compiler.lower_core import Lowered
from prodigy.compiler.lower_exprs import ExprCache, parse_all
from prodigy.compiler.model_workflow import Workflow
from prodigy.compiler.normalize import normalize
from prodigy.compiler.plan_build import build_plan
from prodigy.compiler.schema_check import check_schema
from prodigy.compiler.source import LoadedFile, load_file
from prodigy.runtime.diagnostics import CompileError, Diagnostic, Severity, sorted_unique
from prodigy.runtime.plan import Plan


@dataclass(slots=True)
class Unit:
    """One workflow file on its way through the stages."""

    path: str
    args: Mapping[str, str] | None
    profile: str | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    loaded: LoadedFile | None = None
    workflow: Workflow | None = None
    cache: ExprCache | None = None
    lowered: Lowered | None = None

    @property
    def failed(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)


def _load(unit: Unit) -> None:
    unit.loaded = load_file(unit.path)
    unit.diagnostics.extend(unit.loaded.diagnostics)


def _schema(unit: Unit) -> None:
    assert unit.loaded is not None
    unit.diagnostics.extend(check_schema(unit.loaded.data, unit.loaded.source_map))


def _normalize(unit: Unit) -> None:
    assert unit.loaded is not None
    unit.workflow, found = normalize(unit.loaded.data, unit.loaded.source_map, unit.args,
                                     unit.profile)
    unit.diagnostics.extend(found)


def _expressions(unit: Unit) -> None:
    assert unit.loaded is not None and unit.workflow is not None
    unit.cache = parse_all(unit.workflow, unit.loaded.source_map)
    unit.diagnostics.extend(unit.cache.diagnostics)


def _lower(unit: Unit) -> None:
    assert unit.loaded is not None and unit.workflow is not None
    unit.lowered = lower(unit.workflow, unit.loaded.source_map, unit.cache)
    unit.diagnostics.extend(unit.lowered.diagnostics)


def _checks(unit: Unit) -> None:
    assert unit.workflow is not None and unit.lowered is not None
    assert unit.loaded is not None
    unit.diagnostics.extend(check(unit.workflow, unit.lowered))
    unit.diagnostics.extend(lint(unit.workflow, unit.loaded.source_map))


STAGES: tuple[tuple[str, Callable[[Unit], None]], ...] = (
    ("load", _load),
    ("schema", _schema),
    ("normalize", _normalize),
    ("expressions", _expressions),
    ("lower", _lower),
    ("checks", _checks),
)


def _run(path: str, args: Mapping[str, str] | None, profile: str | None) -> Unit:
    unit = Unit(str(path), args, profile)
    for _, stage in STAGES:
        stage(unit)
        if unit.failed:
            break
    return unit


def validate_file(path: str, args: Mapping[str, str] | None = None,
                  profile: str | None = None) -> list[Diagnostic]:
    """Every diagnostic for the workflow at `path`, sorted by position; no plan is built."""
    return sorted_unique(_run(path, args, profile).diagnostics)


def compile_file(path: str, args: Mapping[str, str] | None = None,
                 profile: str | None = None) -> Plan:
    """The plan of the workflow at `path`; raises CompileError carrying every error."""
    unit = _run(path, args, profile)
    if unit.failed:
        raise CompileError(unit.diagnostics)
    assert unit.loaded is not None and unit.workflow is not None
    assert unit.lowered is not None and unit.cache is not None
    return build_plan(unit.lowered, unit.workflow, unit.cache, unit.path, unit.loaded.text)
