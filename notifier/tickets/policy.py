"""Which destinations are ticketing ones, and the lifecycle policy their config declares.

Derived from the DestinationSpec alone (no secrets, no network), so `explain` can plan ticket actions
without connecting to anything.
"""

from __future__ import annotations

from ..destinations.base import DestinationSpec
from ..durations import parse_duration
from .model import TicketPolicy

TICKETING_TYPES = frozenset({"jira", "servicenow"})


def is_ticketing(spec: DestinationSpec) -> bool:
    return spec.type in TICKETING_TYPES


def policy_of(spec: DestinationSpec) -> TicketPolicy:
    reopen_within = spec.options.get("reopen_within")
    return TicketPolicy(
        reopen_within=parse_duration(reopen_within) if reopen_within is not None else None,
        wont_fix=frozenset(spec.options.get("wont_fix") or ()),
    )
