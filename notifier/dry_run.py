"""What a dry run leaves behind: one record per delivery to a `dry_run: true` destination, written to the
`dry_run_outbox` file destination (when the config names one) and always to the log.

    {"dry_run": true, "recorded_at": "...Z", "destination": "sec-jira", "type": "jira",
     "change": {"account", "region", "rule", "resource_type", "resource_id", "from", "to", "transition"},
     "routes": [...], "message_id": "...", "action": "open", "ticket": "SEC-DRYRUN", "state_updated": false,
     "requests": [{"method", "url", "headers", "body"}, ...], "error": "..." (only when the rehearsal failed)}

`requests` are what the destination's own code built, captured below it and masked
(notifier/destinations/recording.py). `action` is what the real delivery would have done: the ticket
action, the remediation guard's decision, or "send". The Delivery itself always says "dry-run".

State: by default a dry run changes none (no delivery claim, no ticket, no rate-limit or guard count).
With `--dry-run-updates-state` (NOTIFIER_DRY_RUN_UPDATES_STATE=true on Lambda) the claim is completed and
the ticket stored as if the requests had been answered as recorded, so switching the destination on
later does not send those changes again (see docs/dry-run.md for what that means for tickets).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .destinations.base import DestinationSpec, Outgoing
from .destinations.file import FileDestination
from .errors import DeliveryError, NotifierError

if TYPE_CHECKING:
    from .digests.message import Digest

UPDATES_STATE_VARIABLE = "NOTIFIER_DRY_RUN_UPDATES_STATE"
_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off", ""})


@dataclass(frozen=True, slots=True)
class DryRun:
    """How this process rehearses: where the records go besides the log, and whether state follows."""

    outbox: FileDestination | None = None
    updates_state: bool = False

    @classmethod
    def of(cls, specs: Mapping[str, DestinationSpec], outbox: str | None, *, updates_state: bool) -> DryRun:
        if outbox is None:
            return cls(None, updates_state)
        spec = specs.get(outbox)
        if spec is None or spec.type != "file":  # check-config refuses this; a hand-built pipeline may not
            raise NotifierError(f"dry_run_outbox {outbox!r} must name a file destination")
        return cls(FileDestination(spec), updates_state)

    def report(self, record: dict[str, Any]) -> None:
        """One log line, and one line in the outbox. A record the outbox cannot take is still in the log:
        a rehearsal never fails a delivery (it must not make SQS redeliver a message real destinations have)."""
        from .telemetry import logger  # Powertools: loaded by the first rehearsal, not at every cold start

        what = f"dry run: {record['destination']} would {record['action']}"
        if record.get("error"):
            logger.warning(f"{what}, but the rehearsal failed", extra={"dry_run": record})
        else:
            logger.info(what, extra={"dry_run": record})
        if self.outbox is None:
            return
        try:
            self.outbox.append(record)
        except DeliveryError as exc:
            where = {"outbox": self.outbox.spec.name, "error": str(exc)}
            logger.warning("dry run not written to the outbox", extra=where)


NO_OUTBOX = DryRun()


def dry_run_record(
    spec: DestinationSpec,
    outgoing: Outgoing,
    *,
    action: str,
    ticket: str | None,
    requests: list[dict[str, Any]],
    error: str | None,
    state_updated: bool,
    at: datetime,
) -> dict[str, Any]:
    n, t = outgoing.notification, outgoing.transition
    change = {
        "account": n.account,
        "region": n.region,
        "rule": n.rule,
        "resource_type": n.resource_type,
        "resource_id": n.resource_id,
        "from": t.old.value,
        "to": t.new.value,
        "transition": t.kind.value,
    }
    subject = {"change": change, "routes": list(outgoing.routes), "message_id": outgoing.message_id}
    return _record(spec, subject, action=action, ticket=ticket, requests=requests, error=error,
                   state_updated=state_updated, at=at)  # fmt: skip


def digest_dry_run_record(
    spec: DestinationSpec, digest: Digest, *, ticket: str | None, requests: list[dict[str, Any]], error: str | None,
    at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """A dry-run destination's digest (notifier/digests/flush.py): `digest` in place of `change`. A digest
    changes no state, rehearsed or not: its window is closed as if it had been sent."""
    subject = {
        "digest": {
            "route": digest.route,
            "reason": digest.reason,
            "group": dict(digest.group),
            "items": len(digest.items),
            "window_end": digest.batch.window_end,
        }
    }
    return _record(spec, subject, action="digest", ticket=ticket, requests=requests, error=error,
                   state_updated=False, at=at)  # fmt: skip


def _record(
    spec: DestinationSpec, subject: Mapping[str, Any], *, action: str, ticket: str | None,
    requests: list[dict[str, Any]], error: str | None, state_updated: bool, at: datetime,
) -> dict[str, Any]:  # fmt: skip
    record: dict[str, Any] = {
        "dry_run": True,
        "recorded_at": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "destination": spec.name,
        "type": spec.type,
        **subject,
        "action": action,
        "state_updated": state_updated,
        "requests": requests,
    }
    if ticket:
        record["ticket"] = ticket
    if error:
        record["error"] = error
    return record


def updates_state_from_environment(environ: Mapping[str, str] = os.environ) -> bool:
    """NOTIFIER_DRY_RUN_UPDATES_STATE: true or false. Anything else stops the cold start: a typo must not
    silently decide whether state changes."""
    value = environ.get(UPDATES_STATE_VARIABLE, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise NotifierError(f"{UPDATES_STATE_VARIABLE}={value!r}: use true or false")
