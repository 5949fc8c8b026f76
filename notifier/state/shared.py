"""What the three backends share beyond `base.py`: the delivery-claim rule, the one timestamp format
they store, plain-data forms of tickets, and the refusal a read-only store gives to a write.

Kept apart from `base.py` (the protocol and the record-level decisions) because only the backends
need it; keeping it in one place is what makes memory, SQLite and DynamoDB agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from enum import StrEnum

from ..errors import NotifierError
from ..tickets.model import TicketRef, TicketStatus
from .base import (
    CLAIM_LEASE,
    EVENT_RETENTION,
    HeldItem,
    HistoryEntry,
    Observation,
    Observed,
    ResourceKey,
    ResourceRecord,
)


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"  # someone is sending now (or died while sending: see CLAIM_LEASE)
    DONE = "done"  # sent: never again


def utc_text(moment: datetime) -> str:
    """The stored form of an instant: fixed-width UTC, so that string order is time order (DynamoDB
    compares claim times in a condition expression, as strings). A naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_cutoff(now: datetime) -> str:
    """A claim taken before this instant is presumed abandoned."""
    return utc_text(now - CLAIM_LEASE)


def expired_events_before(at: datetime) -> str:
    """Events recorded before this instant are past EVENT_RETENTION: a backend recording at `at` may
    delete them (SQLite and memory prune the written bucket; DynamoDB lets its TTL do it)."""
    return utc_text(at - EVENT_RETENTION)


def claim_available(status: str | None, claimed_at: str | None, now: datetime) -> bool:
    """May a caller claim a (change, destination) in this state? Nobody has (no row), or a claim was
    abandoned; never once it is done. The DynamoDB backend states the same rule as a condition."""
    if status is None:
        return True
    if status == ClaimStatus.DONE:
        return False
    return claimed_at is None or claimed_at < lease_cutoff(now)


def not_fresh(verdict: Observation, before: ResourceRecord | None, held: Sequence[HeldItem]) -> Observed:
    """observe_and_hold's answer when it wrote nothing: no item added (a REPEAT's are held already)."""
    return Observed(verdict, before, (False,) * len(held), history_written=False)


def history_goes_with(history: HistoryEntry | None, added: Sequence[bool]) -> bool:
    """Whether observe_and_hold stores `history` with the record: only when every held item was added,
    since its actions say `digested`; an item already held makes the caller word the entry itself."""
    return history is not None and all(added)


def ticket_to_plain(ticket: TicketRef) -> dict[str, str]:
    """A ticket as text fields (None left out), for a JSON column or a DynamoDB map. Generic over the
    dataclass's fields, so a field added to TicketRef is stored without touching the backends."""
    plain: dict[str, str] = {}
    for field in fields(ticket):
        value = getattr(ticket, field.name)
        if value is None:
            continue
        if not isinstance(value, str):  # a non-text field would not survive the round trip unnoticed
            raise TypeError(f"TicketRef.{field.name} is {type(value).__name__}; the state stores only text")
        plain[field.name] = str(value)
    return plain


_TICKET_FIELDS = frozenset(field.name for field in fields(TicketRef))


def ticket_from_plain(plain: Mapping[str, str]) -> TicketRef:
    known = {name: value for name, value in plain.items() if name in _TICKET_FIELDS}  # newer writers may add fields
    known["status"] = TicketStatus(known["status"])
    return TicketRef(**known)  # type: ignore[arg-type]


def tickets_to_plain(tickets: Mapping[str, TicketRef]) -> dict[str, dict[str, str]]:
    return {destination: ticket_to_plain(ticket) for destination, ticket in tickets.items()}


def tickets_from_plain(plain: Mapping[str, Mapping[str, str]]) -> dict[str, TicketRef]:
    return {destination: ticket_from_plain(ticket) for destination, ticket in plain.items()}


def history_order(entry: HistoryEntry) -> tuple[str, str]:
    """Oldest first means by the change's own time (ordering key), then by when we processed it: the
    order a DynamoDB sort key `HIST#<ordering_key>#<recorded_at>#…` gives, so every backend agrees."""
    return (entry.ordering_key, entry.recorded_at)


def read_only_refusal(store: str, operation: str) -> NotifierError:
    return NotifierError(
        f"state store {store} is open read-only (as `explain` opens it), so it cannot {operation}; "
        "open it without read_only to record anything"
    )


def missing_record(key: ResourceKey) -> NotifierError:
    """set_ticket on a resource never observed: a ticket must hang off a record (records are never deleted)."""
    return NotifierError(
        f"no state record for {key.resource_type} {key.resource_id!r} (rule {key.rule}, account {key.account}, "
        f"{key.region}): observe the notification before setting its ticket"
    )
