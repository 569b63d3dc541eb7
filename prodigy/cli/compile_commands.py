"""`prodigy validate` and `prodigy compile`: the front end's commands.

Imports of the compiler happen inside the handlers so that `prodigy --help` and the run commands
stay cheap; `validate` in a pre-commit hook pays only for what it uses.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from prodigy.cli.common import (
    ExitCode,
    add_binding_options,
    import_frozen,
    parse_bindings,
    print_diagnostics,
)

if TYPE_CHECKING:
    from prodigy.runtime.diagnostics import Diagnostic


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = commands.add_parser(
        "validate",
        help="check workflow files without running them (for editors, CI and pre-commit)",
        description="Load, schema-check, parse expressions and check the graph of each file. "
        "Prints every problem of every file at once, then one summary line on stderr; exits 0 "
        "when all files are valid, 2 otherwise. Warnings (lint, and values left to --arg, "
        "--profile or the environment, which a pre-commit hook does not have) fail only under "
        "--strict.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="workflow YAML files")
    validate.add_argument("--format", choices=("text", "json"), default="text",
                          help="diagnostic output format (default: text)")
    validate.add_argument("--strict", action="store_true",
                          help="treat warnings as errors (lint, and values left to --arg, "
                          "--profile or the environment)")
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
    import_frozen("prodigy.compiler.pipeline")
    from prodigy.compiler.pipeline import validate_file
    from prodigy.runtime.diagnostics import Severity

    bindings, errors = parse_bindings(args)
    if errors:
        print_diagnostics([_cli_diagnostic(e) for e in errors], args.format)
        return ExitCode.INVALID
    diagnostics: list[Diagnostic] = []
    invalid = 0
    for file in args.files:
        found = validate_file(file, bindings or None, args.profile)
        if args.strict:
            found = [_promoted(d) for d in found]
        invalid += any(d.severity is Severity.ERROR for d in found)
        diagnostics.extend(found)
    if diagnostics or args.format == "json":
        print_diagnostics(diagnostics, args.format)
    # On stderr, so that `--format json` output stays one JSON document.
    print(_summary(len(args.files), invalid, diagnostics), file=sys.stderr)
    return ExitCode.INVALID if invalid else ExitCode.OK


def _promoted(diag: Diagnostic) -> Diagnostic:
    """Under --strict a warning fails validation: it is shown as the error it now is, saying
    why, so the reader does not look for what makes it wrong beyond the warning."""
    from dataclasses import replace

    from prodigy.runtime.diagnostics import Severity

    if diag.severity is not Severity.WARNING:
        return diag
    return replace(diag, severity=Severity.ERROR,
                   message=f"{diag.message} (a warning, made an error by --strict)")


def _summary(files: int, invalid: int, diagnostics: list[Diagnostic]) -> str:
    from prodigy.runtime.diagnostics import Severity

    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    tail = f", {count(warnings, 'warning')}" if warnings else ""
    if not invalid:
        return f"{count(files, 'file')} OK{tail}"
    which = f"{invalid} of {files} files" if files > 1 else "1 file"
    return f"{which} invalid: {count(errors, 'error')}{tail}"


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
    import tempfile  # here, not at the top: `validate` never writes a file

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

