"""Deliver one notification to one destination: claim → send or carry out the ticket action → record.

    claim (state)  ──►  send (email, file)                 ──►  complete the claim
                        or plan + execute the ticket action      (or release it when the send failed,
                        (tickets.model.plan decides;              so a retry or replay does it once)
                         the destination only executes)

Only a retryable DeliveryError is retried, waiting what the service asked (Retry-After) or an
exponential backoff with full jitter, and never past the deadline the caller gives (on Lambda: its remaining time).
`preview` answers the same questions without side effects, for `explain`.

A `dry_run: true` destination is rehearsed instead (`_rehearse`): its own code runs against recording
stand-ins (destinations/recording.py) and what it would have sent is reported (notifier/dry_run.py). It
touches the state only when the pipeline says so (`--dry-run-updates-state`), and never fails a message.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, cast

from .deadlines import deadline_of_this_delivery
from .destinations.base import Destination, DestinationSpec, Outgoing, TicketDestination
from .dry_run import NO_OUTBOX, DryRun, dry_run_record
from .errors import DeliveryError, NotifierError, TicketGone
from .notification import ComplianceNotification
from .state.base import ResourceKey, ResourceRecord, StateStore, utc_now
from .tickets.model import TicketAction, TicketRef, TicketStatus, plan
from .tickets.policy import is_ticketing, policy_of
from .transition import TransitionKind

ATTEMPTS = 3
FIRST_BACKOFF_SECONDS = 0.5


class Delivery(NamedTuple):
    """What happened (or, in `explain`, what would happen) for one destination."""

    destination: str
    type: str
    # run: sent | failed | dry-run | already_sent; explain: send | dry-run | already_sent, and a
    # ticketing destination shows its planned ticket action instead: open | comment | resolve | reopen |
    # close | none
    action: str
    error: str | None = None
    retryable: bool = False
    ticket_action: str | None = None  # the ticket action carried out (run)
    ticket: str | None = None  # the ticket's key after it (SEC-42, INC0010001)

    def to_json(self) -> dict[str, str]:
        record = {"destination": self.destination, "type": self.type, "action": self.action}
        for name in ("ticket_action", "ticket", "error"):
            value = getattr(self, name)
            if value:
                record[name] = value
        return record


@dataclass(frozen=True, slots=True)
class DeliveryContext:
    """What every delivery of one notification shares."""

    state: StateStore | None = None
    record: ResourceRecord | None = None  # the resource's record as it was before this notification
    now: datetime = field(default_factory=utc_now)
    deadline: float | None = None  # time.monotonic() value not to retry past
    sleep: Callable[[float], None] = time.sleep
    # "Full jitter": wait a random time up to the exponential cap, so retries from many Lambdas spread out
    # instead of hitting a recovering service in waves.
    jitter: Callable[[float], float] = field(default=lambda cap: random.uniform(0, cap))
    dry_run: DryRun = NO_OUTBOX  # where `dry_run: true` destinations report, and whether state follows them


def should_send(spec: DestinationSpec, notification: ComplianceNotification, state: StateStore | None) -> str | None:
    """None when the notification should go out; otherwise the action that replaces sending."""
    if spec.dry_run or spec.left_out:
        return "dry-run"
    if state is not None and state.was_delivered(notification.content_key, spec.name):
        return "already_sent"
    return None


def preview(
    spec: DestinationSpec, notification: ComplianceNotification, kind: TransitionKind, context: DeliveryContext
) -> Delivery:
    """What `deliver` would do now, without doing anything."""
    skip = should_send(spec, notification, context.state)
    if skip is not None:
        return Delivery(spec.name, spec.type, skip)
    if is_ticketing(spec):
        action = plan(kind, _ticket_of(context.record, spec.name), policy_of(spec), context.now)
        return Delivery(spec.name, spec.type, action.value)
    if spec.type == "lambda":  # the guard rails decide: invoke | dry-run | blocked:<reason> | none
        from .destinations.remediation import preview_action

        return Delivery(spec.name, spec.type, preview_action(spec, notification, kind, context.state, context.now))
    return Delivery(spec.name, spec.type, "send")


def deliver(destination: Destination, outgoing: Outgoing, context: DeliveryContext) -> Delivery:
    spec = destination.spec
    if spec.left_out:  # replay --destination: the others are not touched at all
        return Delivery(spec.name, spec.type, "dry-run")
    if spec.dry_run:
        return _rehearse(destination, outgoing, context)
    state, change_key = context.state, outgoing.notification.content_key
    if state is not None and not state.claim_delivery(change_key, spec.name, now=context.now):
        return Delivery(spec.name, spec.type, "already_sent")
    try:
        with deadline_of_this_delivery(context.deadline):  # every call inside waits at most until then
            action, ticket = _with_retries(lambda: _send(destination, outgoing, context), context)
    except DeliveryError as exc:
        if state is not None:
            state.release_delivery(change_key, spec.name)
        return Delivery(spec.name, spec.type, "failed", str(exc), exc.retryable)
    except BaseException:
        if state is not None:
            state.release_delivery(change_key, spec.name)
        raise
    if state is not None:
        state.complete_delivery(change_key, spec.name, now=context.now)
    if not is_ticketing(spec) and action is not None:
        return Delivery(spec.name, spec.type, action)  # what the channel reported instead of "sent"
    return Delivery(spec.name, spec.type, "sent", ticket_action=action, ticket=ticket.key if ticket else None)


def _rehearse(destination: Destination, outgoing: Outgoing, context: DeliveryContext) -> Delivery:
    """Run the delivery against the recording stand-ins, once (their answers do not fail), and report it.
    Without `updates_state` the state is only read: a change it already has is `already_sent`, as it would
    be for real, and nothing is claimed or stored. A failure (a template, a secret) is reported, not raised:
    a rehearsal must not make SQS redeliver a message that real destinations already have."""
    from .destinations.recording import recording  # requests: only a config with dry runs pays for it

    spec, change_key = destination.spec, outgoing.notification.content_key
    state = context.state if context.dry_run.updates_state else None  # the store the rehearsal may write
    if state is not None and not state.claim_delivery(change_key, spec.name, now=context.now):
        return Delivery(spec.name, spec.type, "already_sent")
    if state is None and context.state is not None and context.state.was_delivered(change_key, spec.name):
        return Delivery(spec.name, spec.type, "already_sent")
    action: str | None = None
    ticket: TicketRef | None = None
    error: str | None = None
    with recording() as requests_made:
        try:
            with deadline_of_this_delivery(context.deadline):
                action, ticket = _send(destination, outgoing, dataclasses.replace(context, state=state))
        except NotifierError as exc:  # DeliveryError included
            error = str(exc)
        except BaseException:
            if state is not None:
                state.release_delivery(change_key, spec.name)
            raise
    if state is not None and error is None:
        state.complete_delivery(change_key, spec.name, now=context.now)
    elif state is not None:
        state.release_delivery(change_key, spec.name)
    record = dry_run_record(
        spec, outgoing, action=action or "send", ticket=ticket.key if ticket else None, requests=requests_made,
        error=error, state_updated=state is not None and error is None, at=context.now,
    )  # fmt: skip
    context.dry_run.report(record)
    return Delivery(spec.name, spec.type, "dry-run", error)


def _with_retries(send: Callable[[], Any], context: DeliveryContext) -> Any:
    backoff = FIRST_BACKOFF_SECONDS
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return send()
        except DeliveryError as exc:
            wait = exc.retry_after if exc.retry_after is not None else context.jitter(backoff)
            out_of_time = context.deadline is not None and time.monotonic() + wait >= context.deadline
            if not exc.retryable or attempt == ATTEMPTS or out_of_time:
                raise
            context.sleep(wait)
            backoff *= 2
    raise AssertionError("unreachable: the last attempt returns or raises")


def _send(
    destination: Destination, outgoing: Outgoing, context: DeliveryContext
) -> tuple[str | None, TicketRef | None]:
    if not is_ticketing(destination.spec):
        outcome = destination.send(outgoing)  # None means plainly sent; a channel may say more (dry-run, blocked:…)
        return outcome, None
    return _ticket(cast(TicketDestination, destination), outgoing, context)


def _ticket(
    destination: TicketDestination, outgoing: Outgoing, context: DeliveryContext
) -> tuple[str | None, TicketRef | None]:
    spec, notification = destination.spec, outgoing.notification
    key = ResourceKey.of(notification)
    kind = outgoing.transition.kind
    ticket = _ticket_of(context.record, spec.name)
    action = plan(kind, ticket, destination.policy, context.now)
    if action is TicketAction.OPEN and ticket is None:
        found = destination.find_open(key.label)  # the store never knew it (or was lost): adopt, don't duplicate
        if found is not None:
            ticket, action = found, plan(kind, found, destination.policy, context.now)
    updated = _execute(destination, action, ticket, outgoing, key.label, context.now)
    if (
        action in (TicketAction.COMMENT, TicketAction.REOPEN)
        and updated is not None
        and updated.status is not TicketStatus.OPEN
    ):
        # A person resolved or closed it since we last looked: decide once more on what the system says
        # now, so this notification reopens or opens a ticket instead of waiting for the next one.
        action = plan(kind, updated, destination.policy, context.now)
        updated = _execute(destination, action, updated, outgoing, key.label, context.now) or updated
    if updated is not None and context.state is not None:
        context.state.set_ticket(key, spec.name, updated)
    return action.value, updated


def _execute(
    destination: TicketDestination,
    action: TicketAction,
    ticket: TicketRef | None,
    outgoing: Outgoing,
    label: str,
    now: datetime,
) -> TicketRef | None:
    if action is TicketAction.NONE:
        return None
    if action is TicketAction.OPEN or ticket is None:
        return destination.open(outgoing, label)
    step = {
        TicketAction.COMMENT: destination.comment,
        TicketAction.RESOLVE: destination.resolve,
        TicketAction.REOPEN: destination.reopen,
        TicketAction.CLOSE: destination.close,
    }[action]
    try:
        return step(ticket, outgoing)
    except TicketGone:
        if action in (TicketAction.COMMENT, TicketAction.REOPEN):
            return destination.open(outgoing, label)  # deleted by hand while still a problem: a new one, re-linked
        # Nothing left to resolve or close: remember it as gone so a relapse opens a new ticket.
        return ticket.with_status(TicketStatus.CLOSED, resolution="deleted", at=now.isoformat())


def _ticket_of(record: ResourceRecord | None, destination: str) -> TicketRef | None:
    return record.tickets.get(destination) if record is not None else None
