"""P602: a map input that names a file no one makes.

`map.input` is read as a JSON file when a file of that name exists in the run's directory, and
run as a shell command otherwise, so a missing `items.json` becomes a command that fails with
exit 127 ("not found"), far from the cause. A value that can only be a file name (one word of
path characters ending in .json, .jsonl or .ndjson, or containing a `/`) that names no file in
the current directory or beside the workflow, and that no setup step mentions, is reported.

A warning, not an error: the run happens elsewhere and later (in a worktree of the last commit,
after setup), where a file may exist that this check cannot see; the runtime fails the map
with the same explanation when the file is still missing then.
"""

from __future__ import annotations

from pathlib import Path

from prodigy.compiler.lower_exprs import expressions
from prodigy.compiler.model_workflow import Workflow
from prodigy.compiler.source import SourceMap
from prodigy.runtime.diagnostics import Diagnostic, Severity
from prodigy.runtime.input_files import looks_like_file


def missing_input(workflow: Workflow, source_map: SourceMap) -> list[Diagnostic]:
    mapped = workflow.map
    if mapped is None:
        return []
    name = mapped.input.value.strip()
    if not looks_like_file(name):
        return []
    places = (Path.cwd(), Path(source_map.file).parent)
    if any((place / name).exists() for place in places) or _made_in_setup(workflow, name):
        return []
    return [Diagnostic(
        "P602", f"map input '{name}' names no file, and no setup step makes it: the run would "
        "execute it as a shell command (exit 127, not found)", mapped.input.span,
        hint="commit the file (a run's worktree holds only committed files), create it in "
        "`setup:`, or correct the path", severity=Severity.WARNING)]


def _made_in_setup(workflow: Workflow, name: str) -> bool:
    """Whether a setup step mentions the file (its path or its base name): then setup is
    taken to create it, as in `debtmap analyze . --output items.json`."""
    if workflow.setup is None:
        return False
    base = Path(name).name
    return any(base in text.value for _, text in expressions(workflow.setup))
