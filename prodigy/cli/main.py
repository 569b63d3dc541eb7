"""The `prodigy` command: parse arguments, dispatch to a handler, map outcomes to exit codes.

Exit codes (CONTRACT.md): 0 ok, 1 the workflow ran and failed, 2 invalid input, 3 internal error,
4 state dir locked by a live run, 130 interrupted. Handlers return a code; anything that escapes
a handler is a bug and is reported as one, never as a bare traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from prodigy import __version__
from prodigy.cli import compile_commands, run_commands

EXIT_INTERNAL = 3


def build_parser() -> argparse.ArgumentParser:
    # argparse exits 2 on usage errors, as the contract wants.
    parser = argparse.ArgumentParser(
        prog="prodigy",
        description="Compile AI coding workflows into explicit plans; run them with checkpoints.",
    )
    parser.add_argument("--version", action="version", version=f"prodigy {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    compile_commands.add_compile_commands(commands)
    run_commands.add_run_commands(commands)
    run_commands.add_dlq_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = handler(args)
        return code
    except KeyboardInterrupt:
        print("prodigy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception:
        print("prodigy: internal error (this is a bug; please report it):", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return EXIT_INTERNAL
