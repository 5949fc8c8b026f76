"""The stages wired together: envelope → notification → transition → routes → deliver → record.

`handler.py` and `cli.py` are thin shells over `Pipeline.process`. One `Pipeline` lives per process:
the route tree, the connected destinations and the state store are built once and reused.

With a state store, every compliance change first passes the ordering guard (`StateStore.observe`,
a conditional write): an older one is `stale` and does nothing; the same one again is let through to
the per-destination claims, which send nothing twice (then it is a `duplicate`). The transition
history is appended for the audit trail. `explain` (send=False) only reads the store.

Silences, routes and digest holds do not depend on the state, so they are worked out first, and what
is held goes into the guard's own write (`observe_and_hold`): a storm of held first evaluations costs
one state-store request each, with the history entry too when no destination is sent to at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from .delivery import Delivery, DeliveryContext, deliver, preview
from .destinations.base import Destination, DestinationSpec, Outgoing
from .digests.rate_limit import RateLimits
from .dry_run import DryRun
from .envelopes import InboundMessage
from .errors import NotifierError
from .message_types import COMPLIANCE_MESSAGE_TYPE
from .notification import ComplianceNotification, Invalid, Skipped, parse
from .outcome import Outcome, Status, message_type_of
from .remediation.breaker_alerts import BreakerAlerts
from .routing.silences import Silence, active_silence
from .routing.tree import RouteHit, RouteTree
from .state.base import (
    HistoryEntry,
    Observation,
    Observed,
    ResourceKey,
    ResourceRecord,
    StateStore,
    judge,
    ordering_key,
)
from .transition import Transition, TransitionKind, transition

if TYPE_CHECKING:
    from .digests.hold import HoldPlan

Connector = Callable[[DestinationSpec], Destination]
Clock = Callable[[], datetime]

__all__ = ["Outcome", "Pipeline", "Status"]


class _Decided(NamedTuple):
    """What the config decides for one notification whatever the state says (a STALE verdict aside)."""

    silence: Silence | None
    hits: tuple[RouteHit, ...]  # empty when silenced or unrouted
    plan: HoldPlan  # NOTHING_HELD when silenced or unrouted


class Pipeline:
    def __init__(
        self,
        tree: RouteTree | None,
        specs: Mapping[str, DestinationSpec],
        *,
        state: StateStore | None = None,
        connect: Connector | None = None,
        invalid_messages: str | None = None,
        silences: tuple[Silence, ...] = (),
        clock: Clock = lambda: datetime.now(UTC),
        dry_run_outbox: str | None = None,  # a file destination for dry-run records (notifier/dry_run.py)
        dry_run_updates_state: bool = False,  # --dry-run-updates-state: a rehearsal claims and stores tickets
    ) -> None:
        self.tree = tree
        self.specs = dict(specs)  # a plain dict: looked up per delivery, faster than the config's read-only view
        self.state = state
        self.invalid_messages = invalid_messages
        self.dry_run = DryRun.of(self.specs, dry_run_outbox, updates_state=dry_run_updates_state)
        self.silences = silences
        self.clock = clock
        self._connect = connect
        self._connected: dict[str, Destination] = {}
        self._connect_lock = threading.Lock()  # batch threads share the pipeline: connect each destination once
        self._breaker_alerts = BreakerAlerts(self.specs, self._deliver)  # remediation/breaker_alerts.py
        self._stateless_previews: dict[tuple[tuple[str, ...], TransitionKind], tuple[Delivery, ...]] = {}
        self.rate_limits = RateLimits(self.specs)  # per-destination rate_limit (digests/rate_limit.py)

    def process(
        self,
        message: InboundMessage,
        *,
        send: bool = True,
        deadline: float | None = None,
        delivery_pool: Executor | None = None,
    ) -> Outcome:
        """Classify, guard, route and (when `send`) deliver one message. Never raises for bad input.
        With a `delivery_pool` (notifier.batch's), a notification's destinations are delivered at once."""
        parsed = parse(message)
        if isinstance(parsed, Invalid):
            dead_letter = self._dead_letter(message, parsed.error, send=send) if self.invalid_messages else ()
            return Outcome(message, "invalid", message_type_of(message), deliveries=dead_letter, error=parsed.error)
        if isinstance(parsed, Skipped):
            return Outcome(message, "skipped", parsed.message_type)
        change = transition(parsed.old_compliance, parsed.new.compliance)
        if self.state is None:  # the stateless hot path (explain without --state, the bench)
            return self._route(message, parsed, change, Observation.FRESH, None, send, deadline, delivery_pool)
        decided = self._decide(message, parsed, change)
        observed = self._observe(message, parsed, change, decided, send)
        outcome = self._route(
            message, parsed, change, observed.verdict, observed.before, send, deadline, delivery_pool,
            decided=decided, added=observed.added if send else None,
        )  # fmt: skip
        if send and not observed.history_written:
            self._record_history(outcome, observed.verdict)
        return outcome

    def _decide(self, message: InboundMessage, parsed: ComplianceNotification, change: Transition) -> _Decided:
        """Silence, routes and holds, before the state is written: all pure (only a STALE verdict, known
        later, overrides them), so the holds can go into the ordering guard's own write."""
        from .digests.hold import NOTHING_HELD, plan_holds

        silence = active_silence(self.silences, parsed, change, self.clock()) if self.silences else None
        hits = self.tree.match(parsed, change) if self.tree is not None and silence is None else ()
        if not hits:
            return _Decided(silence, hits, NOTHING_HELD)
        _, names = _used(hits)
        return _Decided(None, hits, plan_holds(self.specs, hits, names, parsed, change, message.message_id))

    def _observe(
        self,
        message: InboundMessage,
        parsed: ComplianceNotification,
        change: Transition,
        decided: _Decided,
        send: bool,
    ) -> Observed:
        """The ordering guard. What is held is written with the record, in one state-store request; so is
        the history entry when nothing is delivered at once (its actions are known before delivering)."""
        assert self.state is not None
        if not send:  # explain: read, judge, never write
            record = self.state.get(ResourceKey.of(parsed))
            return Observed(judge(record, ordering_key(parsed)), record, (), history_written=False)
        plan = decided.plan
        if not plan.holds:  # nothing goes with the record: the plain guard every store (and wrapper) has
            verdict, record = self.state.observe(parsed)
            return Observed(verdict, record, (), history_written=False)
        now = self.clock()
        history = None
        if plan.everything:
            history = self._history_entry(parsed, change, Observation.FRESH, message.message_id, plan.actions)
        return self.state.observe_and_hold(parsed, now=now, held=plan.items, history=history)

    def _route(
        self,
        message: InboundMessage,
        parsed: ComplianceNotification,
        change: Transition,
        observation: Observation,
        record: ResourceRecord | None,
        send: bool,
        deadline: float | None,
        delivery_pool: Executor | None = None,
        *,
        decided: _Decided | None = None,  # None on the stateless path: worked out here
        added: tuple[bool, ...] | None = None,  # per held item, from observe_and_hold; None: explain
    ) -> Outcome:
        if observation is Observation.STALE:
            return Outcome(message, "stale", COMPLIANCE_MESSAGE_TYPE, parsed, change)
        if decided is None:  # the stateless path works them out here, inline: bench (a) feels every call
            silence = active_silence(self.silences, parsed, change, self.clock()) if self.silences else None
            hits = self.tree.match(parsed, change) if self.tree is not None and silence is None else ()
        else:
            silence, hits = decided.silence, decided.hits
        if silence is not None:  # after the state guard: a silenced change is still recorded, only not sent
            return Outcome(
                message, "suppressed", COMPLIANCE_MESSAGE_TYPE, parsed, change, silenced_by=silence.describe()
            )
        if not hits:
            return Outcome(message, "unrouted", COMPLIANCE_MESSAGE_TYPE, parsed, change)  # positional: hot path
        routes, names = _used(hits)
        held: tuple[Delivery, ...] = ()  # digests (notifier/digests/hold.py): only with a store to hold them in
        if decided is not None and decided.plan.holds:
            from .digests.hold import held_deliveries

            held, names = held_deliveries(decided.plan, self.specs, names, added)
        # -- rate limits (notifier/digests/rate_limit.py): over the limit is held for a digest or failed retryable
        if self.rate_limits.active:
            outgoing = Outgoing(parsed, change, routes, message.message_id)
            limited, names = self.rate_limits.apply(
                self.state, self.specs, names, outgoing, now=self.clock(), send=send
            )
            held += limited
        # -- end rate limits
        if send:
            context = DeliveryContext(self.state, record, self.clock(), deadline, dry_run=self.dry_run)
            outgoing = Outgoing(parsed, change, routes, message.message_id)
            if delivery_pool is None or len(names) == 1:
                deliveries = tuple([self._deliver(self.specs[name], outgoing, context) for name in names])
            else:  # each destination has its own claim and ticket: independent, so at once (map keeps the order)
                sent = delivery_pool.map(lambda name: self._deliver(self.specs[name], outgoing, context), names)
                deliveries = tuple(sent)
            deliveries += self._breaker_alerts(deliveries, outgoing, context, state=self.state, dry_run=self.dry_run)
            if self.rate_limits.active:  # rate limits: count what was actually sent
                self.rate_limits.record(deliveries, self.state, context.now)
        elif self.state is None:
            deliveries = self._stateless_previews_for(names, parsed, change)
        else:
            context = DeliveryContext(self.state, record, self.clock())
            deliveries = tuple([preview(self.specs[name], parsed, change.kind, context) for name in names])
        repeat = observation is Observation.REPEAT
        status: Status = "duplicate" if repeat and all(d.action == "already_sent" for d in deliveries) else "routed"
        return Outcome(message, status, COMPLIANCE_MESSAGE_TYPE, parsed, change, routes, deliveries + held)

    def _stateless_previews_for(
        self, names: tuple[str, ...], notification: ComplianceNotification, change: Transition
    ) -> tuple[Delivery, ...]:
        """Without state a preview depends only on the destinations and the transition kind, so it is built
        once per pair — unless a remediation guard is among them: its answer depends on the rule, account
        and resource too, so those previews are computed every time."""
        cache_key = (names, change.kind)
        cached = self._stateless_previews.get(cache_key)
        if cached is not None:
            return cached
        context = DeliveryContext(now=self.clock())
        previews = tuple([preview(self.specs[name], notification, change.kind, context) for name in names])
        if not any(self.specs[name].type == "lambda" for name in names):
            self._stateless_previews[cache_key] = previews
        return previews

    def _deliver(self, spec: DestinationSpec, outgoing: Outgoing, context: DeliveryContext) -> Delivery:
        try:
            return deliver(self._destination(spec), outgoing, context)
        except NotifierError as exc:  # e.g. a secret that cannot be resolved: this destination fails, not the batch
            return Delivery(spec.name, spec.type, "failed", str(exc), retryable=True)
        except Exception as exc:  # a bug in a channel must not sink the other records of the batch
            # Only the class name: an unexpected message could carry anything, secrets included.
            reason = f"unexpected {type(exc).__name__} in the {spec.type} channel"
            return Delivery(spec.name, spec.type, "failed", reason, retryable=True)

    def _record_history(self, outcome: Outcome, observation: Observation) -> None:
        """The history entry of a notification whose entry did not go with its record: what was delivered
        (or, STALE or REPEAT, not) is known only now."""
        assert self.state is not None and outcome.notification is not None and outcome.transition is not None
        actions = {d.destination: d.ticket_action or d.action for d in outcome.deliveries}
        entry = self._history_entry(
            outcome.notification, outcome.transition, observation, outcome.message.message_id, actions
        )
        self.state.append_history(entry)

    def _history_entry(
        self, n: ComplianceNotification, change: Transition, seen: Observation, message_id: str | None,
        actions: Mapping[str, str],
    ) -> HistoryEntry:  # fmt: skip
        return HistoryEntry(
            key=ResourceKey.of(n), ordering_key=ordering_key(n), old=change.old, new=change.new,
            kind=change.kind.value, observation=seen, message_id=message_id, actions=actions,
            recorded_at=self.clock().isoformat(timespec="milliseconds"),
        )  # fmt: skip

    def _dead_letter(self, message: InboundMessage, error: str, *, send: bool) -> tuple[Delivery, ...]:
        """Keep an invalid message with its reason (notifier/invalid_messages.py)."""
        from .invalid_messages import invalid_record, keep

        spec = self.specs[str(self.invalid_messages)]
        if not send:
            return (Delivery(spec.name, spec.type, "send"),)
        return (keep(spec, self._destination, invalid_record(message, error, at=self.clock())),)

    def _destination(self, spec: DestinationSpec) -> Destination:
        destination = self._connected.get(spec.name)
        if destination is None:
            with self._connect_lock:  # checked again inside: another thread may have connected it meanwhile
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
