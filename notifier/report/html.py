"""Figures -> one self-contained HTML page (templates/report/), chart included as inline SVG.

The environment is the report's own, not notifier.render's: those templates are user-overridable
notification sets, these are the project's, with every template autoescaped (.html and .svg alike).
It is still sandboxed with StrictUndefined, like every Jinja2 environment in this project: a typo
fails loudly, and a value can never reach Python internals. Built once per process.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from ..resources import TEMPLATES_DIR
from .model import REPORT_VERSION, Figures
from .svg_chart import chart_of, readable

REPORT_TEMPLATES = TEMPLATES_DIR / "report"
PAGE = "report.html.j2"


def render_html(figures: Figures) -> str:
    rules = figures.rules
    context: dict[str, Any] = {
        "figures": figures,
        "report_version": REPORT_VERSION,
        "chart": chart_of(figures.open_over_time),
        "totals": {
            "opened": sum(rule.opened for rule in rules),
            "resolved": sum(rule.resolved for rule in rules),
            "retired": sum(rule.retired for rule in rules),
        },
        "open_by": [
            ("rule", "open-by-rule", figures.open_by_rule),
            ("account", "open-by-account", figures.open_by_account),
            ("resource type", "open-by-resource-type", figures.open_by_resource_type),
        ],
    }
    return _environment().get_template(PAGE).render(context)


def human_duration(duration: timedelta | None) -> str:
    """Two units at most, which is what a reader compares: '3d 4h', '5h 07m', '12m', '40s'; '—' for none."""
    if duration is None:
        return "—"
    total = int(duration.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m" if minutes else f"{secs}s"


@functools.cache
def _environment() -> SandboxedEnvironment:
    environment = SandboxedEnvironment(
        loader=FileSystemLoader(str(REPORT_TEMPLATES)),
        undefined=StrictUndefined,
        autoescape=True,
        auto_reload=False,
    )
    environment.filters["utc"] = readable
    environment.filters["duration"] = human_duration
    return environment
