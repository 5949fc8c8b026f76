"""The report's figures on a hand-built history whose every figure was worked out by hand (below).

Time is counted in hours from T0 = 2024-03-01T00:00Z; the report is as of 240 h (2024-03-11T00:00Z).

    iam-policy (AWS::IAM::User)
      u1 acct A  NONE→NC 0h, NC→C 10h (resolved in 10h), C→NC 50h (open; a REPEAT of it is ignored)
      u2 acct B  C→NC 20h, NC→C 60h (resolved in 40h)
      u3 acct A  C→NC 30h, NC→NA 100h (retired: not a resolution)
      u4 acct A  NONE→NC 120h, NC→NC 130h (same violation), NC→C 200h (resolved in 80h);
                 a STALE C→NC at 110h that arrived late is ignored
      u9 acct B  NC→C 15h with no opening in the history: not counted as a resolution
    s3-encryption (AWS::S3::Bucket)
      b1 acct B  NONE→NC 5h, NC→C 6h (1h), C→NC 150h (open)
      b2 acct B  C→NC 40h, NC→INSUFFICIENT_DATA 70h (data gap), INSUFFICIENT_DATA→NC 90h (open)
      b3 acct A  C→NC 80h, NC→C 82h (2h)
    log-retention (AWS::Logs::LogGroup)
      g1 acct A  NONE→C 0h (benign), C→NC 210h (open)
      g2 acct B  C→NC 230h (open), NC→C 250h (after the report time: ignored)
    mfa-enabled  m1 acct A  NONE→C 100h (never violated: not among the rules)

    iam-policy to resolve: 10h, 40h, 80h -> mean 43h20m = 156000 s; nearest-rank p90: ceil(0.9×3) = 3rd -> 80h
    s3-encryption:         1h, 2h       -> mean 1h30m  =   5400 s; p90: ceil(0.9×2) = 2nd -> 2h

    open count after each change: 0h 1, 5h 2, 6h 1, 10h 0, 20h 1, 30h 2, 40h 3, 50h 4, 60h 3, 70h 2,
    80h 3, 82h 2, 90h 3, 100h 2, 120h 3, 150h 4, 200h 3, 210h 4, 230h 5, and 5 at 240h.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from notifier.errors import NotifierError
from notifier.report import compute_figures, nearest_rank
from notifier.report.html import human_duration
from notifier.report.model import OpenCount, SeriesPoint
from notifier.report.svg_chart import chart_of, time_ticks
from notifier.state.base import HistoryEntry, Observation, ResourceKey
from notifier.transition import Compliance, transition_kind

T0 = datetime(2024, 3, 1, tzinfo=UTC)
NOW = T0 + timedelta(hours=240)
A, B = "111111111111", "222222222222"
IAM, S3, LOGS = "AWS::IAM::User", "AWS::S3::Bucket", "AWS::Logs::LogGroup"
NONE, C, NC = Compliance.NONE, Compliance.COMPLIANT, Compliance.NON_COMPLIANT
NA, ID = Compliance.NOT_APPLICABLE, Compliance.INSUFFICIENT_DATA


def at(h: float) -> datetime:
    return T0 + timedelta(hours=h)


def key(rule: str, account: str, resource_type: str, resource_id: str) -> ResourceKey:
    return ResourceKey(account, "eu-west-1", rule, resource_type, resource_id)


U1, U2, U3, U4, U9 = (
    key("iam-policy", acct, IAM, rid) for acct, rid in ((A, "u1"), (B, "u2"), (A, "u3"), (A, "u4"), (B, "u9"))
)
B1, B2, B3 = (key("s3-encryption", acct, S3, rid) for acct, rid in ((B, "b1"), (B, "b2"), (A, "b3")))
G1, G2 = key("log-retention", A, LOGS, "g1"), key("log-retention", B, LOGS, "g2")
M1 = key("mfa-enabled", A, IAM, "m1")


def entry(
    resource: ResourceKey, when: float, old: Compliance, new: Compliance, seen: Observation = Observation.FRESH
) -> HistoryEntry:
    """A change `when` hours after T0."""
    stamp = at(when).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return HistoryEntry(
        key=resource,
        ordering_key=f"{stamp}|{stamp}",  # orderingTimestamp|resultRecordedTime, as state.base.ordering_key()
        old=old,
        new=new,
        kind=transition_kind(old, new).value,
        observation=seen,
        message_id=None,
        # Processed in the reverse order of the changes (a backlog drained newest first): the figures must
        # go by the Config time, never by recorded_at.
        recorded_at=at(1000 - when).isoformat(timespec="milliseconds"),
    )


HISTORY = [
    entry(U1, 0, NONE, NC), entry(U1, 10, NC, C), entry(U1, 50, C, NC), entry(U1, 50, C, NC, Observation.REPEAT),
    entry(U2, 20, C, NC), entry(U2, 60, NC, C),
    entry(U3, 30, C, NC), entry(U3, 100, NC, NA),
    entry(U4, 120, NONE, NC), entry(U4, 130, NC, NC), entry(U4, 200, NC, C), entry(U4, 110, C, NC, Observation.STALE),
    entry(U9, 15, NC, C),
    entry(B1, 5, NONE, NC), entry(B1, 6, NC, C), entry(B1, 150, C, NC),
    entry(B2, 40, C, NC), entry(B2, 70, NC, ID), entry(B2, 90, ID, NC),
    entry(B3, 80, C, NC), entry(B3, 82, NC, C),
    entry(G1, 0, NONE, C), entry(G1, 210, C, NC),
    entry(G2, 230, C, NC), entry(G2, 250, NC, C),
    entry(M1, 100, NONE, C),
]  # fmt: skip


def shuffled(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    """The figures must not depend on the order a backend returns entries in."""
    copy = list(entries)
    random.Random(8).shuffle(copy)
    return copy


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def test_open_violations_by_rule_account_and_resource_type() -> None:
    figures = compute_figures(shuffled(HISTORY), now=NOW)
    assert figures.open_total == 5
    assert figures.open_by_rule == (
        OpenCount("log-retention", 2),
        OpenCount("s3-encryption", 2),
        OpenCount("iam-policy", 1),
    )
    assert figures.open_by_account == (OpenCount(B, 3), OpenCount(A, 2))
    assert figures.open_by_resource_type == (OpenCount(LOGS, 2), OpenCount(S3, 2), OpenCount(IAM, 1))


def test_oldest_open_are_ranked_by_when_they_opened_with_their_age() -> None:
    figures = compute_figures(shuffled(HISTORY), now=NOW, top=3)
    oldest = [(v.key, v.opened_at, v.age) for v in figures.oldest_open]
    # u1 reopened at 50h (its first violation was resolved); b2's second violation opened at 90h.
    assert oldest == [(U1, at(50), hours(190)), (B2, at(90), hours(150)), (B1, at(150), hours(90))]
    everything = compute_figures(HISTORY, now=NOW)
    assert [v.key for v in everything.oldest_open] == [U1, B2, B1, G1, G2]


def test_time_to_resolve_per_rule_mean_and_nearest_rank_p90() -> None:
    rules = {rule.rule: rule for rule in compute_figures(shuffled(HISTORY), now=NOW).rules}
    assert list(rules) == ["log-retention", "s3-encryption", "iam-policy"]  # most open first, then by name
    iam, s3, logs = rules["iam-policy"], rules["s3-encryption"], rules["log-retention"]
    assert (iam.open, iam.opened, iam.resolved, iam.retired, iam.data_gap) == (1, 5, 3, 1, 0)
    assert (iam.mean_to_resolve, iam.p90_to_resolve) == (timedelta(seconds=156000), hours(80))
    assert (s3.open, s3.opened, s3.resolved, s3.retired, s3.data_gap) == (2, 5, 2, 0, 1)
    assert (s3.mean_to_resolve, s3.p90_to_resolve) == (timedelta(seconds=5400), hours(2))
    assert (logs.open, logs.opened, logs.resolved, logs.mean_to_resolve, logs.p90_to_resolve) == (2, 2, 0, None, None)
    assert "mfa-enabled" not in rules


def test_open_over_time_is_a_step_series_from_the_first_change_to_now() -> None:
    figures = compute_figures(shuffled(HISTORY), now=NOW)
    assert figures.window_start == T0
    steps = [(0, 1), (5, 2), (6, 1), (10, 0), (20, 1), (30, 2), (40, 3), (50, 4), (60, 3), (70, 2), (80, 3),
             (82, 2), (90, 3), (100, 2), (120, 3), (150, 4), (200, 3), (210, 4), (230, 5), (240, 5)]  # fmt: skip
    assert [(p.at, p.open) for p in figures.open_over_time] == [(at(h), n) for h, n in steps]


def test_repeats_stale_and_future_entries_are_counted_and_ignored() -> None:
    entries = compute_figures(HISTORY, now=NOW).entries
    assert (entries.read, entries.fresh, entries.repeat, entries.stale, entries.after_now) == (26, 23, 1, 1, 1)


def test_since_narrows_the_window_but_not_what_is_open() -> None:
    figures = compute_figures(shuffled(HISTORY), now=NOW, since=at(100))
    assert (figures.since, figures.window_start, figures.open_total) == (at(100), at(100), 5)
    assert [v.key for v in figures.oldest_open] == [U1, B2, B1, G1, G2]  # opened before the window: still open
    rules = {rule.rule: rule for rule in figures.rules}
    iam = rules["iam-policy"]  # u3 retired at 100h (the window is inclusive), u4 opened 120h, resolved 200h
    assert (iam.open, iam.opened, iam.resolved, iam.retired, iam.mean_to_resolve, iam.p90_to_resolve) == (
        1, 1, 1, 1, hours(80), hours(80),
    )  # fmt: skip
    s3 = rules["s3-encryption"]
    assert (s3.open, s3.opened, s3.resolved, s3.data_gap, s3.mean_to_resolve) == (2, 1, 0, 0, None)
    steps = [(100, 2), (120, 3), (150, 4), (200, 3), (210, 4), (230, 5), (240, 5)]
    assert [(p.at, p.open) for p in figures.open_over_time] == [(at(h), n) for h, n in steps]


def test_a_past_now_reports_the_estate_as_it_was_then() -> None:
    figures = compute_figures(shuffled(HISTORY), now=at(100))
    assert [(v.key, v.age) for v in figures.oldest_open] == [(U1, hours(50)), (B2, hours(10))]
    assert figures.entries.after_now == 7  # u4 ×3, b1 at 150h, g1 at 210h, g2 ×2
    assert figures.open_over_time[-1] == SeriesPoint(at(100), 2)


def test_the_json_form() -> None:
    document = compute_figures(shuffled(HISTORY), now=NOW, top=1).to_json()
    assert set(document) == {
        "report_version", "now", "since", "window_start", "open_total", "open_by_rule", "open_by_account",
        "open_by_resource_type", "oldest_open", "rules", "open_over_time", "entries",
    }  # fmt: skip
    assert (document["now"], document["since"], document["window_start"]) == (
        "2024-03-11T00:00:00.000Z", None, "2024-03-01T00:00:00.000Z",
    )  # fmt: skip
    assert document["open_by_account"] == [{"account": B, "open": 3}, {"account": A, "open": 2}]
    assert document["oldest_open"] == [
        {"account": A, "region": "eu-west-1", "rule": "iam-policy", "resource_type": IAM, "resource_id": "u1",
         "opened_at": "2024-03-03T02:00:00.000Z", "age_seconds": 684000.0},
    ]  # fmt: skip
    assert document["rules"][2] == {
        "rule": "iam-policy", "open": 1, "opened": 5, "resolved": 3, "retired": 1, "data_gap": 0,
        "mean_seconds_to_resolve": 156000.0, "p90_seconds_to_resolve": 288000.0,
    }  # fmt: skip
    assert document["rules"][0]["mean_seconds_to_resolve"] is None
    assert document["open_over_time"][:2] == [
        {"at": "2024-03-01T00:00:00.000Z", "open": 1},
        {"at": "2024-03-01T05:00:00.000Z", "open": 2},
    ]
    assert document["entries"] == {"read": 26, "fresh": 23, "repeat": 1, "stale": 1, "after_now": 1}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([7], 7),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 9),  # ceil(9.0) = 9th: exact multiples stay exact (no float error)
        ([11, 1, 10, 2, 9, 3, 8, 4, 7, 5, 6], 10),  # unsorted; ceil(9.9) = 10th
        (list(range(1, 21)), 18),
        ([1, 100], 100),
    ],
)
def test_nearest_rank_p90(values: list[int], expected: int) -> None:
    assert nearest_rank([hours(v) for v in values], 90) == hours(expected)


def test_an_empty_history() -> None:
    figures = compute_figures([], now=NOW)
    assert (figures.open_total, figures.rules, figures.oldest_open, figures.window_start) == (0, (), (), NOW)
    assert [(p.at, p.open) for p in figures.open_over_time] == [(NOW, 0)]
    assert chart_of(figures.open_over_time).x_ticks  # a one-instant series still gets a drawable hour


def test_bad_arguments_and_entries_are_refused_with_a_reason() -> None:
    with pytest.raises(NotifierError, match="later than the report time"):
        compute_figures(HISTORY, now=T0, since=NOW)
    unreadable = HistoryEntry(U1, "yesterday|", NONE, NC, "first_violation", Observation.FRESH, None, "x")
    with pytest.raises(NotifierError, match=r"unreadable ordering key 'yesterday\|'"):
        compute_figures([unreadable], now=NOW)


def test_chart_geometry_spans_the_plot_area() -> None:
    chart = chart_of(compute_figures(HISTORY, now=NOW).open_over_time)
    assert chart.line.startswith(f"M{chart.left} ") and chart.line.count("H") == 19
    assert chart.line.endswith(f"H{chart.right} V{chart.top}")  # 5 open at the end: the top of a 0..5 axis
    assert [tick.label for tick in chart.y_ticks] == ["0", "1", "2", "3", "4", "5"]
    assert chart.y_ticks[0].position == chart.bottom
    assert len(chart.markers) == 20 and chart.markers[-1].label == "2024-03-11 00:00 UTC: 5 open"
    # Ten days: a tick every two days, on round dates.
    assert [label for _, label in time_ticks(T0, NOW)] == [
        "2024-03-02",
        "2024-03-04",
        "2024-03-06",
        "2024-03-08",
        "2024-03-10",
    ]


def test_time_ticks_for_short_and_long_spans() -> None:
    assert [label for _, label in time_ticks(at(0.5), at(5))] == [
        "03-01 01:00",
        "03-01 02:00",
        "03-01 03:00",
        "03-01 04:00",
        "03-01 05:00",
    ]
    weekly = [moment.strftime("%a") for moment, _ in time_ticks(T0, T0 + timedelta(days=40))]
    assert set(weekly) == {"Mon"} and len(weekly) == 6
    monthly = [label for _, label in time_ticks(T0, T0 + timedelta(days=365))]
    assert monthly == ["2024-03", "2024-05", "2024-07", "2024-09", "2024-11", "2025-01", "2025-03"]  # 2024 is leap


@pytest.mark.parametrize(
    ("duration", "text"),
    [(None, "—"), (timedelta(seconds=40), "40s"), (timedelta(minutes=12), "12m"),
     (hours(5) + timedelta(minutes=7), "5h 07m"), (timedelta(seconds=156000), "1d 19h")],
)  # fmt: skip
def test_durations_read_in_two_units(duration: timedelta | None, text: str) -> None:
    assert human_duration(duration) == text
