"""Counted events (`record_event` / `count_events`), one suite run against memory, SQLite and DynamoDB.

They back the remediation guard's per-rule rate limit and circuit breaker, so what matters is that every
backend counts the same window the same way: inclusive at `since`, per bucket, whatever order the events
were recorded in, and never forgetting an event younger than EVENT_RETENTION.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from notifier.errors import NotifierError
from notifier.state import DynamoDbState, MemoryState, SqliteState, StateStore, create_table
from notifier.state.base import EVENT_RETENTION
from tests.state_support import unique_table

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RULE = "remediation:iam-fixer:rule:standardized-iam-policies"
ALL = "remediation:iam-fixer:all"


@dataclass(frozen=True)
class Backend:
    name: str
    store: StateStore
    reader: Callable[[], StateStore]  # the same store opened read-only


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        store = MemoryState()
        yield Backend("memory", store, lambda: MemoryState(read_only=True))
    elif request.param == "sqlite":
        path = tmp_path / "state.sqlite"
        sqlite_store = SqliteState(path)
        yield Backend("sqlite", sqlite_store, lambda: SqliteState(path, read_only=True))
        sqlite_store.close()
    else:
        request.getfixturevalue("aws_credentials")
        client = request.getfixturevalue("mocked_dynamodb")
        table = unique_table()
        create_table(client, table)
        yield Backend(
            "dynamodb", DynamoDbState(table, client=client), lambda: DynamoDbState(table, client=client, read_only=True)
        )


@pytest.fixture
def store(backend: Backend) -> StateStore:
    return backend.store


def test_an_unknown_bucket_counts_nothing(store: StateStore) -> None:
    assert store.count_events(RULE, since=T0 - timedelta(hours=1)) == 0


def test_counts_the_events_at_or_after_since(store: StateStore) -> None:
    for minutes in (0, 10, 30, 59):
        store.record_event(RULE, at=T0 + timedelta(minutes=minutes))
    assert store.count_events(RULE, since=T0 - timedelta(seconds=1)) == 4
    assert store.count_events(RULE, since=T0) == 4  # inclusive: an event exactly at `since` counts
    assert store.count_events(RULE, since=T0 + timedelta(microseconds=1)) == 3
    assert store.count_events(RULE, since=T0 + timedelta(minutes=30)) == 2
    assert store.count_events(RULE, since=T0 + timedelta(hours=1)) == 0


def test_two_events_at_the_same_instant_are_two(store: StateStore) -> None:
    store.record_event(ALL, at=T0)
    store.record_event(ALL, at=T0)
    assert store.count_events(ALL, since=T0) == 2


def test_buckets_are_counted_apart(store: StateStore) -> None:
    store.record_event(RULE, at=T0)
    store.record_event(ALL, at=T0)
    store.record_event(ALL, at=T0 + timedelta(minutes=1))
    assert store.count_events(RULE, since=T0) == 1
    assert store.count_events(ALL, since=T0) == 2
    assert store.count_events("remediation:other:all", since=T0) == 0


def test_events_recorded_out_of_order_count_by_their_own_time(store: StateStore) -> None:
    store.record_event(RULE, at=T0 + timedelta(minutes=50))
    store.record_event(RULE, at=T0)
    store.record_event(RULE, at=T0 + timedelta(minutes=20))
    assert store.count_events(RULE, since=T0 + timedelta(minutes=15)) == 2


def test_times_in_other_zones_and_naive_times_are_the_same_instants(store: StateStore) -> None:
    store.record_event(RULE, at=datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))))  # 12:00 UTC
    store.record_event(RULE, at=datetime(2024, 5, 1, 12, 30))  # naive: taken as UTC
    assert store.count_events(RULE, since=T0) == 2
    assert store.count_events(RULE, since=T0 + timedelta(minutes=1)) == 1


def test_an_event_younger_than_the_retention_is_never_forgotten(store: StateStore) -> None:
    store.record_event(ALL, at=T0)
    store.record_event(ALL, at=T0 + EVENT_RETENTION - timedelta(seconds=1))  # recording may prune older ones
    assert store.count_events(ALL, since=T0) == 2


def test_a_read_only_store_counts_and_refuses_to_record(backend: Backend) -> None:
    backend.store.record_event(RULE, at=T0)
    reader = backend.reader()
    # A read-only MemoryState is a separate, empty store; the others read the same file or table.
    assert reader.count_events(RULE, since=T0) == (0 if backend.name == "memory" else 1)
    with pytest.raises(NotifierError, match="read-only"):
        reader.record_event(RULE, at=T0)


# -- backend specifics --------------------------------------------------------------------------------


def test_memory_and_sqlite_prune_a_bucket_when_it_is_written(tmp_path: Path) -> None:
    for store in (MemoryState(), SqliteState(tmp_path / "state.sqlite")):
        store.record_event(RULE, at=T0)
        store.record_event(ALL, at=T0)
        store.record_event(RULE, at=T0 + EVENT_RETENTION + timedelta(seconds=1))
        assert store.count_events(RULE, since=T0 - timedelta(days=30)) == 1, type(store).__name__
        assert store.count_events(ALL, since=T0 - timedelta(days=30)) == 1, type(store).__name__  # not written


def test_sqlite_processes_sharing_a_file_count_each_others_events(tmp_path: Path) -> None:
    first, second = SqliteState(tmp_path / "state.sqlite"), SqliteState(tmp_path / "state.sqlite")
    first.record_event(ALL, at=T0)
    second.record_event(ALL, at=T0 + timedelta(minutes=1))
    assert first.count_events(ALL, since=T0) == second.count_events(ALL, since=T0) == 2


def test_a_state_file_from_before_events_reads_as_no_events(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    SqliteState(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE events")
    assert SqliteState(path, read_only=True).count_events(ALL, since=T0) == 0
    upgraded = SqliteState(path)  # opening it for writing adds the table
    upgraded.record_event(ALL, at=T0)
    assert upgraded.count_events(ALL, since=T0) == 1


@pytest.mark.usefixtures("aws_credentials")
def test_dynamodb_event_items_expire_after_the_retention_and_counts_follow_pages(mocked_dynamodb: Any) -> None:
    table = unique_table()
    create_table(mocked_dynamodb, table)
    store = DynamoDbState(table, client=mocked_dynamodb, page_size=2)
    for minutes in range(5):
        store.record_event(ALL, at=T0 + timedelta(minutes=minutes))
    assert store.count_events(ALL, since=T0) == 5  # three pages of two
    items = mocked_dynamodb.scan(TableName=table)["Items"]
    assert len(items) == 5
    first = min(items, key=lambda item: item["sk"]["S"])
    assert first["pk"]["S"] == f"EVT#{ALL}"
    assert first["sk"]["S"].startswith("2024-05-01T12:00:00.000000Z#")
    assert int(first["expires_at"]["N"]) == int((T0 + EVENT_RETENTION).timestamp())
