"""A route's storm-control keys, compiled once with the route tree:

    group_by:          [rule, account, region, resource_type, transition]   (any of them)
    group_window:      5m        how long a digest window stays open (default 5m when group_by is set)
    baseline:          true      (default) first evaluations are held for a per-rule digest
    baseline_tickets:  per_rule  per_resource | per_rule | none: what ticket destinations do in baseline mode

A notification held by `group_by` goes to the digest of (route, destination, group values); a first
evaluation (from NONE: kinds first_violation and benign) held by `baseline` goes to the digest of
(route, destination, rule) for `group_window`, or BASELINE_WINDOW. `group_by` wins when both apply.

Baseline holds every first evaluation, a genuinely new resource's first violation too: it arrives as
part of a digest at most one window (5 min by default) late. No threshold ("digest only after K first
evaluations"): the first K of a storm would go out one by one and counting them costs a state write
per notification; set `baseline: false` on a route that must page at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from ..durations import parse_duration
from ..notification import ComplianceNotification
from ..transition import Compliance, Transition, TransitionKind

GROUP_FIELDS = ("rule", "account", "region", "resource_type", "transition")
BASELINE_TICKETS = ("per_resource", "per_rule", "none")
BASELINE_WINDOW = timedelta(minutes=5)
_BASELINE_KINDS = frozenset({TransitionKind.FIRST_VIOLATION, TransitionKind.BENIGN})

BaselineTickets = Literal["per_resource", "per_rule", "none"]


@dataclass(frozen=True, slots=True)
class Grouping:
    """Why and where one notification is held: its group values and the window to open."""

    reason: Literal["group", "baseline"]
    values: tuple[tuple[str, str], ...]  # (field, value), in group_by order
    window: timedelta


@dataclass(frozen=True, slots=True)
class DigestPolicy:
    group_by: tuple[str, ...]
    window: timedelta | None
    baseline: bool
    baseline_tickets: BaselineTickets

    @classmethod
    def of_route(cls, raw: Mapping[str, Any]) -> DigestPolicy:
        """From an already validated route (semantic_checks refuses bad values)."""
        window = raw.get("group_window")
        tickets = raw.get("baseline_tickets", "per_rule")
        return cls(
            group_by=tuple(raw.get("group_by") or ()),
            window=parse_duration(window) if window is not None else None,
            baseline=bool(raw.get("baseline", True)),
            baseline_tickets=tickets,
        )

    def grouping(self, notification: ComplianceNotification, change: Transition) -> Grouping | None:
        """How this notification is held, or None when it goes out at once."""
        if self.group_by or self.window is not None:
            values = tuple((name, _value(name, notification, change)) for name in self.group_by)
            return Grouping("group", values, self.window or BASELINE_WINDOW)
        return self.baseline_grouping(notification, change)

    def baseline_grouping(self, notification: ComplianceNotification, change: Transition) -> Grouping | None:
        """The per-rule baseline hold of a first evaluation, whatever `group_by` says: ticket destinations,
        which `group_by` never holds, still get one umbrella ticket per rule in a rule's first storm."""
        if self.baseline and change.old is Compliance.NONE and change.kind in _BASELINE_KINDS:
            return Grouping("baseline", (("rule", notification.rule),), self.window or BASELINE_WINDOW)
        return None


def _value(name: str, notification: ComplianceNotification, change: Transition) -> str:
    return change.kind.value if name == "transition" else str(getattr(notification, name))


def route_key_problems(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, sentence) for each storm-control key the schema lets through but this module cannot use."""
    problems: list[tuple[str, str]] = []
    group_by = raw.get("group_by")
    if isinstance(group_by, list):
        for name in group_by:
            if name not in GROUP_FIELDS:
                problems.append(("group_by", f"cannot group by {name!r}: use any of {', '.join(GROUP_FIELDS)}"))
    if "group_window" in raw:
        try:
            if parse_duration(raw["group_window"]) <= timedelta(0):
                problems.append(("group_window", "must be longer than zero"))
        except ValueError as exc:
            problems.append(("group_window", str(exc)))
    if "baseline" in raw and not isinstance(raw["baseline"], bool):
        problems.append(("baseline", "must be true or false"))
    if "baseline_tickets" in raw and raw["baseline_tickets"] not in BASELINE_TICKETS:
        problems.append(("baseline_tickets", f"must be one of {', '.join(BASELINE_TICKETS)}"))
    return problems
