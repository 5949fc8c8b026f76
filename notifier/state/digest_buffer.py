"""The digest buffer every state backend keeps: notifications held back to be sent as one message.

    group    what the caller groups by, e.g. "iam-violations|sec-email|rule=x" (route, destination and
             the group_by values): the unit that gets one message per window
    bucket   one window of one group: "<group>@<opened_at>". The window opens with the group's first
             item and lasts `window`; an item arriving after it closed opens the next bucket.
    item     one held-back notification, keyed by its content_key: appending the same key twice (a
             redelivery, a retried batch) keeps one item.

Why buckets, not one buffer per group: a bucket never reopens. Appends go to the group's current
bucket only while its window is open, and a flusher takes a bucket only DIGEST_GRACE after its window
closed, so an append and a flush never act on the same bucket; nothing is lost between "read the
items" and "delete them". (An append whose clock read happened before the close and whose write lands
more than DIGEST_GRACE later could still be missed; Lambda writes take milliseconds.)

Flushing: `due_digests(now)` lists the buckets whose window closed (one cheap read of the bucket
heads), `claim_digest` lets one flusher win (a lease, like delivery claims: a flusher that died is
replaced after CLAIM_LEASE), `digest_items` reads the items, then `complete_digest` deletes the bucket
(or `release_digest` gives it back after a failed send).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .base import CLAIM_LEASE
from .shared import utc_text

# A bucket is flushed this long after its window closed: appends in flight when it closed land first.
DIGEST_GRACE = timedelta(seconds=30)

OPEN = "open"
FLUSHING = "flushing"


@dataclass(frozen=True, slots=True)
class DigestBatch:
    """One bucket's head: which group and window it holds (items are read separately: `digest_items`)."""

    bucket: str
    group: str
    opened_at: str  # utc_text
    window_end: str  # utc_text


def bucket_name(group: str, opened_at: datetime) -> str:
    return f"{group}@{utc_text(opened_at)}"


def due_cutoff(now: datetime) -> str:
    """A bucket whose window ended before this instant may be flushed."""
    return utc_text(now - DIGEST_GRACE)


def head_claimable(status: str, claimed_at: str | None, now: datetime) -> bool:
    """Open, or taken by a flusher longer ago than CLAIM_LEASE (it died): the same rule as delivery claims."""
    if status == OPEN:
        return True
    return claimed_at is None or claimed_at < utc_text(now - CLAIM_LEASE)


def item_text(item: Mapping[str, Any]) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":"))


def stored_copy(item: Mapping[str, Any]) -> dict[str, Any]:
    """What the memory buffer keeps: a copy through JSON, as the other backends store text (so an item
    they could not store fails here too)."""
    copy: dict[str, Any] = json.loads(item_text(item))
    return copy


@dataclass(slots=True)
class _Bucket:
    head: DigestBatch
    status: str = OPEN
    claimed_at: str | None = None
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # insertion order is append order


class MemoryDigests:
    """The buffer held in process memory (MemoryState's); one lock makes each step atomic."""

    def __init__(self) -> None:
        self._digest_current: dict[str, str] = {}  # group -> its open bucket
        self._digest_buckets: dict[str, _Bucket] = {}
        self._digest_lock = threading.Lock()

    def append_digest(
        self, group: str, item_key: str, item: Mapping[str, Any], *, now: datetime, window: timedelta
    ) -> bool:
        stored = stored_copy(item)
        with self._digest_lock:
            return self._append_locked(group, item_key, stored, now, window)

    def _append_locked(
        self, group: str, item_key: str, stored: dict[str, Any], now: datetime, window: timedelta
    ) -> bool:
        """append_digest's work on an item already copied (`stored_copy`: the step that can fail); the
        caller holds `_digest_lock` (MemoryState.observe_and_hold holds it with its record lock, so the
        record and its items change at once)."""
        bucket = self._digest_buckets.get(self._digest_current.get(group, ""))
        if bucket is None or bucket.head.window_end <= utc_text(now):
            name = bucket_name(group, now)
            bucket = self._digest_buckets.setdefault(
                name, _Bucket(DigestBatch(name, group, utc_text(now), utc_text(now + window)))
            )
            self._digest_current[group] = name
        if item_key in bucket.items:
            return False
        bucket.items[item_key] = stored
        return True

    def due_digests(self, now: datetime) -> list[DigestBatch]:
        cutoff = due_cutoff(now)
        with self._digest_lock:
            heads = [b.head for b in self._digest_buckets.values() if b.head.window_end <= cutoff]
        return sorted(heads, key=lambda head: (head.window_end, head.bucket))

    def digest_items(self, bucket: str) -> list[dict[str, Any]]:
        with self._digest_lock:
            held = self._digest_buckets.get(bucket)
            return [dict(item) for item in held.items.values()] if held else []

    def claim_digest(self, bucket: str, *, now: datetime) -> bool:
        with self._digest_lock:
            held = self._digest_buckets.get(bucket)
            if held is None or not head_claimable(held.status, held.claimed_at, now):
                return False
            held.status, held.claimed_at = FLUSHING, utc_text(now)
            return True

    def complete_digest(self, bucket: str) -> None:
        with self._digest_lock:
            held = self._digest_buckets.pop(bucket, None)
            if held is not None and self._digest_current.get(held.head.group) == bucket:
                del self._digest_current[held.head.group]

    def release_digest(self, bucket: str) -> None:
        with self._digest_lock:
            held = self._digest_buckets.get(bucket)
            if held is not None:
                held.status, held.claimed_at = OPEN, None
