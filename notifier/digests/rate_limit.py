"""Per-destination rate limits: `rate_limit: {per_minute: N, burst: B}` (or the string "N/min", burst N).

The algorithm — a sliding window that conforms to the token bucket (N per minute, burst B):

    a delivery is allowed when fewer than B deliveries to this destination were sent in the last
    B/N minutes (the time the bucket takes to refill from empty), counted with
    `count_events("rate:<destination>", since=now - B/N min)`; each delivery actually sent (action
    `sent`) records one event (`record_event`, after the send).

Any B/N-minute window then holds at most B sends, so every interval of length t holds at most
B + N·t/min of them: whatever this allows, a token bucket of (N, B) starting full would allow too,
with the same burst and long-run rate (it is less smooth: a full burst waits for its window to slide
out instead of trickling one token at a time). One read per delivery to a limited destination, no
extra state: the counts live where the remediation guard's do (SQLite, DynamoDB, memory); without a
state store they are counted per process (EventLog). Counting and recording are two steps: concurrent
deliveries (batch threads, parallel Lambdas) may overshoot the limit by as many as race between them.

What exceeds the limit is never dropped:
  - a message destination (email, file, webhook, slack), with a state store, holds it in the digest
    buffer under the group (route "rate:<destination>", reason "rate-limit"), window RATE_DIGEST_WINDOW;
    it goes out with that digest once flushed. Action `rate-limited:digested`.
  - a ticket destination (jira, servicenow) or a remediation Lambda, or any destination without a
    state store: the delivery fails *retryable* with reason "rate limit ... exceeded", so SQS redelivers
    the record later (per-destination claims keep the other destinations from sending twice). A digest
    cannot stand in for a ticket action: the resource's own ticket must still open or resolve.
A notification that would not be sent anyway (dry_run, already delivered) is left to the normal path.
`explain` shows `rate-limited` for what would be held or failed now (it only reads the counts).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..delivery import Delivery, should_send
from ..destinations.base import DestinationSpec, Outgoing
from ..state.base import EVENT_RETENTION, StateStore
from ..state.event_log import EventLog
from ..tickets.policy import is_ticketing
from .hold import DIGEST_TYPES, digest_item

RATE_DIGEST_WINDOW = timedelta(minutes=1)
HELD = "rate-limited:digested"
WOULD_LIMIT = "rate-limited"
SENT = "sent"
_STRING_FORM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(?:min|m|minute)\s*$")


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_minute: float
    burst: int

    @property
    def window(self) -> timedelta:
        """The time the bucket takes to refill B tokens: B/N minutes."""
        return timedelta(minutes=self.burst / self.per_minute)

    @classmethod
    def parse(cls, raw: Any) -> RateLimit:
        """From "N/min" or {per_minute: N, burst: B}; ValueError with a sentence otherwise."""
        if isinstance(raw, str):
            match = _STRING_FORM.match(raw)
            if match is None:
                raise ValueError(f'{raw!r} is not a rate (write e.g. "30/min" or {{per_minute: 30, burst: 10}})')
            per_minute: Any = float(match.group(1))
            burst: Any = None
        elif isinstance(raw, Mapping):
            unknown = sorted(set(raw) - {"per_minute", "burst"})
            if unknown:
                raise ValueError(f"unknown key(s) {', '.join(unknown)}: use per_minute and burst")
            if "per_minute" not in raw:
                raise ValueError("per_minute is required")
            per_minute, burst = raw["per_minute"], raw.get("burst")
        else:
            raise ValueError('must be a string like "30/min" or a mapping {per_minute: N, burst: B}')
        if isinstance(per_minute, bool) or not isinstance(per_minute, int | float) or per_minute <= 0:
            raise ValueError("per_minute must be a number greater than zero")
        if burst is None:
            burst = max(1, math.ceil(per_minute))
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError("burst must be a whole number of at least 1")
        limit = cls(float(per_minute), burst)
        if limit.window > EVENT_RETENTION:
            raise WindowTooLong(
                f"burst / per_minute must be at most {int(EVENT_RETENTION.total_seconds() // 60)} minutes "
                "(the events it counts are kept that long)"
            )
        return limit

    def describe(self) -> str:
        return f"{self.per_minute:g} per minute, burst {self.burst}"


class WindowTooLong(ValueError):
    """The one problem the schema cannot see: B/N minutes longer than the events are kept."""


def rate_limit_problem(raw: Any, *, schema_checked: bool = False) -> str | None:
    """The sentence for a destination's unusable `rate_limit`, or None when it is usable. With
    `schema_checked` (check-config), only what the schema cannot report, so nothing is said twice."""
    try:
        RateLimit.parse(raw)
    except WindowTooLong as exc:
        return str(exc)
    except ValueError as exc:
        return None if schema_checked else str(exc)
    return None


def bucket_of(destination: str) -> str:
    return f"rate:{destination}"


def group_of(destination: str) -> str:
    """A digest-buffer group `digests.hold.parse_group` reads: one rate-limit digest per destination."""
    return json.dumps([bucket_of(destination), destination, "rate-limit", []])


class RateLimits:
    """The pipeline's limits, parsed once from its destinations; `active` is False when none has one,
    and then the pipeline skips this module entirely."""

    def __init__(self, specs: Mapping[str, DestinationSpec]) -> None:
        self.limits: dict[str, RateLimit] = {}
        for name, spec in specs.items():
            raw = spec.options.get("rate_limit")
            if raw is not None:
                try:
                    self.limits[name] = RateLimit.parse(raw)
                except ValueError:
                    continue  # check-config reports it; an unusable limit does not stop deliveries
        self.active = bool(self.limits)
        self._log = EventLog()  # counts when there is no state store (per process)

    def _counts(self, state: StateStore | None) -> StateStore | EventLog:
        return state if state is not None else self._log

    def exceeded(self, name: str, state: StateStore | None, now: datetime) -> RateLimit | None:
        limit = self.limits.get(name)
        if limit is None:
            return None
        sent = self._counts(state).count_events(bucket_of(name), since=now - limit.window)
        return limit if sent >= limit.burst else None

    def apply(
        self,
        state: StateStore | None,
        specs: Mapping[str, DestinationSpec],
        names: tuple[str, ...],
        outgoing: Outgoing,
        *,
        now: datetime,
        send: bool,
    ) -> tuple[tuple[Delivery, ...], tuple[str, ...]]:
        """Deliveries decided by the limits (held, failed, or in explain `rate-limited`) and the names
        still to deliver normally."""
        limited: list[Delivery] = []
        passed: list[str] = []
        for name in names:
            limit = self.exceeded(name, state, now)
            spec = specs[name]
            if limit is None or should_send(spec, outgoing.notification, state) is not None:
                passed.append(name)
                continue
            reason = f"rate limit of {limit.describe()} exceeded"
            if not send:
                limited.append(Delivery(name, spec.type, WOULD_LIMIT, reason))
            elif state is not None and spec.type in DIGEST_TYPES and not is_ticketing(spec):
                item = digest_item(outgoing.notification, outgoing.transition, outgoing.message_id)
                key = outgoing.notification.content_key
                added = state.append_digest(group_of(name), key, item, now=now, window=RATE_DIGEST_WINDOW)
                limited.append(Delivery(name, spec.type, HELD if added else "already_sent"))
            else:
                limited.append(Delivery(name, spec.type, "failed", reason + ": retry later", retryable=True))
        return tuple(limited), tuple(passed)

    def record(self, deliveries: tuple[Delivery, ...], state: StateStore | None, now: datetime) -> None:
        """One event per delivery actually sent to a limited destination."""
        counts = self._counts(state)
        for delivery in deliveries:
            if delivery.action == SENT and delivery.destination in self.limits:
                counts.record_event(bucket_of(delivery.destination), at=now)
