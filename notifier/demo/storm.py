"""`demo --scenario storm`: a rule deployment storm becomes one digest per destination.

An account holds N IAM users that a legacy provisioning script created without the approved policy.
The standardized-IAM-policy rule is deployed: Config evaluates every user, and N first evaluations
(NONE → NON_COMPLIANT, `first_violation`) reach the notifier at once. The route keeps its default
`baseline: true`, so each is recorded and held for its rule's baseline digest instead of paging anyone;
when the window closes, the scheduled flush (`{"notifier": "flush-digests"}`) sends one digest per
destination: one email, one webhook `compliance.digest`, one audit record, and one umbrella ticket per
ticketing destination (dry-run here). The remediation Lambda is never held (each resource is remediated
or not on its own): its guard's `max_per_hour` stops the storm after the first few.

The demo does not wait out the window: it moves the pipeline's clock past it (window + grace).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from ..digests.policy import BASELINE_WINDOW
from ..state.digest_buffer import DIGEST_GRACE
from .aws import create_users_in_backend
from .session import Session
from .steps import evaluate, narrate_outcomes, publish_and_consume

DEFAULT_SIZE = 500
USER_PREFIX = "svc-legacy-"
WAVE = 20  # messages Config publishes between two polls of the queue


def run_storm(session: Session, size: int) -> tuple[bool, list[dict[str, Any]]]:
    """Steps 1 (the users) to 4; returns whether every destination got exactly one digest, and the digests."""
    n = session.narrator
    names = [f"{USER_PREFIX}{index:04d}" for index in range(size)]
    how = create_users_in_backend(session.aws, names)
    n.say(f"IAM users {names[0]} … {names[-1]}: {size} users, none with MyIAMUserPolicy ({how})")

    n.step(2, f"The rule is deployed: Config records all {size} users and runs the rule Lambda on each")
    verdicts, messages = evaluate(session, None, status="ResourceDiscovered")

    n.step(3, "Config publishes the storm; the handler consumes it, and baseline holds each first evaluation")
    publish_and_consume(session, messages, wave=WAVE)
    storm = narrate_outcomes(session, detail=False)
    n.say(f"emails sent per resource: {len(storm.emails)}; every first violation waits for its rule's digest")

    window = BASELINE_WINDOW + DIGEST_GRACE + timedelta(minutes=1)
    n.step(4, f"The digest window closes (the demo moves the notifier's clock {int(window.total_seconds())} s on)")
    session.clock.advance(window)
    n.say('the one-minute schedule invokes the handler with {"notifier": "flush-digests"}')
    flushed = session.intake.flush_digests()
    for digest in flushed:
        n.say(f"digest → {digest['destination']:20} {digest['items']} item(s): {digest['action']}")
    if any(digest["action"] == "dry-run" for digest in flushed):
        n.say("dry-run destinations rehearsed their digest: the umbrella tickets' requests are in the outbox")
    narrate_outcomes(session, detail=False)
    held = sum(1 for entry in storm.entries if "digested" in entry.actions.values())
    n.say(f"{held} notifications → 1 digest per destination")
    per_destination = Counter(digest["destination"] for digest in flushed)
    digest_destinations = {d for entry in storm.entries for d, a in entry.actions.items() if a == "digested"}
    ok = (
        len(verdicts) == size
        and not storm.emails
        and set(per_destination) == digest_destinations
        and all(count == 1 for count in per_destination.values())
    )
    return ok, flushed
