"""A tripped remediation breaker is news: its `breaker.notify` destinations hear of it once per window.

No delivery claim: the alert is not the change itself, and the window already makes it once. Its failure
is reported (`breaker-alert-failed`) but does not make the message retried: the alert had its one chance.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from ..delivery import Delivery, DeliveryContext
from ..destinations.base import DestinationSpec, Outgoing
from ..dry_run import DryRun
from ..state.base import StateStore
from ..state.event_log import EventLog

Deliver = Callable[[DestinationSpec, Outgoing, DeliveryContext], Delivery]
TRIPPED = "blocked:circuit-breaker"


class BreakerAlerts:
    def __init__(self, specs: Mapping[str, DestinationSpec], deliver: Deliver) -> None:
        self.specs = specs
        self.deliver = deliver
        self._lock = threading.Lock()  # notifications tripping it at once must not each see "no alert yet"
        self._log = EventLog()  # the once-per-window memory when there is no state store

    def __call__(
        self,
        deliveries: tuple[Delivery, ...],
        outgoing: Outgoing,
        context: DeliveryContext,
        *,
        state: StateStore | None,
        dry_run: DryRun,
    ) -> tuple[Delivery, ...]:
        alerts: list[Delivery] = []
        for tripped in (d for d in deliveries if d.action == TRIPPED):
            from .guard import GuardSettings

            settings = GuardSettings.from_spec(self.specs[tripped.destination])
            bucket = f"breaker-alert:{tripped.destination}"
            counts = state if state is not None else self._log
            window_start = context.now - settings.breaker_window
            with self._lock:
                if not settings.breaker_notify or counts.count_events(bucket, since=window_start):
                    continue
                counts.record_event(bucket, at=context.now)
            alert = outgoing._replace(routes=(f"circuit-breaker:{tripped.destination}",))
            quiet = DeliveryContext(None, None, context.now, dry_run=dry_run)
            for name in settings.breaker_notify:
                sent = self.deliver(self.specs[name], alert, quiet)
                action = "breaker-alert-failed" if sent.action == "failed" else "breaker-alert"
                alerts.append(sent._replace(action=action))
        return tuple(alerts)
