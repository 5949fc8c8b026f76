"""The one protocol every channel implements, and what the pipeline hands it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from ..notification import ComplianceNotification
from ..transition import Transition


@dataclass(frozen=True, slots=True)
class DestinationSpec:
    """A destination as the config names it: validated, not yet connected to anything."""

    name: str
    type: str  # email | file | jira | servicenow | webhook | slack | lambda
    options: Mapping[str, Any] = field(default_factory=dict)  # every key but `type`, as written

    @property
    def dry_run(self) -> bool:
        return bool(self.options.get("dry_run", False))

    @property
    def template_set(self) -> str:
        return str(self.options.get("template", "default"))


class Outgoing(NamedTuple):
    """One notification on its way to one destination."""

    notification: ComplianceNotification
    transition: Transition
    routes: tuple[str, ...]  # names of the routes that chose this destination
    message_id: str | None  # SNS MessageId / EventBridge id, when there was one


class Destination(Protocol):
    """A connected channel. `send` raises `DeliveryError` (saying whether a retry can help), nothing else."""

    spec: DestinationSpec

    def send(self, outgoing: Outgoing) -> None: ...
