"""Send the digests whose window has closed: one message per (route, destination, group) and window.

Who flushes (both, on Lambda): the handler checks `due_digests` at the end of every invocation (one
cheap read of the bucket heads), so under traffic a digest leaves with the first invocation after its
window closed; and an EventBridge schedule (`{"notifier": "flush-digests"}`, every minute) flushes
when traffic has stopped, which the first alone could not. Neither depends on an SQS batch holding a
whole group: items wait in the state store across invocations.

Every bucket is claimed first (one flusher wins, a dead one is replaced after CLAIM_LEASE), completed
(deleted) after its message went out, and released after a failure so the next flush retries it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import DeliveryError, NotifierError
from .message import Digest

if TYPE_CHECKING:
    from ..pipeline import Pipeline

log = logging.getLogger("notifier.digests")


class Flushed(NamedTuple):
    bucket: str
    destination: str
    items: int
    action: str  # sent | failed | dropped (its destination is gone from the config) | empty (nothing to send)
    error: str | None = None


def flush_due(pipeline: Pipeline, now: datetime | None = None) -> list[Flushed]:
    state = pipeline.state
    if state is None:
        return []
    now = now or pipeline.clock()
    flushed: list[Flushed] = []
    for batch in state.due_digests(now):
        if not state.claim_digest(batch.bucket, now=now):
            continue  # another invocation is sending it
        digest = Digest.of(batch, state.digest_items(batch.bucket))
        if not digest.items:  # its only notification lost the ordering race after opening the window
            state.complete_digest(batch.bucket)
            flushed.append(Flushed(batch.bucket, digest.destination, 0, "empty"))
            continue
        try:
            action = _send(pipeline, digest)
        except NotifierError as exc:  # DeliveryError included: the next flush tries again
            state.release_digest(batch.bucket)
            log.warning("digest for %s not sent, will retry: %s", digest.destination, exc)
            flushed.append(Flushed(batch.bucket, digest.destination, len(digest.items), "failed", str(exc)))
            continue
        state.complete_digest(batch.bucket)
        flushed.append(Flushed(batch.bucket, digest.destination, len(digest.items), action))
    return flushed


def _send(pipeline: Pipeline, digest: Digest) -> str:
    spec = pipeline.specs.get(digest.destination)
    if spec is None:
        log.warning("digest of %d item(s) dropped: destination %r is no longer configured", len(digest.items),
                    digest.destination)  # fmt: skip
        return "dropped"
    destination = pipeline._destination(spec)
    send_digest = getattr(destination, "send_digest", None)
    if send_digest is None:  # hold.holds_for holds only for DIGEST_TYPES: the config changed meanwhile
        raise DeliveryError(spec.name, f"a {spec.type} destination cannot take a digest", retryable=False)
    if spec.dry_run:
        _rehearse(pipeline, digest, send_digest)
        return "dry-run"
    ticket = send_digest(digest)
    if ticket:
        log.info("digest of %d item(s) to %s: umbrella ticket %s", len(digest.items), spec.name, ticket)
    return "sent"


def _rehearse(pipeline: Pipeline, digest: Digest, send_digest: Any) -> None:
    """A dry_run destination's digest: its own code runs against the recording stand-ins it was built with
    (destinations/recording.py), and the requests it would have made — the umbrella ticket's search and
    create, the signed webhook, the email — are reported like a single change's (notifier/dry_run.py)."""
    from ..destinations.recording import recording
    from ..dry_run import digest_dry_run_record

    error: str | None = None
    with recording() as requests_made:
        try:
            ticket = send_digest(digest)
        except NotifierError as exc:  # a rehearsal is reported, never retried
            ticket, error = None, str(exc)
    spec = pipeline.specs[digest.destination]
    record = digest_dry_run_record(spec, digest, ticket=ticket, requests=requests_made, error=error,
                                   at=pipeline.clock())  # fmt: skip
    pipeline.dry_run.report(record)
