"""`prodigy report`: a run as one self-contained HTML page (timeline, items, failures, cost,
plan, resume history), built from the run's own records only."""

from __future__ import annotations

from prodigy.runtime.html_report.render import PlanPicture, write_report

__all__ = ["PlanPicture", "write_report"]
