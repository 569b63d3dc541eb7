"""The report as one HTML file: the gathered run through a Jinja2 template (autoescaped), with
its stylesheet, script and charts inline, so it opens from disk and fetches nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from prodigy.runtime.html_report.charts import clock, cost_bars, timeline_view
from prodigy.runtime.html_report.gather import RunData, gather
from prodigy.runtime.store import RunRecord, StateDir, atomic_write

_PROLOG = re.compile(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->", re.DOTALL)


@dataclass(frozen=True, slots=True)
class PlanPicture:
    """The plan drawn by the compiler (the CLI draws it: the runtime never imports the
    compiler): graphviz's SVG when `dot` could render it, else the Mermaid text."""

    svg: str | None = None
    mermaid: str | None = None

    @classmethod
    def draw(cls, dot_text: str, mermaid_text: str) -> PlanPicture:
        dot = shutil.which("dot")
        if dot is not None:
            try:
                done = subprocess.run([dot, "-Tsvg"], input=dot_text, capture_output=True,
                                      text=True, timeout=60, check=False)
            except (OSError, subprocess.TimeoutExpired):
                done = None
            if done is not None and done.returncode == 0 and "<svg" in done.stdout:
                # Inline in HTML: no XML prolog, doctype (a URL) or comments.
                return cls(svg=_PROLOG.sub("", done.stdout).strip())
        return cls(mermaid=mermaid_text)


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("prodigy.runtime.html_report", "."),
                      autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["clock"] = clock
    env.filters["when"] = lambda ts: time.strftime("%Y-%m-%d %H:%M:%S",
                                                   time.localtime(ts)) if ts else ""
    return env


def render(data: RunData, out: Path, picture: PlanPicture | None = None) -> str:
    """The page for `data`, its links to logs relative to where it is written (`out`)."""

    def link(path: str) -> str:
        return os.path.relpath(path, out.parent) if path else ""

    bars, height = cost_bars(data.by_item)
    steps, step_height = cost_bars(data.by_step)
    template = _environment().get_template("report.html.j2")
    return template.render(
        d=data, r=data.record, view=timeline_view(data.timeline, data.phases),
        item_costs=bars, item_costs_height=height, step_costs=steps,
        step_costs_height=step_height, link=link,
        svg=Markup(picture.svg) if picture and picture.svg else None,
        mermaid=picture.mermaid if picture else None, generated=time.time())


def write_report(state: StateDir, record: RunRecord, out: Path | None = None,
                 picture: PlanPicture | None = None) -> Path:
    """Write the report of `record`'s run to `out` (default `runs/RUN_ID/report.html`)."""
    target = out or state.run_dir(record.run_id) / "report.html"
    atomic_write(target, render(gather(state, record), target.absolute(), picture), 0o644)
    return target
