"""Decide, per destination, whether a routed notification is held for a digest, and hold it.

Held deliveries are reported with action `digested` (status stays `routed`); `explain` shows `digest`.
A ticket destination in baseline mode follows the route's `baseline_tickets`: per_resource tickets as
usual, per_rule holds it (the flush opens one umbrella ticket), none shows `baseline:none` (state only).
Outside baseline mode a ticket destination is never held by `group_by`: a ticket tracks one problem
and resolves itself with it, which a ticket for a group of changes could not. A `lambda` (remediation)
destination is never held: each resource is remediated, or not, on its own.

Every held notification has already passed the ordering guard and is recorded like any other; the
append is keyed by its content_key, so a redelivery within the window is held once. One arriving after
its window was flushed opens the next window: at least once, never lost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from ..delivery import Delivery
from ..destinations.base import DestinationSpec, Outgoing
from ..notification import ComplianceNotification
from ..routing.tree import RouteHit
from ..state.base import StateStore
from ..tickets.policy import is_ticketing
from ..transition import Transition
from .policy import Grouping

HELD = "digested"
WOULD_HOLD = "digest"
BASELINE_NONE = "baseline:none"
# The types a digest can be sent to (digests/flush.py); a remediation Lambda gets each notification.
DIGEST_TYPES = frozenset({"email", "file", "webhook", "slack", "jira", "servicenow"})


class Hold(NamedTuple):
    route: str
    grouping: Grouping
    action: str  # HELD, or BASELINE_NONE for a ticket destination that does nothing in baseline mode


def holds_for(
    hits: tuple[RouteHit, ...],
    specs: Mapping[str, DestinationSpec],
    notification: ComplianceNotification,
    change: Transition,
) -> dict[str, Hold]:
    """Destination name -> how it is held; destinations absent from the answer are delivered at once.
    The first route naming a destination decides for it, as it does for the delivery itself."""
    holds: dict[str, Hold] = {}
    decided: set[str] = set()
    for hit in hits:
        grouping = hit.digest.grouping(notification, change) if hit.digest is not None else None
        for name in hit.destinations:
            if name in decided:
                continue
            decided.add(name)
            if grouping is None or hit.digest is None:
                continue
            if is_ticketing(specs[name]):
                baseline = hit.digest.baseline_grouping(notification, change)
                tickets = hit.digest.baseline_tickets
                if baseline is None or tickets == "per_resource":
                    continue  # one ticket per problem, opened at once
                holds[name] = Hold(hit.route, baseline, BASELINE_NONE if tickets == "none" else HELD)
                continue
            if specs[name].type not in DIGEST_TYPES:
                continue
            holds[name] = Hold(hit.route, grouping, HELD)
    return holds


def group_key(route: str, destination: str, grouping: Grouping) -> str:
    """The buffer's group: one digest per (route, destination, group values) and window. JSON, so that
    any character in a value (a '|' in a rule name) keeps groups apart."""
    return json.dumps([route, destination, grouping.reason, [list(pair) for pair in grouping.values]])


def parse_group(group: str) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
    route, destination, reason, values = json.loads(group)
    return route, destination, reason, tuple((str(k), str(v)) for k, v in values)


def digest_item(notification: ComplianceNotification, change: Transition, message_id: str | None) -> dict[str, Any]:
    """What a digest needs of one notification, as plain JSON (the buffer stores text)."""
    n = notification
    return {
        "account": n.account,
        "region": n.region,
        "rule": n.rule,
        "resource_type": n.resource_type,
        "resource_id": n.resource_id,
        "from": change.old.value,
        "to": change.new.value,
        "transition": change.kind.value,
        "annotation": n.new.annotation,
        "ordering_timestamp": n.new.ordering_timestamp,
        "message_id": message_id,
    }


def hold(
    state: StateStore,
    specs: Mapping[str, DestinationSpec],
    hits: tuple[RouteHit, ...],
    names: tuple[str, ...],
    outgoing: Outgoing,
    *,
    now: datetime,
    send: bool,
) -> tuple[tuple[Delivery, ...], tuple[str, ...]]:
    """Hold (or, for explain, say it would hold) what the routes digest; return those deliveries and the
    destination names still to deliver at once. One conditional write per held destination."""
    holds = holds_for(hits, specs, outgoing.notification, outgoing.transition)
    if not holds:
        return (), names
    held: list[Delivery] = []
    for name, how in holds.items():
        spec = specs[name]
        if how.action == BASELINE_NONE or not send:
            held.append(Delivery(name, spec.type, how.action if how.action == BASELINE_NONE else WOULD_HOLD))
            continue
        item = digest_item(outgoing.notification, outgoing.transition, outgoing.message_id)
        group = group_key(how.route, name, how.grouping)
        added = state.append_digest(group, outgoing.notification.content_key, item, now=now, window=how.grouping.window)
        held.append(Delivery(name, spec.type, HELD if added else "already_sent"))
    return tuple(held), tuple(name for name in names if name not in holds)
