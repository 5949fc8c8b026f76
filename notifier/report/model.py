"""The report's figures as frozen values, and their JSON form (the keys are documented in docs/report.md).

Times are timezone-aware UTC datetimes here and ISO-8601 strings with milliseconds and a `Z` in JSON;
durations are timedeltas here and seconds (a number, millisecond precision) in JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..state.base import ResourceKey

# Bumped when a key changes meaning or disappears (adding a key does not bump it).
REPORT_VERSION = 1


@dataclass(frozen=True, slots=True)
class OpenCount:
    """How many violations are open for one value of a dimension (a rule, an account, a resource type)."""

    name: str
    open: int


@dataclass(frozen=True, slots=True)
class OpenViolation:
    key: ResourceKey
    opened_at: datetime  # the Config time of the change into NON_COMPLIANT
    age: timedelta  # from opened_at to the report's `now`


@dataclass(frozen=True, slots=True)
class RuleFigures:
    """One rule's violations: open now, and what happened to them inside the report window."""

    rule: str
    open: int
    opened: int  # violations that opened inside the window
    resolved: int  # closed by NON_COMPLIANT -> COMPLIANT inside the window (and opened inside the history)
    retired: int  # closed by NON_COMPLIANT -> NOT_APPLICABLE: deleted or out of scope, not fixed
    data_gap: int  # closed by NON_COMPLIANT -> INSUFFICIENT_DATA: Config could not tell any more
    mean_to_resolve: timedelta | None  # None when nothing was resolved
    p90_to_resolve: timedelta | None  # nearest-rank 90th percentile; None when nothing was resolved


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """From `at` until the next point, `open` violations were open (a step series)."""

    at: datetime
    open: int


@dataclass(frozen=True, slots=True)
class EntryCounts:
    """What the figures were built from, so a reader can tell an empty store from a quiet estate."""

    read: int  # every history entry the store returned
    fresh: int  # FRESH entries up to `now`: the only ones that change a resource's state
    repeat: int  # redeliveries of an already-recorded change: ignored
    stale: int  # older than what was already recorded: ignored
    after_now: int  # FRESH entries whose Config time is later than the report's `now`: ignored


@dataclass(frozen=True, slots=True)
class Figures:
    now: datetime
    since: datetime | None  # as asked for; None means "from the start of the history"
    window_start: datetime  # where the time series starts: `since`, else the first event, else `now`
    open_total: int
    open_by_rule: tuple[OpenCount, ...]  # most open first, then by name
    open_by_account: tuple[OpenCount, ...]
    open_by_resource_type: tuple[OpenCount, ...]
    oldest_open: tuple[OpenViolation, ...]  # oldest first, at most `top`
    rules: tuple[RuleFigures, ...]  # every rule with a violation open now or opened/closed in the window
    open_over_time: tuple[SeriesPoint, ...]  # oldest first; the first at window_start, the last at `now`
    entries: EntryCounts

    def to_json(self) -> dict[str, Any]:
        return {
            "report_version": REPORT_VERSION,
            "now": iso(self.now),
            "since": iso(self.since) if self.since is not None else None,
            "window_start": iso(self.window_start),
            "open_total": self.open_total,
            "open_by_rule": _counts_json(self.open_by_rule, "rule"),
            "open_by_account": _counts_json(self.open_by_account, "account"),
            "open_by_resource_type": _counts_json(self.open_by_resource_type, "resource_type"),
            "oldest_open": [_open_json(violation) for violation in self.oldest_open],
            "rules": [_rule_json(rule) for rule in self.rules],
            "open_over_time": [{"at": iso(point.at), "open": point.open} for point in self.open_over_time],
            "entries": {
                "read": self.entries.read,
                "fresh": self.entries.fresh,
                "repeat": self.entries.repeat,
                "stale": self.entries.stale,
                "after_now": self.entries.after_now,
            },
        }


def iso(moment: datetime) -> str:
    """'2024-01-02T03:04:05.678Z': the shape Config itself uses for its timestamps."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds(duration: timedelta | None) -> float | None:
    return round(duration.total_seconds(), 3) if duration is not None else None


def _counts_json(counts: tuple[OpenCount, ...], dimension: str) -> list[dict[str, Any]]:
    return [{dimension: count.name, "open": count.open} for count in counts]


def _open_json(violation: OpenViolation) -> dict[str, Any]:
    key = violation.key
    return {
        "account": key.account,
        "region": key.region,
        "rule": key.rule,
        "resource_type": key.resource_type,
        "resource_id": key.resource_id,
        "opened_at": iso(violation.opened_at),
        "age_seconds": seconds(violation.age),
    }


def _rule_json(rule: RuleFigures) -> dict[str, Any]:
    return {
        "rule": rule.rule,
        "open": rule.open,
        "opened": rule.opened,
        "resolved": rule.resolved,
        "retired": rule.retired,
        "data_gap": rule.data_gap,
        "mean_seconds_to_resolve": seconds(rule.mean_to_resolve),
        "p90_seconds_to_resolve": seconds(rule.p90_to_resolve),
    }
