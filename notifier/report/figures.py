"""History entries -> Figures. Pure: no I/O, no clock (the caller says what `now` is).

How the history is read (docs/report.md says the same for readers of the report):

* Only FRESH entries change a resource's state. REPEAT entries are redeliveries of a change already
  recorded, STALE ones arrived after a newer change; both are counted and otherwise ignored.
* A resource's state is the `new` compliance of its latest FRESH entry, replayed in ordering-key order.
  The entry's own `old`/`kind` are not trusted for this: they are what Config said the previous state
  was, and with a lost or late message that differs from what we recorded.
* A violation opens when a resource goes into NON_COMPLIANT from anything else (or is first seen so),
  and closes when it leaves NON_COMPLIANT: to COMPLIANT it is *resolved*; to NOT_APPLICABLE it is
  *retired* (deleted or out of scope, not fixed); to INSUFFICIENT_DATA it is a *data gap*. Only
  resolutions count towards time to resolve.
* Every event's time is the Config orderingTimestamp at the front of its ordering key, not
  `recorded_at`: recorded_at is when this system processed the message, which a redelivery, a dead
  letter replayed days later or a backlog after an outage pushes arbitrarily late. The Config time is
  when the change happened, whatever route and delay the message took.
* Entries whose Config time is later than `now` are left out, so a report "as of" a past `now` shows
  the estate as it was then, and the same history and `now` always give the same figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..errors import NotifierError
from ..state.base import HistoryEntry, Observation, ResourceKey
from ..transition import Compliance
from .model import EntryCounts, Figures, OpenCount, OpenViolation, RuleFigures, SeriesPoint

DEFAULT_TOP = 10
P90 = 90

# What leaving NON_COMPLIANT for each state is called (the transition kinds of DESIGN.md).
_CLOSED_BY: dict[Compliance, str] = {
    Compliance.COMPLIANT: "resolved",
    Compliance.NOT_APPLICABLE: "retired",
    Compliance.INSUFFICIENT_DATA: "data_gap",
}


@dataclass(frozen=True, slots=True)
class Closure:
    key: ResourceKey
    opened_at: datetime
    closed_at: datetime
    how: str  # "resolved", "retired" or "data_gap"


@dataclass(frozen=True, slots=True)
class Replay:
    """Every resource's FRESH entries played in order: what opened, what closed, and what is open now."""

    openings: tuple[tuple[ResourceKey, datetime], ...]
    closures: tuple[Closure, ...]
    open_since: Mapping[ResourceKey, datetime]


def compute_figures(
    entries: Iterable[HistoryEntry], *, now: datetime, since: datetime | None = None, top: int = DEFAULT_TOP
) -> Figures:
    """The report's figures as of `now`; the window (counts of opened and closed, time to resolve, the
    time series) starts at `since`, or at the first recorded change when `since` is None."""
    now, since = _utc(now), _utc(since) if since is not None else None
    if since is not None and since > now:
        raise NotifierError(f"--since ({since.isoformat()}) is later than the report time ({now.isoformat()})")
    if top < 0:
        raise NotifierError(f"--top must be 0 or more, not {top}")
    entries = list(entries)
    fresh = sorted(
        (entry for entry in entries if entry.observation is Observation.FRESH and event_time(entry) <= now),
        key=lambda entry: (entry.ordering_key, entry.recorded_at),
    )
    counts = _entry_counts(entries, len(fresh))
    replay = replay_history(fresh)
    first_event = event_time(fresh[0]) if fresh else now
    window_start = since if since is not None else first_event
    open_keys = list(replay.open_since)
    return Figures(
        now=now,
        since=since,
        window_start=window_start,
        open_total=len(open_keys),
        open_by_rule=_open_counts(key.rule for key in open_keys),
        open_by_account=_open_counts(key.account for key in open_keys),
        open_by_resource_type=_open_counts(key.resource_type for key in open_keys),
        oldest_open=_oldest(replay.open_since, now, top),
        rules=_rule_figures(replay, since),
        open_over_time=_open_over_time(replay, window_start, now),
        entries=counts,
    )


def event_time(entry: HistoryEntry) -> datetime:
    """When the change happened by Config's clock: the orderingTimestamp that begins the ordering key."""
    stamp = entry.ordering_key.split("|", 1)[0]
    try:
        return _utc(datetime.fromisoformat(stamp))
    except ValueError:
        raise NotifierError(
            f"history entry of {entry.key.id} has an unreadable ordering key {entry.ordering_key!r}"
        ) from None


