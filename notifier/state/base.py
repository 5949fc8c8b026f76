"""What the pipeline remembers between notifications: one record per resource, per-destination
delivery claims, an append-only history, and counted events (rate limits, circuit breakers).

    ResourceKey (account, region, rule, resource type, resource id)
      └── ResourceRecord: newest ordering key seen, its compliance, when it first went
          non-compliant, and per ticketing destination the ticket (TicketRef)

Guards, both enforced by the backends with conditional writes so two Lambda invocations racing on
one resource cannot both act:
  * ordering: a notification whose ordering key is older than the stored one is STALE;
  * duplicates: a (change, destination) is claimed before sending; only one claimer wins; the claim
    is completed after a successful send, or released after a failure so a retry does it once.
The decision itself is the pure `judge`, shared by every backend and by `explain` (which only reads).

A notification held for digests is observed with `observe_and_hold`: its record, its digest items and
(when no destination gets it at once) its history entry in one atomic write, one request to the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from ..notification import ComplianceNotification
from ..tickets.model import TicketRef
from ..transition import Compliance

if TYPE_CHECKING:  # digest_buffer imports this module
    from .digest_buffer import DigestBatch

# A claim older than this is presumed abandoned (the Lambda that took it died: 15 min is Lambda's
# longest run) and may be taken over, so a crash never loses a delivery for good.
CLAIM_LEASE = timedelta(minutes=15)
# How long history entries live in DynamoDB (its TTL attribute); SQLite keeps them until pruned.
HISTORY_TTL = timedelta(days=400)
# How long counted events (`record_event`) are kept: every backend may forget older ones, so no window
# counted over may be longer (the remediation guard refuses a longer breaker window at build time).
EVENT_RETENTION = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ResourceKey:
    account: str
    region: str
    rule: str
    resource_type: str
    resource_id: str

    @classmethod
    def of(cls, notification: ComplianceNotification) -> ResourceKey:
        n = notification
        return cls(n.account, n.region, n.rule, n.resource_type, n.resource_id)

    @property
    def id(self) -> str:
        """The record's primary key. Resource ids may contain '|', so the parts are length-prefixed."""
        parts = (self.account, self.region, self.rule, self.resource_type, self.resource_id)
        return "|".join(f"{len(part)}:{part}" for part in parts)

    @property
    def label(self) -> str:
        """A short stable tag for tickets (Jira label, ServiceNow correlation_id): finds them again if the
        store is lost. 64 bits of SHA-256: no collision in any realistic estate."""
        return "cn-" + hashlib.sha256(self.id.encode()).hexdigest()[:16]


class Observation(StrEnum):
    FRESH = "fresh"  # newer than anything stored (or the first): the record now holds it
    REPEAT = "repeat"  # the same change as the stored one (redelivery, retry): delivery claims decide
    STALE = "stale"  # older than the stored one: changes nothing, sends nothing


@dataclass(frozen=True, slots=True)
class ResourceRecord:
    key: ResourceKey
    ordering_key: str  # see `ordering_key()`: sortable as a string
    compliance: Compliance
    first_noncompliant_at: str | None = None  # orderingTimestamp when it last went non-compliant
    tickets: Mapping[str, TicketRef] = field(default_factory=dict)  # destination name -> ticket


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One notification's effect on one resource, for the audit trail (append-only)."""

    key: ResourceKey
    ordering_key: str
    old: Compliance
    new: Compliance
    kind: str  # the transition kind
    observation: Observation
    message_id: str | None
    recorded_at: str  # when we processed it (ISO-8601 UTC)
    actions: Mapping[str, str] = field(default_factory=dict)  # destination -> action taken


class HeldItem(NamedTuple):
    """One notification held for one digest (digest_buffer.py): `append_digest`'s arguments but `now`."""

    group: str
    item_key: str  # the notification's content_key: a redelivery finds its item already held
    item: Mapping[str, Any]
    window: timedelta  # of the bucket this opens, when the group has none open


class Observed(NamedTuple):
    """What `observe_and_hold` did."""

    verdict: Observation
    before: ResourceRecord | None  # the record as it was before this notification
    added: tuple[bool, ...]  # per held item, in order: appended now; False: already held (or not FRESH)
    history_written: bool  # the history entry was stored with the record: the caller must not append it


