"""`prodigy worktree ls | merge | clean`: the git worktrees prodigy made for this repository.

    ls [--json]           one row per worktree: kind, run, item, state, age (since its state
                          last changed), whether its directory is still there, branch, path,
                          and why it was kept
    merge RUN_ID [-y]     merge a finished run's kept branch into the branch it started from
                          (the merge a run makes at its end: `common.merge_back`)
    clean [RUN_ID] [--all] [--merged-only] [--older-than DURATION] [--dry-run] [--force]
                          remove worktrees with their branches and records; which ones, and
                          which never, is `runtime/git/cleanup.py`'s docstring

All of them act on the repository of the current directory (its main checkout or any of its
worktrees), whose worktrees live under `$PRODIGY_HOME/worktrees/`. Exit codes: 0 ok, 1 a
worktree could not be removed, 2 invalid input (not in a git repository, no worktree of that
run, a bad duration).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from prodigy.cli.common import (
    ExitCode,
    MergeChoice,
    invalid_input,
    merge_back,
    older_than_seconds,
    recorded_run,
    resolve_state_dir,
    stored_plan,
)

if TYPE_CHECKING:
    from prodigy.runtime.git.worktrees import WorktreeHome


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worktree = commands.add_parser(
        "worktree", help="the git worktrees of runs and map agents: ls, merge, clean",
        description="The git worktrees prodigy made for the repository of the current directory.")
    actions = worktree.add_subparsers(dest="worktree_action", metavar="ACTION", required=True)

    ls = actions.add_parser("ls", help="list the worktrees and why each was kept",
                            description="List prodigy's worktrees of this repository.")
    ls.add_argument("--json", action="store_true", help="print a JSON list")
    ls.set_defaults(handler=cmd_ls)

    merge = actions.add_parser("merge", help="merge a kept run's branch into its target",
                               description="Merge a run's branch into the branch it started "
                                           "from, then remove its worktree.")
    merge.add_argument("run_id", metavar="RUN_ID")
    merge.add_argument("-y", "--yes", action="store_true", help="merge without asking")
    merge.add_argument("--state-dir", metavar="DIR",
                       help="run state directory (default: $PRODIGY_STATE_DIR or ./.prodigy)")
    merge.set_defaults(handler=cmd_merge)

    clean = actions.add_parser(
        "clean", help="remove worktrees that are done with (or a run's, or all)",
        description="Remove worktrees, their branches and records. Without RUN_ID or --all: "
                    "the ones not active (failed or conflicting agents, kept or merged runs) "
                    "and the ones whose directory is gone. A run in progress is never "
                    "touched; a run branch with commits no other branch has needs --force.")
    clean.add_argument("run_id", nargs="?", metavar="RUN_ID", help="only this run's worktrees "
                       "(its own and its agents'), whatever their state")
    clean.add_argument("--all", action="store_true", dest="every",
                       help="every worktree of this repository, whatever its state")
    clean.add_argument("--merged-only", action="store_true",
                       help="only those merged (state merged, or no commit of their own)")
    clean.add_argument("--older-than", metavar="DURATION",
                       help="only those whose state changed more than DURATION ago "
                            "(30m, 12h, 7d, 1d12h; units s m h d)")
    clean.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    clean.add_argument("--force", action="store_true",
                       help="also remove run branches holding commits no other branch has")
    clean.set_defaults(handler=cmd_clean)


def _home() -> WorktreeHome | ExitCode:
    from prodigy.runtime.git.repo import find_repo
    from prodigy.runtime.git.worktrees import WorktreeHome

    repo = find_repo(Path.cwd())
    if repo is None:
        return invalid_input(f"{Path.cwd()} is not in a git repository: prodigy's worktrees "
                             "are listed and cleaned per repository; run this inside one")
    return WorktreeHome(repo)


def cmd_ls(args: argparse.Namespace) -> int:
    home = _home()
    if isinstance(home, ExitCode):
        return home
    now = time.time()
    rows = [{**info.to_json(), "exists": Path(info.path).exists(),
             "age_seconds": round(max(0.0, now - info.updated_at), 3)} for info in home.all()]
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return ExitCode.OK
    if not rows:
        print(f"no prodigy worktrees for {home.repo.main_root} (in {home.root})",
              file=sys.stderr)
        return ExitCode.OK
    table = [("KIND", "RUN_ID", "ITEM", "STATE", "AGE", "DIR", "BRANCH", "PATH")]
    table += [(r["kind"], r["run_id"], r["item"] or "-", r["state"], _age(r["age_seconds"]),
               "present" if r["exists"] else "missing", r["branch"], r["path"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for index, row in enumerate(table):
        print("  ".join([*(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)),
                         row[-1]]))
        reason = rows[index - 1]["reason"] if index else ""
        if reason:
            print(f"    why kept: {reason}")
    return ExitCode.OK


def cmd_merge(args: argparse.Namespace) -> ExitCode:
    """Only a run that succeeded is merged back: a failed run's branch is kept for `prodigy
    resume`, and merging half a run is what the worktree exists to prevent."""
    from prodigy.runtime.store import RunStatus

    state = resolve_state_dir(args)
    record = recorded_run(state, args.run_id)
    if isinstance(record, ExitCode):
        return record
    if record.status is RunStatus.RUNNING:
        print(f"prodigy: run {args.run_id} is still running; merge it when it has finished",
              file=sys.stderr)
        return ExitCode.LOCKED
    if record.status is not RunStatus.SUCCEEDED:
        return invalid_input(f"run {args.run_id} {record.status}: only a run that succeeded is "
                             f"merged back (continue it with `prodigy resume {args.run_id}`)",
                             code="P505")
    plan = stored_plan(state, args.run_id)
    if isinstance(plan, ExitCode):
        return plan
    return merge_back(plan, state, args.run_id, MergeChoice(yes=args.yes))


def cmd_clean(args: argparse.Namespace) -> int:
    from prodigy.runtime.errors import ProdigyError
    from prodigy.runtime.git.cleanup import plan_clean, survey

    home = _home()
    if isinstance(home, ExitCode):
        return home
    older_than = older_than_seconds(args.older_than)
    if isinstance(older_than, ExitCode):
        return older_than
    found = survey(home)
    if args.run_id is not None and not any(f.info.run_id == args.run_id for f in found):
        return invalid_input(f"no worktree of run {args.run_id!r} for {home.repo.main_root} "
                             "(see `prodigy worktree ls`)", code="P505")
    decisions = plan_clean(found, home.repo.main_root, run_id=args.run_id, every=args.every,
                           merged_only=args.merged_only, older_than=older_than,
                           force=args.force, now=time.time())
    removed = skipped = failed = 0
    for decision in decisions:
        info = decision.found.info
        what = (f"{info.kind} worktree {info.run_id}{'/' + info.item if info.item else ''} "
                f"({info.state}) {info.path}, branch {info.branch}")
        if decision.skip:
            skipped += 1
            print(f"kept {what}: {decision.skip}", file=sys.stderr)
            continue
        if not args.dry_run:
            try:
                home.remove(Path(info.path), info.branch, keep_meta=False)
            except (ProdigyError, OSError) as exc:
                failed += 1
                print(f"prodigy: could not remove {what}: {exc}", file=sys.stderr)
                continue
        removed += 1
        print(f"{'would remove' if args.dry_run else 'removed'} {what}"
              + ("" if decision.found.exists else " (directory already gone)"))
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {removed} worktree{'s' * (removed != 1)}"
          + (f", kept {skipped}" if skipped else "") + (f", {failed} failed" if failed else ""))
    return ExitCode.FAILED if failed else ExitCode.OK


def _age(seconds: float) -> str:
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            return f"{whole // size}{unit}"
    return f"{whole}s"
