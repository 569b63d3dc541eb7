"""`prodigy validate` and `prodigy compile`: the front end's commands.

Imports of the compiler happen inside the handlers so that `prodigy --help` and the run commands
stay cheap; `validate` in a pre-commit hook pays only for what it uses.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from prodigy.cli.common import ExitCode, add_binding_options, parse_bindings, print_diagnostics

if TYPE_CHECKING:
    from prodigy.runtime.diagnostics import Diagnostic


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = commands.add_parser(
        "validate",
        help="check workflow files without running them (for editors, CI and pre-commit)",
        description="Load, schema-check, parse expressions and check the graph of each file. "
        "Prints every problem at once; exits 0 when all files are valid, 2 otherwise.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="workflow YAML files")
    validate.add_argument("--format", choices=("text", "json"), default="text",
                          help="diagnostic output format (default: text)")
    validate.add_argument("--strict", action="store_true",
                          help="treat lint warnings as errors")
    add_binding_options(validate)
    validate.set_defaults(handler=run_validate)

    compile_ = commands.add_parser(
        "compile",
        help="compile a workflow into a plan (json, dot or mermaid)",
        description="Compile FILE into its plan. Same input gives byte-identical output.",
    )
    compile_.add_argument("file", metavar="FILE", help="workflow YAML file")
    compile_.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")
    compile_.add_argument("--emit", choices=("json", "dot", "mermaid"), default="json",
                          help="output format (default: json)")
    add_binding_options(compile_)
    compile_.add_argument("--format", choices=("text", "json"), default="text",
                          help="diagnostic output format (default: text)")
    compile_.set_defaults(handler=run_compile)


def _cli_diagnostic(message: str, code: str = "P501") -> Diagnostic:
    from prodigy.runtime.diagnostics import Diagnostic

    return Diagnostic(code, message, None)


def run_validate(args: argparse.Namespace) -> int:
    from prodigy.compiler.pipeline import validate_file
    from prodigy.runtime.diagnostics import Severity

    bindings, errors = parse_bindings(args)
    if errors:
        print_diagnostics([_cli_diagnostic(e) for e in errors], args.format)
        return ExitCode.INVALID
    diagnostics = []
    for file in args.files:
        diagnostics.extend(validate_file(file, bindings or None, args.profile))
    if args.strict:
        failing = diagnostics
    else:
        failing = [d for d in diagnostics if d.severity is Severity.ERROR]
    if diagnostics or args.format == "json":
        print_diagnostics(diagnostics, args.format)
    return ExitCode.INVALID if failing else ExitCode.OK


def run_compile(args: argparse.Namespace) -> int:
    from prodigy.compiler.emit import emit
    from prodigy.compiler.pipeline import compile_file
    from prodigy.runtime.diagnostics import CompileError

    bindings, errors = parse_bindings(args)
    if errors:
        print_diagnostics([_cli_diagnostic(e) for e in errors], args.format)
        return ExitCode.INVALID
    try:
        plan = compile_file(args.file, bindings, args.profile)
    except CompileError as exc:
        print_diagnostics(list(exc.diagnostics), args.format)
        return ExitCode.INVALID
    chunks = emit(plan, args.emit)
    if args.output:
        write_atomically(Path(args.output), chunks)
    else:
        sys.stdout.writelines(chunks)
    return ExitCode.OK


def write_atomically(path: Path, chunks: Iterable[str]) -> None:
    """Write via a temp file in the same directory and rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(chunks)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

