"""The open-violations step series as chart geometry: pure arithmetic, no markup.

templates/report/chart.svg.j2 draws what this computes (axes, grid, ticks, the step path), so the
numbers are testable without parsing SVG and the markup stays in a template that autoescapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .model import SeriesPoint

WIDTH, HEIGHT = 880, 300
# Room for the y tick labels and axis title on the left, the x tick labels and axis title below.
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 24, 16, 56
MAX_MARKERS = 120  # beyond this the dots become a smear: the line alone reads better
MAX_X_TICKS = 7

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
_FIXED_STEPS = (HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY)
_MONTH_STEPS = (1, 2, 3, 6, 12)


@dataclass(frozen=True, slots=True)
class Tick:
    position: float  # x or y in SVG user units
    label: str


@dataclass(frozen=True, slots=True)
class Marker:
    x: float
    y: float
    label: str  # shown as the marker's tooltip: "2024-01-02 03:04 UTC: 3 open"


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    line: str  # the step path's `d`
    area: str  # the same path closed down to the x axis, for the shading under it
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    markers: tuple[Marker, ...]
    summary: str  # the chart in one sentence: its aria-label and <desc>


def chart_of(series: Sequence[SeriesPoint]) -> Chart:
    """`series` as compute_figures gives it: oldest first, at least one point."""
    start, end = series[0].at, series[-1].at
    if end <= start:  # a single instant (an empty or brand-new history): show the hour before it
        start = end - HOUR
    left, right = float(MARGIN_LEFT), float(WIDTH - MARGIN_RIGHT)
    top, bottom = float(MARGIN_TOP), float(HEIGHT - MARGIN_BOTTOM)
    y_step = _count_step(max(point.open for point in series))
    y_max = max(y_step, -(-max(point.open for point in series) // y_step) * y_step)

    def x_of(moment: datetime) -> float:
        return round(left + (right - left) * ((moment - start) / (end - start)), 1)

    def y_of(count: int) -> float:
        return round(bottom - (bottom - top) * count / y_max, 1)

    commands = [f"M{x_of(series[0].at)} {y_of(series[0].open)}"]
    for point in series[1:]:
        commands.append(f"H{x_of(point.at)} V{y_of(point.open)}")
    line = " ".join(commands)
    area = f"{line} V{bottom} H{x_of(series[0].at)} Z"
    markers = (
        tuple(Marker(x_of(point.at), y_of(point.open), f"{readable(point.at)}: {point.open} open") for point in series)
        if len(series) <= MAX_MARKERS
        else ()
    )
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        line=line,
        area=area,
        x_ticks=tuple(Tick(x_of(moment), label) for moment, label in time_ticks(start, end)),
        y_ticks=tuple(Tick(y_of(count), str(count)) for count in range(0, y_max + 1, y_step)),
        markers=markers,
        summary=_summary(series),
    )


def time_ticks(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """Round UTC instants between start and end, at most MAX_X_TICKS of them: hours and days for
    short spans, first-of-month dates for long ones (months are not a fixed length)."""
    span = end - start
    for step in _FIXED_STEPS:
        if span / step <= MAX_X_TICKS:
            # Counting from the epoch (a Thursday, at midnight) keeps hours and days on round values;
            # weeks are shifted by four days so that they fall on Mondays.
            offset = 4 * DAY if step >= 7 * DAY else timedelta()
            origin = datetime(1970, 1, 1, tzinfo=UTC) + offset
            first = origin + -((origin - start) // step) * step
            label = "%Y-%m-%d" if step >= DAY else "%m-%d %H:%M"
            return [(moment, moment.strftime(label)) for moment in _every(first, end, step)]
    # Past seven years this gives more than MAX_X_TICKS; the history does not keep that long (HISTORY_TTL).
    months = next((m for m in _MONTH_STEPS if span / timedelta(days=30.44 * m) <= MAX_X_TICKS), 12)
    ticks: list[tuple[datetime, str]] = []
    year, month = start.year, start.month
    while True:
        moment = datetime(year, month, 1, tzinfo=UTC)
        if moment > end:
            return ticks
        if moment >= start and (month - 1) % months == 0:
            ticks.append((moment, moment.strftime("%Y-%m")))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def readable(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _every(first: datetime, end: datetime, step: timedelta) -> list[datetime]:
    moments = []
    while first <= end:
        moments.append(first)
        first += step
    return moments


def _count_step(highest: int) -> int:
    """1, 2, 5, 10, 20, 50, ...: the smallest that needs at most 5 intervals to reach `highest`."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if highest <= 5 * step:
                return step
        magnitude *= 10


def _summary(series: Sequence[SeriesPoint]) -> str:
    peak = max(series, key=lambda point: point.open)
    first, last = series[0], series[-1]
    return (
        f"Open violations over time, from {readable(first.at)} to {readable(last.at)}: "
        f"{first.open} at the start, {last.open} at the end, at most {peak.open} (first reached {readable(peak.at)})."
    )
