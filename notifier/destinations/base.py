"""The one protocol every channel implements, and what the pipeline hands it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from ..notification import ComplianceNotification
from ..tickets.model import TicketPolicy, TicketRef
from ..transition import Transition

_DEFAULT_TEMPLATE_SETS = {"jira": "jira", "servicenow": "servicenow"}


@dataclass(frozen=True, slots=True)
class DestinationSpec:
    """A destination as the config names it: validated, not yet connected to anything."""

    name: str
    type: str  # email | file | jira | servicenow | webhook | slack | lambda
    options: Mapping[str, Any] = field(default_factory=dict)  # every key but `type`, as written
    # Not config: `replay --destination` leaves every other destination out, untouched (no claim, no dry-run record).
    left_out: bool = False

    @property
    def dry_run(self) -> bool:
        """Rehearse: render and record the exact requests, send nothing (notifier/dry_run.py)."""
        return bool(self.options.get("dry_run", False))

    @property
    def template_set(self) -> str:
        """The configured set, else the type's own bundled one (`templates/jira`, ...; email uses `default`)."""
        return str(self.options.get("template", _DEFAULT_TEMPLATE_SETS.get(self.type, "default")))


class Outgoing(NamedTuple):
    """One notification on its way to one destination."""

    notification: ComplianceNotification
    transition: Transition
    routes: tuple[str, ...]  # names of the routes that chose this destination
    message_id: str | None  # SNS MessageId / EventBridge id, when there was one


class Destination(Protocol):
    """A connected channel. `send` raises `DeliveryError` (saying whether a retry can help), nothing else.
    It returns None when it sent, or the action it took instead (e.g. "dry-run", "blocked:rate-limit")."""

    spec: DestinationSpec

    def send(self, outgoing: Outgoing) -> str | None: ...


class TicketDestination(Protocol):
    """A ticketing channel (Jira, ServiceNow). It executes the action `tickets.model.plan` chose; it never
    decides one. Every method raises `DeliveryError` (classified by `destinations.http`) and nothing else;
    `TicketGone` when the remembered ticket was deleted by hand."""

    spec: DestinationSpec
    policy: TicketPolicy

    def find_open(self, label: str) -> TicketRef | None:
        """The open ticket carrying this resource's label (JQL / correlation_id), when the store lost it."""
        ...

    def open(self, outgoing: Outgoing, label: str) -> TicketRef: ...

    def comment(self, ticket: TicketRef, outgoing: Outgoing) -> TicketRef: ...

    def resolve(self, ticket: TicketRef, outgoing: Outgoing) -> TicketRef: ...

    def reopen(self, ticket: TicketRef, outgoing: Outgoing) -> TicketRef: ...

    def close(self, ticket: TicketRef, outgoing: Outgoing) -> TicketRef: ...