def replay_history(fresh: Sequence[HistoryEntry]) -> Replay:
    """`fresh` must be FRESH entries only, in ordering-key order."""
    open_since: dict[ResourceKey, datetime] = {}
    openings: list[tuple[ResourceKey, datetime]] = []
    closures: list[Closure] = []
    for entry in fresh:
        at = event_time(entry)
        opened_at = open_since.get(entry.key)
        if entry.new is Compliance.NON_COMPLIANT:
            if opened_at is None:  # NON_COMPLIANT again (a re-evaluation) keeps the violation it is in
                open_since[entry.key] = at
                openings.append((entry.key, at))
        elif opened_at is not None:
            del open_since[entry.key]
            closures.append(Closure(entry.key, opened_at, at, _CLOSED_BY.get(entry.new, "data_gap")))
    return Replay(tuple(openings), tuple(closures), open_since)


def nearest_rank(values: Sequence[timedelta], percent: int) -> timedelta:
    """The nearest-rank percentile: the smallest value that at least `percent`% of the values do not
    exceed, i.e. sorted(values)[ceil(percent/100 × n) − 1]. Always one of the values (never
    interpolated), so "90% were resolved within p90" holds exactly. `values` must not be empty."""
    ordered = sorted(values)
    rank = -(-percent * len(ordered) // 100)  # ceil in integers: no float rounding at exact multiples
    return ordered[max(rank, 1) - 1]


def mean(values: Sequence[timedelta]) -> timedelta:
    return sum(values, timedelta()) / len(values)


def _entry_counts(entries: list[HistoryEntry], fresh_until_now: int) -> EntryCounts:
    by_observation = Counter(entry.observation for entry in entries)
    return EntryCounts(
        read=len(entries),
        fresh=fresh_until_now,
        repeat=by_observation[Observation.REPEAT],
        stale=by_observation[Observation.STALE],
        after_now=by_observation[Observation.FRESH] - fresh_until_now,
    )


def _open_counts(names: Iterable[str]) -> tuple[OpenCount, ...]:
    counted = Counter(names)
    return tuple(OpenCount(name, n) for name, n in sorted(counted.items(), key=lambda item: (-item[1], item[0])))


def _oldest(open_since: Mapping[ResourceKey, datetime], now: datetime, top: int) -> tuple[OpenViolation, ...]:
    def oldest_first(item: tuple[ResourceKey, datetime]) -> tuple[datetime, str]:
        return item[1], item[0].id  # the key's id breaks ties the same way every run

    ranked = sorted(open_since.items(), key=oldest_first)[:top]
    return tuple(OpenViolation(key, opened_at, now - opened_at) for key, opened_at in ranked)


def _rule_figures(replay: Replay, since: datetime | None) -> tuple[RuleFigures, ...]:
    def in_window(at: datetime) -> bool:
        return since is None or at >= since

    open_now = Counter(key.rule for key in replay.open_since)
    opened = Counter(key.rule for key, at in replay.openings if in_window(at))
    closed = Counter((c.key.rule, c.how) for c in replay.closures if in_window(c.closed_at))
    to_resolve: dict[str, list[timedelta]] = {}
    for closure in replay.closures:
        if closure.how == "resolved" and in_window(closure.closed_at):
            to_resolve.setdefault(closure.key.rule, []).append(closure.closed_at - closure.opened_at)
    rules = set(open_now) | set(opened) | {rule for rule, _ in closed}
    figures = [
        RuleFigures(
            rule=rule,
            open=open_now[rule],
            opened=opened[rule],
            resolved=closed[rule, "resolved"],
            retired=closed[rule, "retired"],
            data_gap=closed[rule, "data_gap"],
            mean_to_resolve=mean(to_resolve[rule]) if rule in to_resolve else None,
            p90_to_resolve=nearest_rank(to_resolve[rule], P90) if rule in to_resolve else None,
        )
        for rule in rules
    ]
    return tuple(sorted(figures, key=lambda rule: (-rule.open, rule.rule)))


def _open_over_time(replay: Replay, start: datetime, now: datetime) -> tuple[SeriesPoint, ...]:
    """A step series: a point wherever the count changes, plus one at `start` and one at `now`."""
    changes: Counter[datetime] = Counter()
    for _, at in replay.openings:
        changes[at] += 1
    for closure in replay.closures:
        changes[closure.closed_at] -= 1
    running = sum(delta for at, delta in changes.items() if at <= start)
    points = [SeriesPoint(start, running)]
    for at in sorted(at for at in changes if at > start):
        running += changes[at]
        if running != points[-1].open:  # an opening and a closing at one instant cancel out: no step
            points.append(SeriesPoint(at, running))
    if points[-1].at < now:
        points.append(SeriesPoint(now, running))
    return tuple(points)


def _utc(moment: datetime) -> datetime:
    """Aware and in UTC; a naive time is taken to be UTC already (Config's own times all are)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
