"""Deliver one notification to one destination: dedup → send (bounded retries) → record.

Dedup is a pure decision (`should_send`) returning the reason not to send, Alertmanager style; the
side effects (send, record) stay in `deliver`. Only a retryable DeliveryError is retried, and never
past the deadline the caller gives (on Lambda: its remaining time minus a margin).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from .destinations.base import Destination, DestinationSpec, Outgoing
from .errors import DeliveryError
from .notification import ComplianceNotification
from .state.base import StateStore

ATTEMPTS = 3
FIRST_BACKOFF_SECONDS = 0.5


class Delivery(NamedTuple):
    """What happened (or, in `explain`, what would happen) for one destination."""

    destination: str
    type: str
    action: str  # sent | failed | dry_run | already_sent | would_send
    error: str | None = None
    retryable: bool = False

    def to_json(self) -> dict[str, str]:
        record = {"destination": self.destination, "type": self.type, "action": self.action}
        if self.error:
            record["error"] = self.error
        return record


def should_send(spec: DestinationSpec, notification: ComplianceNotification, state: StateStore | None) -> str | None:
    """None when the notification should go out; otherwise the action that replaces sending."""
    if state is not None and state.was_delivered(notification.content_key, spec.name):
        return "already_sent"
    if spec.dry_run:
        return "dry_run"
    return None


def deliver(
    destination: Destination,
    outgoing: Outgoing,
    state: StateStore | None,
    *,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    spec = destination.spec
    skip = should_send(spec, outgoing.notification, state)
    if skip is not None:
        return Delivery(spec.name, spec.type, skip)
    backoff = FIRST_BACKOFF_SECONDS
    for attempt in range(1, ATTEMPTS + 1):
        try:
            destination.send(outgoing)
        except DeliveryError as exc:
            out_of_time = deadline is not None and time.monotonic() + backoff >= deadline
            if not exc.retryable or attempt == ATTEMPTS or out_of_time:
                return Delivery(spec.name, spec.type, "failed", str(exc), exc.retryable)
            sleep(backoff)
            backoff *= 2
        else:
            break
    if state is not None:
        state.record_delivery(
            outgoing.notification.content_key, spec.name, datetime.now(UTC).isoformat(timespec="seconds")
        )
    return Delivery(spec.name, spec.type, "sent")