class StateStore(Protocol):
    def observe(self, notification: ComplianceNotification) -> tuple[Observation, ResourceRecord | None]:
        """Judge the notification against the stored record and, when FRESH, store it — atomically
        (a conditional write). Returns the verdict and the record as it was before."""
        ...

    def observe_and_hold(
        self,
        notification: ComplianceNotification,
        *,
        now: datetime,
        held: Sequence[HeldItem] = (),
        history: HistoryEntry | None = None,
    ) -> Observed:
        """`observe`, and when FRESH, in the same atomic write: append every held item to its group's open
        bucket (`append_digest`, opening a window at `now` where none is open) and store `history` — the
        latter only when every item was added, because its actions (`digested`) say so; otherwise
        `history_written` is False and the caller appends the entry it can now word truthfully.

        Either all of it is stored or none of it: a crash never leaves a record whose digest items are
        missing. That is why, when not FRESH, nothing is written: a REPEAT's items were stored with its
        original (each reported not added: already held); a STALE one is not held at all."""
        ...

    def get(self, key: ResourceKey) -> ResourceRecord | None: ...

    def set_ticket(self, key: ResourceKey, destination: str, ticket: TicketRef) -> None:
        """Remember the ticket of this resource at this destination (after a successful ticket call only)."""
        ...

    def claim_delivery(self, change_key: str, destination: str, *, now: datetime) -> bool:
        """True when this caller may send (nobody has, nobody is, or a claim older than CLAIM_LEASE)."""
        ...

    def complete_delivery(self, change_key: str, destination: str, *, now: datetime) -> None: ...

    def release_delivery(self, change_key: str, destination: str) -> None:
        """The send failed: drop the claim so a retry or replay can do it (once)."""
        ...

    def was_delivered(self, change_key: str, destination: str) -> bool:
        """Completed (not merely claimed). Read-only: what `explain` asks."""
        ...

    def append_history(self, entry: HistoryEntry) -> None: ...

    def history(self, key: ResourceKey | None = None) -> list[HistoryEntry]:
        """Oldest first; every resource's when `key` is None."""
        ...

    def record_event(self, bucket: str, *, at: datetime) -> None:
        """Count one event in `bucket` (e.g. "remediation:<destination>:all"), kept for EVENT_RETENTION.

        Counting then recording is two steps, not one atomic check-and-add: callers that enforce a limit
        with `count_events` then `record_event` may overshoot it by the number of processes racing
        between the two (see `remediation.guard`, which explains why that is acceptable there)."""
        ...

    def count_events(self, bucket: str, *, since: datetime) -> int:
        """Events recorded in `bucket` at or after `since` (at most EVENT_RETENTION ago). Read-only."""
        ...

    # -- the digest buffer (digest_buffer.py explains groups, buckets and windows) -------------------

    def append_digest(
        self, group: str, item_key: str, item: Mapping[str, Any], *, now: datetime, window: timedelta
    ) -> bool:
        """Hold `item` in the group's open bucket (opening one of `window` if none is open); False when the
        bucket already holds `item_key` (a redelivery), which then adds nothing."""
        ...

    def due_digests(self, now: datetime) -> list[DigestBatch]:
        """Buckets whose window closed at least DIGEST_GRACE ago, oldest first, claimed or not."""
        ...

    def digest_items(self, bucket: str) -> list[dict[str, Any]]: ...

    def claim_digest(self, bucket: str, *, now: datetime) -> bool:
        """True for the one flusher that may send this bucket (or takes over one abandoned past CLAIM_LEASE)."""
        ...

    def complete_digest(self, bucket: str) -> None:
        """Sent: delete the bucket and its items."""
        ...

    def release_digest(self, bucket: str) -> None:
        """The send failed: give the bucket back, so the next flush tries it again."""
        ...

    def close(self) -> None: ...


def ordering_key(notification: ComplianceNotification) -> str:
    """orderingTimestamp, then resultRecordedTime as a tie-breaker (a rule re-evaluated for the same
    configuration item keeps its orderingTimestamp), both normalised to UTC microseconds so that
    "…40Z", "…40.000Z" and "…40+00:00" compare equal and later sorts later, as plain strings."""
    new = notification.new
    return f"{_normalised(new.ordering_timestamp)}|{_normalised(new.recorded_at) if new.recorded_at else ''}"


def judge(record: ResourceRecord | None, candidate_key: str) -> Observation:
    """The ordering decision every backend applies inside its conditional write."""
    if record is None or candidate_key > record.ordering_key:
        return Observation.FRESH
    if candidate_key == record.ordering_key:
        return Observation.REPEAT
    return Observation.STALE


def updated_record(
    record: ResourceRecord | None, notification: ComplianceNotification, candidate_key: str
) -> ResourceRecord:
    """The record after a FRESH notification: tickets kept, first-non-compliant time tracked."""
    new = notification.new.compliance
    if new is Compliance.NON_COMPLIANT:
        already = record is not None and record.compliance is Compliance.NON_COMPLIANT
        first = record.first_noncompliant_at if already and record else notification.new.ordering_timestamp
    else:
        first = None
    return ResourceRecord(
        key=ResourceKey.of(notification),
        ordering_key=candidate_key,
        compliance=new,
        first_noncompliant_at=first,
        tickets=dict(record.tickets) if record else {},
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def _normalised(timestamp: str) -> str:
    parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
