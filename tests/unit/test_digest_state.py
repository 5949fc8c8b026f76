"""The digest buffer (state/digest_buffer.py) in memory, SQLite and DynamoDB (moto): windows open with
the first item, a redelivered item is held once, and exactly one flusher wins a due bucket."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.state import DynamoDbState, MemoryState, SqliteState, create_table
from notifier.state.base import CLAIM_LEASE, StateStore
from notifier.state.digest_buffer import DIGEST_GRACE
from tests.state_support import dynamodb_client, serial_moto_server, unique_table

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)
AFTER = T0 + WINDOW + DIGEST_GRACE  # the first instant the T0 window is due
THREADS = 8


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "memory":
        yield MemoryState()
    elif request.param == "sqlite":
        sqlite = SqliteState(tmp_path / "state.sqlite")
        yield sqlite
        sqlite.close()
    else:
        request.getfixturevalue("aws_credentials")
        client = request.getfixturevalue("mocked_dynamodb")
        table = unique_table()
        create_table(client, table)
        yield DynamoDbState(table, client=client, page_size=3)  # small pages: pagination is exercised


def item(n: int) -> dict[str, Any]:
    return {"resource_id": f"r-{n}", "account": "111122223333", "n": n}


def test_items_wait_in_one_bucket_until_the_window_and_grace_have_passed(store: StateStore) -> None:
    for n in range(7):
        assert store.append_digest("route|dest|rule=x", f"k{n}", item(n), now=T0 + timedelta(seconds=n), window=WINDOW)

    assert store.due_digests(T0 + WINDOW) == []  # closed, but appends may still be landing
    assert store.due_digests(AFTER - timedelta(microseconds=1)) == []
    [due] = store.due_digests(AFTER)
    assert due.group == "route|dest|rule=x" and due.bucket.startswith("route|dest|rule=x@")
    assert due.opened_at == "2024-05-01T12:00:00.000000Z" and due.window_end == "2024-05-01T12:05:00.000000Z"
    assert sorted(i["n"] for i in store.digest_items(due.bucket)) == list(range(7))


def test_a_redelivered_item_is_held_once(store: StateStore) -> None:
    assert store.append_digest("g", "same-content-key", item(1), now=T0, window=WINDOW)
    assert not store.append_digest("g", "same-content-key", item(1), now=T0 + timedelta(seconds=9), window=WINDOW)
    [due] = store.due_digests(AFTER)
    assert store.digest_items(due.bucket) == [item(1)]


def test_an_item_after_the_window_opens_the_next_bucket_and_groups_stay_apart(store: StateStore) -> None:
    store.append_digest("g", "a", item(1), now=T0, window=WINDOW)
    store.append_digest("g", "b", item(2), now=T0 + WINDOW, window=WINDOW)  # the first window has just closed
    store.append_digest("other", "a", item(3), now=T0, window=WINDOW)

    due = store.due_digests(AFTER + WINDOW)
    assert [(d.group, d.opened_at[11:19]) for d in due] == [("g", "12:00:00"), ("other", "12:00:00"), ("g", "12:05:00")]
    assert [store.digest_items(d.bucket) for d in due] == [[item(1)], [item(3)], [item(2)]]


def test_claim_complete_and_release(store: StateStore) -> None:
    store.append_digest("g", "a", item(1), now=T0, window=WINDOW)
    [due] = store.due_digests(AFTER)

    assert store.claim_digest(due.bucket, now=AFTER)
    assert not store.claim_digest(due.bucket, now=AFTER)  # taken
    store.release_digest(due.bucket)  # the send failed: the next flush tries again
    assert store.claim_digest(due.bucket, now=AFTER)
    assert store.claim_digest(due.bucket, now=AFTER + CLAIM_LEASE + timedelta(seconds=1))  # the flusher died

    store.complete_digest(due.bucket)
    assert store.due_digests(AFTER + WINDOW * 10) == []
    assert store.digest_items(due.bucket) == []
    assert not store.claim_digest(due.bucket, now=AFTER)  # gone: a late flusher sends nothing
    # The group starts afresh: the same content key may be held again in a new window (a real re-send).
    assert store.append_digest("g", "a", item(1), now=AFTER, window=WINDOW)


def test_sqlite_digests_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    first = SqliteState(path)
    first.append_digest("g", "a", item(1), now=T0, window=WINDOW)
    first.close()
    second = SqliteState(path)
    second.append_digest("g", "b", item(2), now=T0 + timedelta(minutes=1), window=WINDOW)  # joins the open window
    reader = SqliteState(path, read_only=True)
    [due] = reader.due_digests(AFTER)
    assert reader.digest_items(due.bucket) == [item(1), item(2)]
    second.close()
    reader.close()


@pytest.fixture(scope="module")
def race_client() -> Iterator[Any]:
    with serial_moto_server() as url:
        yield dynamodb_client(url)


@pytest.fixture(params=["memory", "sqlite-per-thread", "dynamodb"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], StateStore]:
    if request.param == "memory":
        shared = MemoryState()
        return lambda: shared
    if request.param == "sqlite-per-thread":
        path = tmp_path / "state.sqlite"
        return lambda: SqliteState(path)
    request.getfixturevalue("aws_credentials")
    client = request.getfixturevalue("race_client")
    table = unique_table()
    create_table(client, table)
    return lambda: DynamoDbState(table, client=client)  # a store per thread: no shared window cache


def race(opener: Callable[[], StateStore], work: Callable[[int, StateStore], Any]) -> list[Any]:
    start = threading.Barrier(THREADS)

    def run(index: int) -> Any:
        store = opener()
        start.wait(timeout=10)
        return work(index, store)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def test_racing_appenders_share_one_window_and_one_flusher_wins(opener: Callable[[], StateStore]) -> None:
    # Every thread appends its own item and one common one (a redelivery racing the original).
    added = race(
        opener,
        lambda i, s: (
            s.append_digest("g", f"own-{i}", item(i), now=T0, window=WINDOW),
            s.append_digest("g", "common", item(99), now=T0, window=WINDOW),
        ),
    )
    assert all(own for own, _ in added) and sum(common for _, common in added) == 1
    inspector = opener()
    [due] = inspector.due_digests(AFTER)
    assert sorted(i["n"] for i in inspector.digest_items(due.bucket)) == [*range(THREADS), 99]

    won = race(opener, lambda _, s: s.claim_digest(due.bucket, now=AFTER))
    assert won.count(True) == 1


def test_an_empty_window_is_completed_without_sending_anything(
    aws_credentials: None, mocked_dynamodb: Any, tmp_path: Path
) -> None:
    """On DynamoDB a window is opened before the transaction that holds the item; if that notification then
    loses the ordering race, the window stays empty. The flush closes it and sends no "0 changes" digest."""
    from notifier.destinations.base import DestinationSpec
    from notifier.digests.flush import flush_due
    from notifier.digests.hold import group_key
    from notifier.digests.policy import Grouping
    from notifier.pipeline import Pipeline
    from notifier.state.dynamodb_digests import open_bucket

    table = unique_table()
    create_table(mocked_dynamodb, table)
    store = DynamoDbState(table, client=mocked_dynamodb)
    group = group_key("iam", "audit", Grouping("baseline", (("rule", "r"),), WINDOW))
    open_bucket(store, group, T0, WINDOW)
    assert [batch.group for batch in store.due_digests(AFTER)] == [group]

    audit = tmp_path / "audit.jsonl"
    spec = DestinationSpec("audit", "file", {"path": str(audit)})
    pipeline = Pipeline(None, {"audit": spec}, state=store, connect=lambda s: (_ for _ in ()).throw(AssertionError))
    flushed = flush_due(pipeline, AFTER)

    assert [(f.destination, f.items, f.action) for f in flushed] == [("audit", 0, "empty")]
    assert store.due_digests(AFTER) == [] and not audit.exists()
