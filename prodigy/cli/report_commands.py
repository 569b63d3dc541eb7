"""`prodigy report RUN_ID [-o FILE]`: the run as one self-contained HTML page.

The page is built from the run's records only (`runtime/html_report/`), so it works for a run
that finished, failed, was interrupted, or is still going (what happened so far).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prodigy.cli.common import (
    ExitCode,
    recorded_run,
    resolve_state_dir,
    write_html_report,
)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report", help="write a run's HTML report (timeline, items, failures, cost, plan)",
        description="Write RUN_ID's report: one HTML file with everything inline (it opens "
                    "from disk and prints), read from the run's records.")
    report.add_argument("run_id", metavar="RUN_ID")
    report.add_argument("-o", "--output", metavar="FILE",
                        help="where to write it (default: runs/RUN_ID/report.html in the "
                             "state dir)")
    report.add_argument("--state-dir", metavar="DIR")
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> ExitCode:

    state = resolve_state_dir(args)
    record = recorded_run(state, args.run_id)
    if isinstance(record, ExitCode):
        return record
    written = write_html_report(state, record, Path(args.output) if args.output else None)
    if isinstance(written, ExitCode):
        return written
    print(written)
    return ExitCode.OK
