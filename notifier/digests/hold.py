"""Decide, per destination, whether a routed notification is held for a digest, and report how it was.

Held deliveries are reported with action `digested` (status stays `routed`); `explain` shows `digest`.
A ticket destination in baseline mode follows the route's `baseline_tickets`: per_resource tickets as
usual, per_rule holds it (the flush opens one umbrella ticket), none shows `baseline:none` (state only).
Outside baseline mode a ticket destination is never held by `group_by`: a ticket tracks one problem
and resolves itself with it, which a ticket for a group of changes could not. A `lambda` (remediation)
destination is never held: each resource is remediated, or not, on its own.

Holding is planned before anything is written (`plan_holds`) and the items are appended by the ordering
guard's own write (`StateStore.observe_and_hold`): the record and its held items are stored together or
not at all, in one state-store request. So a held notification is recorded like any other, and held
only when FRESH: a redelivery (REPEAT) finds its items stored with its original and adds nothing
(`already_sent`), even after its digest went out; a STALE one is not held. An item is keyed by the
notification's content_key, so a FRESH re-evaluation of the same change is held once too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ..delivery import Delivery
from ..destinations.base import DestinationSpec
from ..notification import ComplianceNotification
from ..routing.tree import RouteHit
from ..state.base import HeldItem
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


class HoldPlan(NamedTuple):
    """How one routed notification is held, worked out before anything is written: routes, silences and
    holds are pure, so the holds can go into the same write as the ordering guard's record."""

    holds: Mapping[str, Hold]  # destination -> how; a destination absent is delivered at once
    items: tuple[HeldItem, ...]  # what the digest buffer gets: one per destination held with HELD
    item_destinations: tuple[str, ...]  # whose item each one is (same order)
    everything: bool  # no routed destination is delivered at once: the history's actions are known now

    @property
    def actions(self) -> dict[str, str]:
        """Each held destination's action once its item is added: what the history records."""
        return {name: how.action for name, how in self.holds.items()}


NOTHING_HELD = HoldPlan({}, (), (), everything=False)


def plan_holds(
    specs: Mapping[str, DestinationSpec],
    hits: tuple[RouteHit, ...],
    names: tuple[str, ...],
    notification: ComplianceNotification,
    change: Transition,
    message_id: str | None,
) -> HoldPlan:
    """What the routes hold of this notification (`holds_for`), as the items the state store appends.
    `names` are the routed destinations, each once."""
    holds = holds_for(hits, specs, notification, change)
    if not holds:
        return NOTHING_HELD
    item = digest_item(notification, change, message_id)
    digested = [(name, how) for name, how in holds.items() if how.action == HELD]
    items = tuple(
        HeldItem(group_key(how.route, name, how.grouping), notification.content_key, item, how.grouping.window)
        for name, how in digested
    )
    return HoldPlan(holds, items, tuple(name for name, _ in digested), everything=len(holds) == len(names))


def held_deliveries(
    plan: HoldPlan, specs: Mapping[str, DestinationSpec], names: tuple[str, ...], added: Sequence[bool] | None
) -> tuple[tuple[Delivery, ...], tuple[str, ...]]:
    """The held destinations' deliveries, and the names still to deliver at once. `added` is what
    `StateStore.observe_and_hold` reported per item (an item already held is a redelivery:
    `already_sent`); None for explain, which writes nothing and shows `digest`."""
    if not plan.holds:
        return (), names
    was_added = dict(zip(plan.item_destinations, added, strict=True)) if added is not None else {}
    held: list[Delivery] = []
    for name, how in plan.holds.items():
        if how.action == BASELINE_NONE:
            action = BASELINE_NONE
        elif added is None:
            action = WOULD_HOLD
        else:
            action = HELD if was_added[name] else "already_sent"
        held.append(Delivery(name, specs[name].type, action))
    return tuple(held), tuple(name for name in names if name not in plan.holds)
