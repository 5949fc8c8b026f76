"""The StateStore contract, one suite run against memory, SQLite and DynamoDB (moto `mock_aws`).

Whatever the backend, the same notifications must get the same verdicts and leave the same records:
the decisions are base.py's pure functions, only the atomicity differs (see test_state_races.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.errors import NotifierError
from notifier.state import DynamoDbState, MemoryState, SqliteState, create_table
from notifier.state.base import CLAIM_LEASE, HeldItem, Observation, ResourceKey, StateStore, ordering_key
from notifier.tickets.model import TicketRef, TicketStatus
from notifier.transition import Compliance
from tests.state_support import history_entry, notification, unique_table

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
JIRA = TicketRef("jira", "SEC-42", "10042", TicketStatus.OPEN, url="https://example.atlassian.net/browse/SEC-42")
SNOW = TicketRef("servicenow", "INC0010001", "9d385017c611228701d22104cc95c371", TicketStatus.OPEN)


@dataclass(frozen=True)
class Backend:
    store: StateStore
    reader: Callable[[], StateStore]  # the same store opened read-only
    reader_sees_writes: bool  # False for memory: a read-only MemoryState is a separate, empty store


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        yield Backend(MemoryState(), lambda: MemoryState(read_only=True), reader_sees_writes=False)
    elif request.param == "sqlite":
        path = tmp_path / "state.sqlite"
        store = SqliteState(path)
        yield Backend(store, lambda: SqliteState(path, read_only=True), reader_sees_writes=True)
        store.close()
    else:
        request.getfixturevalue("aws_credentials")
        client = request.getfixturevalue("mocked_dynamodb")
        table = unique_table()  # a table per test: nothing carries over
        create_table(client, table)
        reader = lambda: DynamoDbState(table, client=client, read_only=True)  # noqa: E731
        yield Backend(DynamoDbState(table, client=client), reader, reader_sees_writes=True)


@pytest.fixture
def store(backend: Backend) -> StateStore:
    return backend.store


# -- ordering guard -----------------------------------------------------------------------------------


def test_the_first_notification_is_fresh_and_becomes_the_record(store: StateStore) -> None:
    n = notification()
    assert store.observe(n) == (Observation.FRESH, None)
    record = store.get(ResourceKey.of(n))
    assert record is not None
    assert record.key == ResourceKey.of(n)
    assert record.ordering_key == ordering_key(n)
    assert record.compliance is Compliance.NON_COMPLIANT
    assert record.first_noncompliant_at == "2021-11-01T06:45:35.797Z"
    assert dict(record.tickets) == {}


def test_the_same_change_again_is_a_repeat_and_returns_the_stored_record(store: StateStore) -> None:
    n = notification()
    store.observe(n)
    stored = store.get(ResourceKey.of(n))
    assert store.observe(n) == (Observation.REPEAT, stored)
    assert store.get(ResourceKey.of(n)) == stored


@pytest.mark.parametrize(
    ("first", "again"),
    [
        (("2021-11-01T06:45:35Z", "2021-11-01T06:45:51Z"), ("2021-11-01T06:45:35.000Z", "2021-11-01T06:45:51.000Z")),
        (("2021-11-01T06:45:35.5Z", "2021-11-01T06:45:51Z"), ("2021-11-01T06:45:35.500+00:00", "2021-11-01T06:45:51Z")),
        (("2021-11-01T08:45:35+02:00", "2021-11-01T06:45:51Z"), ("2021-11-01T06:45:35.000Z", "2021-11-01T06:45:51Z")),
    ],
    ids=["milliseconds", "offset-notation", "other-zone"],
)
def test_one_instant_written_two_ways_is_the_same_change(
    store: StateStore, first: tuple[str, str], again: tuple[str, str]
) -> None:
    assert store.observe(notification(at=first[0], recorded=first[1]))[0] is Observation.FRESH
    assert store.observe(notification(at=again[0], recorded=again[1]))[0] is Observation.REPEAT


def test_an_older_change_is_stale_and_changes_nothing(store: StateStore) -> None:
    newer = notification(at="2021-11-01T07:00:00.000Z", compliance=Compliance.COMPLIANT)
    older = notification(at="2021-11-01T06:00:00.000Z", compliance=Compliance.NON_COMPLIANT)
    store.observe(newer)
    stored = store.get(ResourceKey.of(newer))
    assert store.observe(older) == (Observation.STALE, stored)
    assert store.get(ResourceKey.of(newer)) == stored


def test_result_recorded_time_breaks_a_tie_on_ordering_timestamp(store: StateStore) -> None:
    at = "2021-11-01T06:45:35.797Z"
    store.observe(notification(at=at, recorded="2021-11-01T06:45:51.716Z"))
    re_evaluated = notification(at=at, recorded="2021-11-01T06:50:00.000Z", compliance=Compliance.COMPLIANT)
    assert store.observe(re_evaluated)[0] is Observation.FRESH
    assert store.observe(notification(at=at, recorded="2021-11-01T06:46:00.000Z"))[0] is Observation.STALE
    record = store.get(ResourceKey.of(re_evaluated))
    assert record is not None and record.compliance is Compliance.COMPLIANT


def test_records_are_per_resource(store: StateStore) -> None:
    store.observe(notification(at="2021-11-01T07:00:00Z"))
    other = notification(at="2021-11-01T06:00:00Z", resource_id="prod1")
    assert store.observe(other) == (Observation.FRESH, None)
    assert store.get(ResourceKey.of(notification(resource_id="nobody"))) is None


def test_first_noncompliant_at_follows_violation_repeat_resolution_and_relapse(store: StateStore) -> None:
    key = ResourceKey.of(notification())
    steps = [
        ("2021-11-01T01:00:00Z", Compliance.NON_COMPLIANT, Observation.FRESH, "2021-11-01T01:00:00Z"),
        ("2021-11-01T01:00:00Z", Compliance.NON_COMPLIANT, Observation.REPEAT, "2021-11-01T01:00:00Z"),
        ("2021-11-01T02:00:00Z", Compliance.NON_COMPLIANT, Observation.FRESH, "2021-11-01T01:00:00Z"),
        ("2021-11-01T03:00:00Z", Compliance.COMPLIANT, Observation.FRESH, None),
        ("2021-11-01T04:00:00Z", Compliance.NON_COMPLIANT, Observation.FRESH, "2021-11-01T04:00:00Z"),
    ]
    for at, compliance, verdict, first in steps:
        assert store.observe(notification(at=at, compliance=compliance))[0] is verdict, at
        record = store.get(key)
        assert record is not None and record.first_noncompliant_at == first, at


# -- tickets ------------------------------------------------------------------------------------------


def test_tickets_are_set_per_destination_and_survive_observes(store: StateStore) -> None:
    key = ResourceKey.of(notification())
    store.observe(notification(at="2021-11-01T01:00:00Z"))
    store.set_ticket(key, "sec-jira", JIRA)
    store.set_ticket(key, "sec-snow", SNOW)
    verdict, before = store.observe(notification(at="2021-11-01T02:00:00Z", compliance=Compliance.COMPLIANT))
    assert verdict is Observation.FRESH
    assert before is not None and dict(before.tickets) == {"sec-jira": JIRA, "sec-snow": SNOW}

    resolved = JIRA.with_status(TicketStatus.RESOLVED, resolution="Done", at="2021-11-01T02:00:05.000000Z")
    store.set_ticket(key, "sec-jira", resolved)
    record = store.get(key)
    assert record is not None and record.compliance is Compliance.COMPLIANT
    assert dict(record.tickets) == {"sec-jira": resolved, "sec-snow": SNOW}


def test_a_ticket_keeps_every_field(store: StateStore) -> None:
    n = notification()
    full = TicketRef(
        "jira", "SEC-7", "10007", TicketStatus.CLOSED, "Won't Fix", "https://jira/browse/SEC-7", "2024-01-01"
    )
    bare = TicketRef("servicenow", "INC1", "abc", TicketStatus.RESOLVED)
    store.observe(n)
    store.set_ticket(ResourceKey.of(n), "full", full)
    store.set_ticket(ResourceKey.of(n), "bare", bare)
    record = store.get(ResourceKey.of(n))
    assert record is not None and dict(record.tickets) == {"full": full, "bare": bare}


def test_a_ticket_needs_an_observed_resource(store: StateStore) -> None:
    with pytest.raises(NotifierError, match="observe the notification before setting its ticket"):
        store.set_ticket(ResourceKey.of(notification()), "sec-jira", JIRA)


# -- delivery claims ----------------------------------------------------------------------------------


def test_only_the_first_claim_wins_and_only_completion_counts_as_delivered(store: StateStore) -> None:
    assert store.claim_delivery("change-1", "sec-jira", now=NOW)
    assert not store.claim_delivery("change-1", "sec-jira", now=NOW + timedelta(minutes=1))
    assert store.claim_delivery("change-1", "sec-email", now=NOW)  # per destination
    assert store.claim_delivery("change-2", "sec-jira", now=NOW)  # per change
    assert not store.was_delivered("change-1", "sec-jira")  # claimed is not delivered

    store.complete_delivery("change-1", "sec-jira", now=NOW + timedelta(seconds=2))
    assert store.was_delivered("change-1", "sec-jira")
    assert not store.was_delivered("change-1", "sec-email")


def test_a_completed_delivery_is_never_claimable_again(store: StateStore) -> None:
    store.claim_delivery("change-1", "sec-jira", now=NOW)
    store.complete_delivery("change-1", "sec-jira", now=NOW)
    store.release_delivery("change-1", "sec-jira")  # a late release must not undo a send
    assert store.was_delivered("change-1", "sec-jira")
    assert not store.claim_delivery("change-1", "sec-jira", now=NOW + CLAIM_LEASE * 100)


def test_a_released_claim_is_claimable_again(store: StateStore) -> None:
    store.claim_delivery("change-1", "sec-jira", now=NOW)
    store.release_delivery("change-1", "sec-jira")
    assert not store.was_delivered("change-1", "sec-jira")
    assert store.claim_delivery("change-1", "sec-jira", now=NOW + timedelta(seconds=1))
    store.release_delivery("change-9", "sec-jira")  # releasing what nobody claimed is harmless


def test_a_claim_abandoned_past_the_lease_is_claimable_again(store: StateStore) -> None:
    assert store.claim_delivery("change-1", "sec-jira", now=NOW)
    assert not store.claim_delivery("change-1", "sec-jira", now=NOW + CLAIM_LEASE - timedelta(seconds=1))
    taken_over = NOW + CLAIM_LEASE + timedelta(seconds=1)
    assert store.claim_delivery("change-1", "sec-jira", now=taken_over)
    # The takeover is a fresh claim with a fresh lease.
    assert not store.claim_delivery("change-1", "sec-jira", now=taken_over + timedelta(seconds=1))


def test_completing_without_a_claim_still_records_the_delivery(store: StateStore) -> None:
    store.complete_delivery("change-1", "sec-jira", now=NOW)
    assert store.was_delivered("change-1", "sec-jira")
    assert not store.claim_delivery("change-1", "sec-jira", now=NOW)


# -- history ------------------------------------------------------------------------------------------


def test_history_is_listed_oldest_first_per_resource_and_overall(store: StateStore) -> None:
    first = notification(at="2021-11-01T01:00:00Z")
    second = notification(at="2021-11-01T02:00:00Z", compliance=Compliance.COMPLIANT)
    elsewhere = notification(at="2021-11-01T01:30:00Z", resource_id="prod1")
    later = history_entry(second, recorded_at="2021-11-01T02:00:09.000000Z", message_id="m-2", actions={"j": "resolve"})
    earlier = history_entry(first, recorded_at="2021-11-01T02:00:10.000000Z")  # processed last, happened first
    other = history_entry(elsewhere, recorded_at="2021-11-01T01:30:05.000000Z", actions={"j": "open", "e": "none"})
    for entry in (later, earlier, other):
        store.append_history(entry)

    assert store.history(ResourceKey.of(first)) == [earlier, later]
    assert store.history(ResourceKey.of(elsewhere)) == [other]
    assert store.history() == [earlier, other, later]
    assert store.history(ResourceKey.of(notification(resource_id="nobody"))) == []


def test_history_keeps_every_entry_even_identical_ones(store: StateStore) -> None:
    entry = history_entry(notification(), recorded_at="2021-11-01T06:46:00.000000Z", message_id="m-1")
    store.append_history(entry)
    store.append_history(entry)
    assert store.history(entry.key) == [entry, entry]


# -- read-only ----------------------------------------------------------------------------------------


def test_a_read_only_store_reads_and_refuses_every_write(backend: Backend) -> None:
    n = notification()
    key = ResourceKey.of(n)
    backend.store.observe(n)
    backend.store.set_ticket(key, "sec-jira", JIRA)
    backend.store.claim_delivery("change-1", "sec-jira", now=NOW)
    backend.store.complete_delivery("change-1", "sec-jira", now=NOW)
    entry = history_entry(n, recorded_at="2021-11-01T06:46:00.000000Z")
    backend.store.append_history(entry)
    reader = backend.reader()

    later = notification(at="2030-01-01T00:00:00Z")
    writes: list[Callable[[], object]] = [
        lambda: reader.observe(later),
        lambda: reader.observe_and_hold(later, now=NOW, held=[HeldItem("g", later.content_key, {}, CLAIM_LEASE)]),
        lambda: reader.set_ticket(key, "sec-snow", SNOW),
        lambda: reader.claim_delivery("change-2", "sec-jira", now=NOW),
        lambda: reader.complete_delivery("change-2", "sec-jira", now=NOW),
        lambda: reader.release_delivery("change-1", "sec-jira"),
        lambda: reader.append_history(entry),
    ]
    for write in writes:
        with pytest.raises(NotifierError, match="read-only"):
            write()

    if backend.reader_sees_writes:
        assert reader.get(key) == backend.store.get(key)
        assert reader.was_delivered("change-1", "sec-jira")
        assert reader.history(key) == [entry]
    assert backend.store.get(key) is not None and backend.store.history() == [entry]  # nothing changed
    assert not backend.store.was_delivered("change-2", "sec-jira")
    assert backend.store.due_digests(NOW + CLAIM_LEASE * 2) == []
    reader.close()
