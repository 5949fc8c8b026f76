"""`invalid_messages: NAME`: a `file` destination that keeps every invalid message with its reason, so
someone can look at it. An invalid message is never retried for routing: no retry can make it valid."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .delivery import Delivery
from .destinations.base import Destination, DestinationSpec
from .destinations.file import FileDestination
from .envelopes import InboundMessage
from .errors import NotifierError


def invalid_record(message: InboundMessage, error: str, *, at: datetime) -> dict[str, Any]:
    record: dict[str, Any] = {
        "received_at": at.isoformat(timespec="milliseconds"),
        "status": "invalid",
        "error": error,
        "source": message.source,
        "location": message.location,
        "message_id": message.message_id,
        "record_id": message.record_id,
        "message": message.body,
    }
    if message.body is None and message.raw is not None:
        record["raw"] = message.raw  # an unreadable envelope: what arrived, for someone to look at
    return record


def keep(spec: DestinationSpec, connect: Any, record: dict[str, Any]) -> Delivery:
    """Append the record to the file destination; a failure is retryable (the file may be back)."""
    try:
        destination: Destination = connect(spec)
        if not isinstance(destination, FileDestination):  # check-config refuses this; be safe anyway
            raise NotifierError(f"destination {spec.name!r} cannot hold invalid messages: it is not a file")
        destination.append(record)
    except NotifierError as exc:
        return Delivery(spec.name, spec.type, "failed", str(exc), retryable=True)
    return Delivery(spec.name, spec.type, "sent")
