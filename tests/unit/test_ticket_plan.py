"""The ticket lifecycle decision, over every kind and ticket situation (pure: no HTTP, no state)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.tickets.model import TicketAction, TicketPolicy, TicketRef, TicketStatus, plan
from notifier.transition import TransitionKind

K, A, S = TransitionKind, TicketAction, TicketStatus
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = TicketPolicy(reopen_within=timedelta(days=7), wont_fix=frozenset({"Won't Fix"}))


def ticket(status: TicketStatus, *, days_ago: float = 1, resolution: str | None = None) -> TicketRef:
    at = (NOW - timedelta(days=days_ago)).isoformat()
    return TicketRef("jira", "SEC-1", "10001", status, resolution=resolution, updated_at=at)


@pytest.mark.parametrize(
    ("kind", "current", "expected"),
    [
        (K.FIRST_VIOLATION, None, A.OPEN),
        (K.VIOLATED, None, A.OPEN),
        (K.VIOLATED, ticket(S.OPEN), A.COMMENT),
        (K.VIOLATED, ticket(S.RESOLVED, days_ago=2), A.REOPEN),  # relapse within the window
        (K.VIOLATED, ticket(S.RESOLVED, days_ago=30), A.OPEN),  # too long ago: a new ticket
        (K.VIOLATED, ticket(S.CLOSED, days_ago=1), A.OPEN),  # closed because retired: never reopened
        (K.VIOLATED, ticket(S.RESOLVED, resolution="Won't Fix"), A.NONE),  # accepted risk: leave it alone
        (K.VIOLATED, ticket(S.CLOSED, resolution="Won't Fix"), A.OPEN),  # we closed it (retired): relapse → new
        (K.RESOLVED, ticket(S.OPEN), A.RESOLVE),
        (K.RESOLVED, ticket(S.RESOLVED), A.NONE),
        (K.RESOLVED, None, A.NONE),
        (K.RETIRED, ticket(S.OPEN), A.CLOSE),
        (K.RETIRED, None, A.NONE),
        (K.DATA_GAP, ticket(S.OPEN), A.COMMENT),
        (K.DATA_GAP, None, A.NONE),
        (K.UNCHANGED, ticket(S.OPEN), A.NONE),
        (K.BENIGN, None, A.NONE),
    ],
)
def test_plan(kind: TransitionKind, current: TicketRef | None, expected: TicketAction) -> None:
    assert plan(kind, current, POLICY, NOW) is expected


def test_without_a_reopen_window_a_relapse_opens_a_new_ticket() -> None:
    assert plan(K.VIOLATED, ticket(S.RESOLVED, days_ago=0.01), TicketPolicy(), NOW) is A.OPEN
