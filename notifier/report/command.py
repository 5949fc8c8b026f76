"""`compliance-notifier report`: read the state store's history, compute the figures, write HTML or JSON.

The only I/O of the report: the store is opened read-only (a report must never change what it
reports on), and the output goes to a file or stdout.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from ..errors import NotifierError
from .figures import compute_figures
from .html import render_html

DEFAULT_HTML_OUTPUT = Path("compliance-report.html")
STDOUT = "-"


def run_report(
    *,
    state_url: str | None,
    output_format: str,
    output: str | None,
    since: str | None,
    now: str | None,
    top: int,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`out` and `err` default to sys.stdout and sys.stderr as they are at call time (tests swap them)."""
    from ..state import default_state_url, open_state

    out, err = out or sys.stdout, err or sys.stderr

    report_time = parse_time(now, "--now") if now is not None else datetime.now(UTC)
    window_start = parse_time(since, "--since") if since is not None else None
    url = state_url or default_state_url()
    state = open_state(url, read_only=True)
    try:
        entries = state.history()
    finally:
        state.close()
    if not entries:  # most often a wrong --state: say so rather than print a report of nothing
        err.write(f"warning: the state store {url} has no history; the report is empty\n")
    figures = compute_figures(entries, now=report_time, since=window_start, top=top)
    if output_format == "json":
        text = json.dumps(figures.to_json(), indent=2) + "\n"
        destination = output or STDOUT
    else:
        text = render_html(figures)
        destination = output or str(DEFAULT_HTML_OUTPUT)
    if destination == STDOUT:
        out.write(text)
        return 0
    path = Path(destination)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise NotifierError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    err.write(f"wrote {path}: {figures.open_total} open violation(s)\n")
    return 0


def parse_time(value: str, option: str) -> datetime:
    """ISO-8601, as Config writes it ('2024-01-02T03:04:05.000Z') or shorter ('2024-01-02'); UTC unless
    it says otherwise."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise NotifierError(f"{option} {value!r} is not an ISO-8601 time such as 2024-01-31T09:00:00Z") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
