"""The compiler, as the ordered list of its stages.

    load        compiler/source.py         YAML -> data + a span for every value
    compose     compiler/compose*.py       extends, imports, sub-workflows, templates -> one
                                           document, its source map pointing into every file
    schema      compiler/schema_check.py   data vs schemas/workflow.schema.json
    normalize   compiler/normalize*.py     data -> the canonical model (compiler/model.py)
    expressions compiler/lower_exprs.py    every template, condition, filter, sort, json_path
    lower       compiler/lower*.py         model -> networkx graph of typed plan nodes
    checks      compiler/checks.py         references, cycles, unreachable handlers, ids
                compiler/lint*.py          warnings (errors under --strict): unquoted items,
                                           a map input file that does not exist
    plan        compiler/plan_build.py     graph -> runtime.plan.Plan (compile only)

Each stage adds its diagnostics to the unit, and every stage runs on what the earlier ones
left usable, so one run reports every problem of a file (the README's promise): a step the
schema rejects is left out (compiler/schema_prune.py) and the other steps are still normalized,
parsed, lowered and checked; a step in which normalization or the expressions stage found an
error is not lowered, the others are (compiler/partial.py). A stage never sees input an earlier
one rejected, and a reference to what was left out is not reported again. A stage with nothing
usable to read (a file that is not YAML, a document the schema rejects as a whole) ends the run.

`validate_file` treats a value left to the command line (a required parameter, a variable only
`--arg`, `--profile` or the environment sets) as a warning: a pre-commit hook has none of them.
`compile_file`, which `run` uses too, needs them: there it is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from prodigy.compiler.checks import check
from prodigy.compiler.compose import Composed, compose
from prodigy.compiler.lint import lint
from prodigy.compiler.lint_refs import unbound
from prodigy.compiler.lower import lower
from prodigy.compiler.lower_core import Lowered
from prodigy.compiler.lower_exprs import ExprCache, parse_all
from prodigy.compiler.model_workflow import Workflow
from prodigy.compiler.normalize import normalize
from prodigy.compiler.partial import consequences_dropped, declared_names, without_broken_steps
from prodigy.compiler.schema_check import check_schema
from prodigy.compiler.schema_prune import Usable, usable_part
from prodigy.compiler.source import LoadedFile, load_file
from prodigy.runtime.diagnostics import CompileError, Diagnostic, Severity, sorted_unique

if TYPE_CHECKING:
    from prodigy.runtime.plan import Plan


@dataclass(slots=True)
class Unit:
    """One workflow file on its way through the stages."""

    path: str
    args: Mapping[str, str] | None
    profile: str | None
    unbound: Severity = Severity.ERROR  # a value left to the command line that is missing
    diagnostics: list[Diagnostic] = field(default_factory=list)
    loaded: LoadedFile | None = None
    composed: Composed | None = None
    usable: Usable | None = None  # the loaded data the schema accepts
    workflow: Workflow | None = None
    cache: ExprCache | None = None
    lowered: Lowered | None = None

    @property
    def failed(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)


def _load(unit: Unit) -> bool:
    unit.loaded = load_file(unit.path)
    unit.diagnostics.extend(unit.loaded.diagnostics)
    # A duplicate key still leaves a document; a syntax error or a scalar document does not.
    return isinstance(unit.loaded.data, dict | list)


def _compose(unit: Unit) -> bool:
    assert unit.loaded is not None
    unit.composed = compose(unit.loaded)
    unit.loaded = unit.composed.loaded
    unit.diagnostics.extend(unit.composed.diagnostics)
    return True  # what a missing file or a bad reference left out is reported; the rest goes on


def _schema(unit: Unit) -> bool:
    assert unit.loaded is not None
    found = check_schema(unit.loaded.data, unit.loaded.source_map)
    unit.diagnostics.extend(found)
    unit.usable = usable_part(unit.loaded.data) if found else Usable(unit.loaded.data,
                                                                     frozenset())
    return unit.usable is not None


def _normalize(unit: Unit) -> bool:
    assert unit.loaded is not None and unit.usable is not None
    unit.workflow, found = normalize(unit.usable.data, unit.loaded.source_map, unit.args,
                                     unit.profile, skip=unit.usable.skipped,
                                     unbound=unit.unbound)
    unit.diagnostics.extend(found)
    return unit.workflow is not None


def _expressions(unit: Unit) -> bool:
    assert unit.loaded is not None and unit.workflow is not None
    unit.cache = parse_all(unit.workflow, unit.loaded.source_map)
    unit.diagnostics.extend(unit.cache.diagnostics)
    return True  # the steps with bad expressions are left out of lowering, not the rest


def _lower(unit: Unit) -> bool:
    assert unit.loaded is not None and unit.workflow is not None
    if unit.failed:
        # The later stages see the workflow without the steps errors were found in.
        unit.workflow = without_broken_steps(unit.workflow, (
            d.span for d in unit.diagnostics if d.severity is Severity.ERROR and d.span))
    unit.lowered = lower(unit.workflow, unit.loaded.source_map, unit.cache)
    unit.diagnostics.extend(unit.lowered.diagnostics)
    return True


def _checks(unit: Unit) -> bool:
    assert unit.workflow is not None and unit.lowered is not None
    assert unit.loaded is not None
    lowered = unit.lowered
    if unit.failed:
        issues = consequences_dropped(lowered.issues, declared_names(unit.loaded.data))
        lowered = replace(lowered, issues=issues)
    unit.diagnostics.extend(check(unit.workflow, lowered))
    unit.diagnostics.extend(lint(unit.workflow, unit.loaded.source_map))
    assert unit.cache is not None
    unit.diagnostics.extend(unbound(unit.workflow, lowered, unit.cache, unit.loaded.source_map,
                                    unit.args))
    return True


# Each stage returns whether the next one has anything to read.
STAGES: tuple[tuple[str, Callable[[Unit], bool]], ...] = (
    ("load", _load),
    ("compose", _compose),
    ("schema", _schema),
    ("normalize", _normalize),
    ("expressions", _expressions),
    ("lower", _lower),
    ("checks", _checks),
)


def _run(path: str, args: Mapping[str, str] | None, profile: str | None,
         unbound: Severity) -> Unit:
    unit = Unit(str(path), args, profile, unbound)
    for _, stage in STAGES:
        if not stage(unit):
            break
    if unit.composed is not None and unit.composed.via:
        # A problem in a file pulled in says which chain of references pulled it in.
        unit.diagnostics = unit.composed.annotate(unit.diagnostics)
    return unit


def validate_file(path: str, args: Mapping[str, str] | None = None,
                  profile: str | None = None) -> list[Diagnostic]:
    """Every diagnostic for the workflow at `path`, sorted by position; no plan is built.
    A value only the command line can give is a warning when it is missing."""
    return sorted_unique(_run(path, args, profile, Severity.WARNING).diagnostics)


def compile_file(path: str, args: Mapping[str, str] | None = None,
                 profile: str | None = None) -> Plan:
    """The plan of the workflow at `path`; raises CompileError carrying every error."""
    from prodigy.compiler.plan_build import build_plan  # here: `validate` builds no plan

    unit = _run(path, args, profile, Severity.ERROR)
    if unit.failed:
        raise CompileError(unit.diagnostics)
    assert unit.loaded is not None and unit.workflow is not None
    assert unit.lowered is not None and unit.cache is not None
    return build_plan(unit.lowered, unit.workflow, unit.cache, unit.path, unit.loaded.text)
