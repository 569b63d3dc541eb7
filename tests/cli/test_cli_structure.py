"""The shape of `prodigy.cli`: leaf command modules around one `common`, exit codes as documented.

A command module that imports another (or main) is how the old run/dlq import cycle began; the
exit codes are a contract with scripts and pre-commit hooks, so the enum must say what the
README says.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from prodigy.cli import main
from prodigy.cli.common import ExitCode

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "prodigy" / "cli"
SHARED = {"__init__", "common", "main"}
COMMAND_MODULES = sorted(p.stem for p in CLI.glob("*.py") if p.stem not in SHARED)


def _cli_imports(path: Path) -> set[str]:
    """Every `prodigy.cli.X` the file imports, at any depth (function-level imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: `from . import x` / `from .x import y`, inside prodigy.cli
                base = "prodigy.cli" + (f".{node.module}" if node.module else "")
            else:
                base = node.module or ""
            names = [base] if base != "prodigy.cli" else [
                f"prodigy.cli.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name.startswith("prodigy.cli."))
    return found


def test_there_are_command_modules() -> None:
    assert len(COMMAND_MODULES) >= 3, COMMAND_MODULES


def test_command_modules_import_only_common_from_the_cli() -> None:
    wrong = {name: sorted(imports - {"prodigy.cli.common"})
             for name in COMMAND_MODULES
             if (imports := _cli_imports(CLI / f"{name}.py")) - {"prodigy.cli.common"}}
    assert wrong == {}


def test_common_imports_nothing_from_the_cli() -> None:
    assert _cli_imports(CLI / "common.py") == set()


def test_main_registers_every_command_module_from_its_table() -> None:
    registered = {add.__module__.rpartition(".")[2] for add in main.COMMAND_TABLE}
    assert registered == set(COMMAND_MODULES)
    assert all(add.__name__ == "add_commands" for add in main.COMMAND_TABLE)


def test_exit_codes_match_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("\nExit codes:")
    paragraph = " ".join(readme[start:readme.index("\n\n", start)].split())
    documented = {int(code): text.strip()
                  for code, text in re.findall(r"`(\d+)` ([^`·]+)", paragraph)}
    meaning = {
        ExitCode.OK: "success",
        ExitCode.FAILED: "the workflow ran and failed",
        ExitCode.INVALID: "invalid input",
        ExitCode.INTERNAL: "internal error",
        ExitCode.LOCKED: "locked by a live process",
        ExitCode.INTERRUPTED: "interrupted",
    }
    assert set(documented) == {int(code) for code in ExitCode}
    for code, words in meaning.items():
        assert words in documented[code], (code, documented[code])
