"""Counted events held in process memory: MemoryState's, and the remediation guard's when no state
store is configured (then every limit counts per process only)."""

from __future__ import annotations

import bisect
import threading
from datetime import datetime

from .shared import expired_events_before, utc_text


class EventLog:
    """Per bucket, a sorted list of event times (as `utc_text`, whose string order is time order), so a
    count is one binary search. Recording prunes what is older than EVENT_RETENTION: memory stays bounded
    by the busiest day, as the DynamoDB TTL and the SQLite prune keep theirs."""

    def __init__(self) -> None:
        self._times: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def record_event(self, bucket: str, *, at: datetime) -> None:
        cutoff = expired_events_before(at)
        with self._lock:
            times = self._times.setdefault(bucket, [])
            bisect.insort(times, utc_text(at))  # callers (tests, replays) may record out of order
            del times[: bisect.bisect_left(times, cutoff)]

    def count_events(self, bucket: str, *, since: datetime) -> int:
        with self._lock:
            times = self._times.get(bucket, [])
            return len(times) - bisect.bisect_left(times, utc_text(since))
