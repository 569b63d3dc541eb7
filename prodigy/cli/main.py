"""The `prodigy` command: parse arguments, dispatch to a handler, return its exit code.

Each command module registers its parsers through `add_commands`; this module lists them once
and is the only one that imports them. Handlers return an `ExitCode`; anything that escapes a
handler is a bug and is reported as one, never as a bare traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from prodigy import __version__
from prodigy.cli import (
    batch_commands,
    compile_commands,
    dlq_commands,
    init_commands,
    logs_commands,
    report_commands,
    run_commands,
    runs_commands,
    template_commands,
    worktree_commands,
)
from prodigy.cli.common import ExitCode
from prodigy.runtime.errors import CheckpointError

# In the order `prodigy --help` lists the commands.
COMMAND_TABLE: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    compile_commands.add_commands,  # validate, compile
    run_commands.add_commands,  # exec, run (cook), resume
    batch_commands.add_commands,  # batch
    runs_commands.add_commands,  # runs, events, clean, checkpoints list | show | clean
    logs_commands.add_commands,  # logs
    report_commands.add_commands,  # report
    dlq_commands.add_commands,  # dlq list | show | retry | purge
    worktree_commands.add_commands,  # worktree ls | merge | clean
    init_commands.add_commands,  # init
    template_commands.add_commands,  # template list | show
)


def build_parser() -> argparse.ArgumentParser:
    # argparse exits 2 on usage errors, as the contract wants.
    parser = argparse.ArgumentParser(
        prog="prodigy",
        description="Compile AI coding workflows into explicit plans; run them with checkpoints.",
    )
    parser.add_argument("--version", action="version", version=f"prodigy {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_commands in COMMAND_TABLE:
        add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return int(ExitCode.INVALID)
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        print("prodigy: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitCode.OK)
    except CheckpointError as exc:  # damaged or unusable run state: the state's fault, not ours
        print(f"prodigy: {exc}", file=sys.stderr)
        return int(ExitCode.INVALID)
    except UnicodeDecodeError as exc:  # a state file that is not UTF-8 (events.jsonl)
        print(f"prodigy: a state file is not UTF-8 text ({exc.reason} at byte {exc.start}): "
              "it is damaged", file=sys.stderr)
        return int(ExitCode.INVALID)
    except Exception:
        print("prodigy: internal error (this is a bug; please report it):", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return int(ExitCode.INTERNAL)
