"""The compliance report (docs/report.md): open violations, the oldest ones, time to resolve per rule,
and open violations over time, computed from the state store's history.

    history entries ──compute_figures──► Figures ──to_json──► --format json
                       (figures.py, pure)        └─render_html─► one offline HTML page (html.py,
                                                                 templates/report/, svg_chart.py)

`run_report` (command.py) is the CLI's `report` subcommand: the only part that does I/O.
"""

from __future__ import annotations

from .command import run_report
from .figures import DEFAULT_TOP, compute_figures, event_time, nearest_rank
from .html import render_html
from .model import EntryCounts, Figures, OpenCount, OpenViolation, RuleFigures, SeriesPoint

__all__ = [
    "DEFAULT_TOP",
    "EntryCounts",
    "Figures",
    "OpenCount",
    "OpenViolation",
    "RuleFigures",
    "SeriesPoint",
    "compute_figures",
    "event_time",
    "nearest_rank",
    "render_html",
    "run_report",
]
