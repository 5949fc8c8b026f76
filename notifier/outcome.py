"""What became of one inbound message: the record `explain --format json` prints, and what the
handler logs, counts and answers SQS with."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from .delivery import Delivery
from .envelopes import InboundMessage
from .notification import ComplianceNotification
from .transition import Transition

Status = Literal["routed", "unrouted", "skipped", "invalid", "duplicate", "stale", "suppressed"]


class Outcome(NamedTuple):
    """What became of one inbound message; `to_json` is the `explain --format json` record."""

    message: InboundMessage
    status: Status
    message_type: str | None = None
    notification: ComplianceNotification | None = None
    transition: Transition | None = None
    routes: tuple[str, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    error: str | None = None
    silenced_by: dict[str, str] | None = None  # the silence that suppressed it: reason, created_by, until

    @property
    def failed_deliveries(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.action == "failed")

    def to_json(self) -> dict[str, Any]:
        n, t = self.notification, self.transition
        identity = (
            _identity(self.message.body)
            if n is None
            else {
                "account": n.account,
                "region": n.region,
                "rule": n.rule,
                "resource_type": n.resource_type,
                "resource_id": n.resource_id,
            }
        )
        record: dict[str, Any] = {
            "source": self.message.source,
            "message_type": self.message_type,
            "status": self.status,
            **identity,
            "from": t.old.value if t else None,
            "to": t.new.value if t else None,
            "transition": t.kind.value if t else None,
            "routes": list(self.routes),
            "deliveries": [d.to_json() for d in self.deliveries],
            "location": self.message.location,
            "message_id": self.message.message_id,
        }
        if n is not None:
            record["annotation"] = n.new.annotation
            record["ordering_timestamp"] = n.new.ordering_timestamp
        if self.error is not None:
            record["error"] = self.error
        if self.silenced_by is not None:
            record["silenced_by"] = self.silenced_by
        return record


def message_type_of(message: InboundMessage) -> str | None:
    value = message.body.get("messageType") if message.body is not None else None
    return value if isinstance(value, str) else None


_IDENTITY_KEYS = {
    "account": "awsAccountId",
    "region": "awsRegion",
    "rule": "configRuleName",
    "resource_type": "resourceType",
    "resource_id": "resourceId",
}


def _identity(body: dict[str, Any] | None) -> dict[str, str | None]:
    """Best-effort identity of a message that did not validate: whatever string fields it has."""
    body = body or {}
    return {key: body[raw] if isinstance(body.get(raw), str) else None for key, raw in _IDENTITY_KEYS.items()}
