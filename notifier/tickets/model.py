"""The ticket lifecycle as data, and the pure decision of what to do next (`plan`).

    transition kind + the ticket we already have (from the state store) + the destination's policy
        ──► TicketAction: open | comment | resolve | reopen | close | none

Ticketing destinations (Jira, ServiceNow) only execute an action; they never decide one. That keeps
the lifecycle in one place, testable without any HTTP, and lets `explain` show the planned action.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from ..transition import TransitionKind


class TicketAction(StrEnum):
    OPEN = "open"  # create a new ticket
    COMMENT = "comment"  # add a comment to the open ticket
    RESOLVE = "resolve"  # comment, then move the ticket to done/resolved
    REOPEN = "reopen"  # move a resolved ticket back to open, and comment
    CLOSE = "close"  # the resource is gone or out of scope: comment and close with the retired resolution
    NONE = "none"


class TicketStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"  # done, may be reopened within the reopen window
    CLOSED = "closed"  # closed because the resource was retired; a relapse opens a new ticket


@dataclass(frozen=True, slots=True)
class TicketRef:
    """A ticket as the state store remembers it, per (resource, destination)."""

    system: str  # "jira" | "servicenow"
    key: str  # Jira issue key (SEC-42) / ServiceNow number (INC0010001): what people read
    id: str  # Jira issue id / ServiceNow sys_id: what the APIs address
    status: TicketStatus
    resolution: str | None = None  # the resolution it was resolved/closed with, when known
    url: str | None = None  # a link for people (browse URL / nav_to.do)
    updated_at: str | None = None  # ISO-8601 UTC of our last change to it

    def with_status(self, status: TicketStatus, *, resolution: str | None = None, at: str) -> TicketRef:
        return replace(self, status=status, resolution=resolution, updated_at=at)


@dataclass(frozen=True, slots=True)
class TicketPolicy:
    """What a ticketing destination's config says about its lifecycle."""

    reopen_within: timedelta | None = None  # relapse within this of resolution → reopen; else a new ticket
    wont_fix: frozenset[str] = frozenset()  # resolutions whose tickets are never reopened or commented


def plan(
    kind: TransitionKind, ticket: TicketRef | None, policy: TicketPolicy, now: datetime
) -> TicketAction:
    """What to do with this resource's ticket, given what just happened to the resource."""
    if ticket is not None and ticket.status is TicketStatus.RESOLVED and ticket.resolution in policy.wont_fix:
        # Someone decided this is accepted: never reopen or comment. Only RESOLVED tickets: a ticket we
        # CLOSED because the resource was retired carries our own resolution (often "Won't Do"), and a
        # relapse of that resource must still get a new ticket.
        return TicketAction.NONE
    is_open = ticket is not None and ticket.status is TicketStatus.OPEN
    if kind in (TransitionKind.FIRST_VIOLATION, TransitionKind.VIOLATED):
        if ticket is None:
            return TicketAction.OPEN
        if is_open:
            return TicketAction.COMMENT
        if ticket.status is TicketStatus.RESOLVED and _within(ticket, policy, now):
            return TicketAction.REOPEN
        return TicketAction.OPEN
    if kind is TransitionKind.RESOLVED:
        return TicketAction.RESOLVE if is_open else TicketAction.NONE
    if kind is TransitionKind.RETIRED:
        return TicketAction.CLOSE if is_open else TicketAction.NONE
    if kind is TransitionKind.DATA_GAP:
        return TicketAction.COMMENT if is_open else TicketAction.NONE
    return TicketAction.NONE  # unchanged, benign


def _within(ticket: TicketRef, policy: TicketPolicy, now: datetime) -> bool:
    if policy.reopen_within is None or ticket.updated_at is None:
        return False
    return now - datetime.fromisoformat(ticket.updated_at) <= policy.reopen_within

