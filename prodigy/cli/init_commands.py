"""`prodigy init [DIR] [--force] [--list]`: starter Claude Code slash commands for a repository.

Writes `.claude/commands/prodigy-*.md` (the texts are `prodigy.starter_commands`) into DIR, or,
without DIR, into the top of the git repository of the current directory (the current directory
when it is in none). An existing file is kept unless `--force`; the output says which files were
written and which kept. `--list` prints the names and writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prodigy.cli.common import ExitCode, invalid_input


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = commands.add_parser(
        "init", help="write starter Claude Code slash commands into .claude/commands/",
        description="Write starter Claude Code slash commands (/prodigy-lint, "
                    "/prodigy-implement-spec, ...) into the repository's .claude/commands/.")
    init.add_argument("dir", nargs="?", metavar="DIR",
                      help="the repository (default: the current one, else the current dir)")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.add_argument("--list", action="store_true",
                      help="print the files it would write, and write nothing")
    init.set_defaults(handler=cmd_init)


def cmd_init(args: argparse.Namespace) -> ExitCode:
    from prodigy.starter_commands import COMMANDS

    if args.list:
        for name in COMMANDS:
            print(f".claude/commands/{name}.md")
        return ExitCode.OK
    root = Path(args.dir).expanduser() if args.dir else _repository_root(Path.cwd())
    if not root.is_dir():
        return invalid_input(f"{root} is not a directory")
    target = root / ".claude" / "commands"
    written = kept = 0
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name, text in COMMANDS.items():
            path = target / f"{name}.md"
            if path.exists() and not args.force:
                print(f"kept  {path} (it exists; --force overwrites it)")
                kept += 1
                continue
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
            written += 1
    except OSError as exc:
        return invalid_input(f"cannot write into {target}: {exc.strerror or exc}")
    print(f"{written} written, {kept} kept; a workflow calls them as "
          f"`claude: \"/prodigy-lint\"`", file=sys.stderr)
    return ExitCode.OK


def _repository_root(cwd: Path) -> Path:
    from prodigy.runtime.git.repo import find_repo

    repo = find_repo(cwd)
    return repo.toplevel if repo is not None else cwd
