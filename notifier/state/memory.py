"""In-process state: for tests and for `explain` when no store exists yet. One lock makes every
read-judge-write atomic, which is all the other backends' transactions and conditions achieve
(observe_and_hold takes the digest buffer's lock too: the record and its held items change at once)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from datetime import datetime

from ..notification import ComplianceNotification
from ..tickets.model import TicketRef
from .base import (
    HeldItem,
    HistoryEntry,
    Observation,
    Observed,
    ResourceKey,
    ResourceRecord,
    judge,
    ordering_key,
    updated_record,
    utc_now,
)
from .digest_buffer import MemoryDigests, stored_copy
from .event_log import EventLog
from .shared import (
    ClaimStatus,
    claim_available,
    history_goes_with,
    history_order,
    missing_record,
    not_fresh,
    read_only_refusal,
    utc_text,
)


@dataclasses.dataclass(frozen=True, slots=True)
class _Claim:
    status: ClaimStatus
    claimed_at: str
    completed_at: str | None = None


class MemoryState(MemoryDigests):
    def __init__(self, *, read_only: bool = False) -> None:
        self.read_only = read_only
        self._records: dict[str, ResourceRecord] = {}  # by ResourceKey.id
        self._claims: dict[tuple[str, str], _Claim] = {}  # by (change_key, destination)
        self._history: list[HistoryEntry] = []
        self._events = EventLog()  # has its own lock: counting never waits on record-level work
        self._lock = threading.Lock()
        MemoryDigests.__init__(self)  # its own lock and maps: digests never wait on records

    def observe(self, notification: ComplianceNotification) -> tuple[Observation, ResourceRecord | None]:
        observed = self.observe_and_hold(notification, now=utc_now())  # nothing held: `now` opens no window
        return observed.verdict, observed.before

    def observe_and_hold(
        self,
        notification: ComplianceNotification,
        *,
        now: datetime,
        held: Sequence[HeldItem] = (),
        history: HistoryEntry | None = None,
    ) -> Observed:
        self._refuse_if_read_only("observe a notification")
        candidate = ordering_key(notification)
        record_id = ResourceKey.of(notification).id
        stored = [stored_copy(h.item) for h in held]  # what can fail, before anything changes
        # Both locks, always in this order (every other method takes one of them): no reader sees the
        # record without its items, nor the items without the record.
        with self._lock, self._digest_lock:
            before = self._records.get(record_id)
            verdict = judge(before, candidate)
            if verdict is not Observation.FRESH:
                return not_fresh(verdict, before, held)
            self._records[record_id] = updated_record(before, notification, candidate)
            pairs = zip(held, stored, strict=True)
            added = tuple(self._append_locked(h.group, h.item_key, item, now, h.window) for h, item in pairs)
            written = history_goes_with(history, added)
            if history is not None and written:
                self._history.append(history)
        return Observed(verdict, before, added, written)

    def get(self, key: ResourceKey) -> ResourceRecord | None:
        with self._lock:
            return self._records.get(key.id)

    def set_ticket(self, key: ResourceKey, destination: str, ticket: TicketRef) -> None:
        self._refuse_if_read_only("set a ticket")
        with self._lock:
            record = self._records.get(key.id)
            if record is None:
                raise missing_record(key)
            # A new mapping rather than an update in place: records handed out earlier stay as they were.
            tickets = {**record.tickets, destination: ticket}
            self._records[key.id] = dataclasses.replace(record, tickets=tickets)

    def claim_delivery(self, change_key: str, destination: str, *, now: datetime) -> bool:
        self._refuse_if_read_only("claim a delivery")
        with self._lock:
            claim = self._claims.get((change_key, destination))
            if claim is not None and not claim_available(claim.status, claim.claimed_at, now):
                return False
            self._claims[(change_key, destination)] = _Claim(ClaimStatus.CLAIMED, utc_text(now))
            return True

    def complete_delivery(self, change_key: str, destination: str, *, now: datetime) -> None:
        self._refuse_if_read_only("complete a delivery")
        with self._lock:
            claim = self._claims.get((change_key, destination))
            claimed_at = claim.claimed_at if claim else utc_text(now)
            self._claims[(change_key, destination)] = _Claim(ClaimStatus.DONE, claimed_at, utc_text(now))

    def release_delivery(self, change_key: str, destination: str) -> None:
        self._refuse_if_read_only("release a delivery")
        with self._lock:
            claim = self._claims.get((change_key, destination))
            if claim is not None and claim.status is ClaimStatus.CLAIMED:  # a done delivery stays done
                del self._claims[(change_key, destination)]

    def was_delivered(self, change_key: str, destination: str) -> bool:
        with self._lock:
            claim = self._claims.get((change_key, destination))
        return claim is not None and claim.status is ClaimStatus.DONE

    def append_history(self, entry: HistoryEntry) -> None:
        self._refuse_if_read_only("append history")
        with self._lock:
            self._history.append(entry)

    def history(self, key: ResourceKey | None = None) -> list[HistoryEntry]:
        with self._lock:
            entries = [entry for entry in self._history if key is None or entry.key == key]
        return sorted(entries, key=history_order)  # stable: equal keys keep insertion order

    def record_event(self, bucket: str, *, at: datetime) -> None:
        self._refuse_if_read_only("record an event")
        self._events.record_event(bucket, at=at)

    def count_events(self, bucket: str, *, since: datetime) -> int:
        return self._events.count_events(bucket, since=since)

    def close(self) -> None:
        """Nothing to release."""

    def _refuse_if_read_only(self, operation: str) -> None:
        if self.read_only:
            raise read_only_refusal("memory://", operation)
