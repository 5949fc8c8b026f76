"""Time-boxed silences: `{match, until, reason, created_by}` at the top of the routing config.

A notification that a live silence matches is `suppressed`: its state is still recorded (so tickets
and digests stay truthful when the silence ends) and it is counted, but nothing is sent. Silences
are for known, bounded situations — a migration, an accepted finding under review — so each one
must say until when, why, and who decided; `check-config` reports the expired ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..notification import ComplianceNotification
from ..transition import Transition
from .matchers import Matcher, compile_match, pair_bit


@dataclass(frozen=True, slots=True)
class Silence:
    index: int  # its place in the config's `silences` list, for messages
    matcher: Matcher
    until: datetime
    reason: str
    created_by: str

    def silences(self, notification: ComplianceNotification, change: Transition, now: datetime) -> bool:
        return now < self.until and self.matcher.matches_bit(notification, pair_bit(change))

    def describe(self) -> dict[str, str]:
        return {"reason": self.reason, "created_by": self.created_by, "until": self.until.isoformat()}


def parse_until(value: Any) -> datetime:
    """ISO-8601 date or date-time; without a zone it is UTC; a bare date means the start of that day (UTC)."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date or date-time (e.g. 2026-12-31T18:00:00Z)")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 date or date-time (e.g. 2026-12-31T18:00:00Z)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def compile_silences(raw: Any) -> tuple[Silence, ...]:
    """Compile the (already checked) `silences` list."""
    return tuple(
        Silence(
            index=index,
            matcher=compile_match(entry.get("match")),
            until=parse_until(entry["until"]),
            reason=str(entry["reason"]),
            created_by=str(entry["created_by"]),
        )
        for index, entry in enumerate(raw or ())
    )


def active_silence(
    silences: tuple[Silence, ...], notification: ComplianceNotification, change: Transition, now: datetime
) -> Silence | None:
    for silence in silences:
        if silence.silences(notification, change, now):
            return silence
    return None
