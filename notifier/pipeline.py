"""The stages wired together: envelope → notification → transition → routes → deliver → record.

`handler.py` and `cli.py` are thin shells over `Pipeline.process`. One `Pipeline` lives per process:
the route tree, the connected destinations and the state store are built once and reused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from .delivery import Delivery, deliver, should_send
from .destinations.base import Destination, DestinationSpec, Outgoing
from .destinations.file import FileDestination
from .envelopes import InboundMessage
from .errors import NotifierError
from .message_types import COMPLIANCE_MESSAGE_TYPE
from .notification import ComplianceNotification, Invalid, Skipped, parse
from .routing.tree import RouteHit, RouteTree
from .state.base import StateStore
from .transition import Transition, transition

Status = Literal["routed", "unrouted", "skipped", "invalid", "duplicate", "stale", "suppressed"]
Connector = Callable[[DestinationSpec], Destination]


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
        return record


class Pipeline:
    def __init__(
        self,
        tree: RouteTree | None,
        specs: Mapping[str, DestinationSpec],
        *,
        state: StateStore | None = None,
        connect: Connector | None = None,
        invalid_messages: str | None = None,
    ) -> None:
        self.tree = tree
        self.specs = dict(specs)  # a plain dict: looked up per delivery, faster than the config's read-only view
        self.state = state
        self.invalid_messages = invalid_messages
        self._connect = connect
        self._connected: dict[str, Destination] = {}
        self._stateless_previews: dict[str, Delivery] = {}

    def process(self, message: InboundMessage, *, send: bool = True, deadline: float | None = None) -> Outcome:
        """Classify, route and (when `send`) deliver one message. Never raises for bad input."""
        parsed = parse(message)
        if isinstance(parsed, Invalid):
            dead_letter = self._dead_letter(message, parsed.error, send=send) if self.invalid_messages else ()
            return Outcome(message, "invalid", _message_type(message), deliveries=dead_letter, error=parsed.error)
        if isinstance(parsed, Skipped):
            return Outcome(message, "skipped", parsed.message_type)
        change = transition(parsed.old_compliance, parsed.new.compliance)
        hits = self.tree.match(parsed, change) if self.tree is not None else ()
        if not hits:
            return Outcome(message, "unrouted", COMPLIANCE_MESSAGE_TYPE, parsed, change)  # positional: hot path
        routes, destination_names = _used(hits)
        if send:
            outgoing = Outgoing(parsed, change, routes, message.message_id)
            deliveries = tuple(self._deliver(self.specs[name], outgoing, deadline) for name in destination_names)
        else:
            deliveries = tuple([self._preview(self.specs[name], parsed) for name in destination_names])
        duplicate = self.state is not None and all(d.action == "already_sent" for d in deliveries)
        status: Status = "duplicate" if duplicate else "routed"
        return Outcome(message, status, COMPLIANCE_MESSAGE_TYPE, parsed, change, routes, deliveries)

    def _preview(self, spec: DestinationSpec, notification: ComplianceNotification) -> Delivery:
        """What `_deliver` would do, without doing it (explain)."""
        if self.state is None:  # then the answer depends on the destination alone: build it once
            preview = self._stateless_previews.get(spec.name)
            if preview is None:
                action = should_send(spec, notification, None) or "would_send"
                preview = self._stateless_previews[spec.name] = Delivery(spec.name, spec.type, action)
            return preview
        return Delivery(spec.name, spec.type, should_send(spec, notification, self.state) or "would_send")

    def _deliver(self, spec: DestinationSpec, outgoing: Outgoing, deadline: float | None) -> Delivery:
        try:
            destination = self._destination(spec)
            return deliver(destination, outgoing, self.state, deadline=deadline)
        except NotifierError as exc:  # e.g. a secret that cannot be resolved: this destination fails, not the batch
            return Delivery(spec.name, spec.type, "failed", str(exc), retryable=True)
        except Exception as exc:  # a bug in a channel must not sink the other records of the batch
            # Only the class name: an unexpected message could carry anything, secrets included.
            reason = f"unexpected {type(exc).__name__} in the {spec.type} channel"
            return Delivery(spec.name, spec.type, "failed", reason, retryable=True)

    def _dead_letter(self, message: InboundMessage, error: str, *, send: bool) -> tuple[Delivery, ...]:
        """Keep an invalid message with its reason, so someone can look at it; it is never retried for routing."""
        spec = self.specs[str(self.invalid_messages)]
        if not send:
            return (Delivery(spec.name, spec.type, "would_send"),)
        record = {
            "received_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "status": "invalid",
            "error": error,
            "source": message.source,
            "location": message.location,
            "message_id": message.message_id,
            "record_id": message.record_id,
            "message": message.body,
        }
        try:
            destination = self._destination(spec)
            if not isinstance(destination, FileDestination):  # check-config refuses this; be safe anyway
                raise NotifierError(f"destination {spec.name!r} cannot hold invalid messages: it is not a file")
            destination.append(record)
        except NotifierError as exc:
            return (Delivery(spec.name, spec.type, "failed", str(exc), retryable=True),)
        return (Delivery(spec.name, spec.type, "sent"),)

    def _destination(self, spec: DestinationSpec) -> Destination:
        destination = self._connected.get(spec.name)
        if destination is None:
            if self._connect is None:
                raise NotifierError("this pipeline was built without destinations (explain only)")
            destination = self._connected[spec.name] = self._connect(spec)
        return destination


def _used(hits: tuple[RouteHit, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Route names and destination names, each once and in order: two routes naming one destination send once."""
    if len(hits) == 1:  # the common case needs no de-duplication
        return (hits[0].route,), hits[0].destinations
    routes = tuple(dict.fromkeys(hit.route for hit in hits))
    destinations = tuple(dict.fromkeys(name for hit in hits for name in hit.destinations))
    return routes, destinations


def _message_type(message: InboundMessage) -> str | None:
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
