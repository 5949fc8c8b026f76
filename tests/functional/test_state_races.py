"""The guards hold under real concurrency: threads released together by a barrier race on one resource,
against SQLite (a connection per thread on one file, and one connection shared), DynamoDB (moto behind
a real HTTP server, one client shared by the threads) and memory.

The assertions hold for every interleaving, so they are deterministic even though the schedule is not.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from notifier.state import DynamoDbState, MemoryState, SqliteState, create_table
from notifier.state.base import Observation, ResourceKey, ResourceRecord, StateStore, ordering_key
from notifier.transition import Compliance
from tests.state_support import (
    dynamodb_client,
    history_entry,
    notification,
    serial_moto_server,
    unique_table,
)

THREADS = 12
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T = TypeVar("T")


@dataclass(frozen=True)
class Racers:
    open_store: Callable[[], StateStore]  # called in each thread
    shared: bool  # one store for all threads (else each thread opens and closes its own)
    inspector: StateStore  # to look at the outcome

    def race(self, work: Callable[[int, StateStore], T]) -> list[T]:
        """Run work(i, store) in THREADS threads, all let go at the same instant; results in thread order."""
        start = threading.Barrier(THREADS)

        def run(index: int) -> T:
            store = self.open_store()
            try:
                start.wait(timeout=10)
                return work(index, store)
            finally:
                if not self.shared:
                    store.close()

        with ThreadPoolExecutor(THREADS) as pool:
            return list(pool.map(run, range(THREADS)))


@pytest.fixture(scope="module")
def race_client() -> Iterator[Any]:
    """One client for every DynamoDB race (the threads share it), talking to moto over HTTP."""
    with serial_moto_server() as url:
        yield dynamodb_client(url)


@pytest.fixture(params=["sqlite-per-thread", "sqlite-shared", "dynamodb", "memory"])
def racers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Racers]:
    if request.param == "sqlite-per-thread":
        path = tmp_path / "state.sqlite"
        inspector = SqliteState(path)
        yield Racers(lambda: SqliteState(path), shared=False, inspector=inspector)
        inspector.close()
    elif request.param == "sqlite-shared":
        store = SqliteState(tmp_path / "state.sqlite")
        yield Racers(lambda: store, shared=True, inspector=store)
        store.close()
    elif request.param == "dynamodb":
        client = request.getfixturevalue("race_client")
        table = unique_table()
        create_table(client, table)
        dynamo = DynamoDbState(table, client=client)
        yield Racers(lambda: dynamo, shared=True, inspector=dynamo)
    else:
        memory = MemoryState()
        yield Racers(lambda: memory, shared=True, inspector=memory)


def test_one_change_observed_by_every_thread_at_once_is_fresh_exactly_once(racers: Racers) -> None:
    n = notification()
    results = racers.race(lambda _, store: store.observe(n))

    verdicts = Counter(verdict for verdict, _ in results)
    assert verdicts == {Observation.FRESH: 1, Observation.REPEAT: THREADS - 1}
    stored = racers.inspector.get(ResourceKey.of(n))
    for verdict, before in results:
        assert before == (None if verdict is Observation.FRESH else stored)


def test_one_delivery_claimed_by_every_thread_at_once_is_won_exactly_once(racers: Racers) -> None:
    won = racers.race(lambda _, store: store.claim_delivery("change-1", "sec-jira", now=NOW))
    assert won.count(True) == 1

    # The winner's send failed: it releases, and the retries race again; again exactly one wins.
    racers.inspector.release_delivery("change-1", "sec-jira")
    won_again = racers.race(lambda _, store: store.claim_delivery("change-1", "sec-jira", now=NOW))
    assert won_again.count(True) == 1
    assert not racers.inspector.was_delivered("change-1", "sec-jira")


def test_changes_arriving_in_any_order_leave_the_newest_and_consistent_verdicts(racers: Racers) -> None:
    # Distinct instants, all NON_COMPLIANT, dealt to the threads in a shuffled order (the threads then
    # interleave however the scheduler likes: the assertions below hold for every interleaving).
    changes = [notification(at=f"2021-11-01T06:{minute:02d}:00Z") for minute in range(THREADS)]
    random.Random(20211101).shuffle(changes)
    results = racers.race(lambda index, store: store.observe(changes[index]))

    by_key: dict[str, tuple[Observation, ResourceRecord | None]] = {
        ordering_key(change): result for change, result in zip(changes, results, strict=True)
    }
    newest = max(by_key)
    assert by_key[newest][0] is Observation.FRESH  # nothing newer could have been stored before it
    assert all(verdict is not Observation.REPEAT for verdict, _ in by_key.values())  # no two are the same change

    # Each FRESH write replaced exactly the FRESH write before it: a single chain, nothing overwritten blind.
    fresh = sorted(key for key, (verdict, _) in by_key.items() if verdict is Observation.FRESH)
    replaced = [by_key[key][1] for key in fresh]
    assert replaced[0] is None
    assert [record.ordering_key for record in replaced[1:] if record is not None] == fresh[:-1]
    assert len(replaced[1:]) == len(fresh) - 1 and None not in replaced[1:]
    # A STALE one saw something newer than itself already stored.
    for key, (verdict, before) in by_key.items():
        if verdict is Observation.STALE:
            assert before is not None and before.ordering_key > key

    record = racers.inspector.get(ResourceKey.of(changes[0]))
    assert record is not None and record.ordering_key == newest and record.compliance is Compliance.NON_COMPLIANT
    # Still non-compliant since the first change ever stored: its time carried through every replacement.
    first_stored = next(c for c in changes if ordering_key(c) == fresh[0])
    assert record.first_noncompliant_at == first_stored.new.ordering_timestamp


def test_history_appended_by_every_thread_at_once_keeps_every_entry(racers: Racers) -> None:
    n = notification()
    entries = [
        history_entry(n, recorded_at=f"2021-11-01T06:46:{i:02d}.000000Z", message_id=f"m-{i}") for i in range(THREADS)
    ]
    racers.race(lambda index, store: store.append_history(entries[index]))
    assert racers.inspector.history(ResourceKey.of(n)) == entries
