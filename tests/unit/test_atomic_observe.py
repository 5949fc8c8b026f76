"""`StateStore.observe_and_hold` on memory, SQLite and DynamoDB (moto): the record, the held digest items
and the history entry are stored together or not at all, and only for a FRESH notification.

Writes are counted where the backend can say: SQLite's rows changed (`total_changes`), DynamoDB's write
requests (a botocore hook). Memory is checked by what it holds.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.app import build_pipeline
from notifier.envelopes import InboundMessage
from notifier.errors import NotifierError
from notifier.notification import ComplianceNotification
from notifier.outcome import Outcome
from notifier.pipeline import Pipeline
from notifier.routing.config import parse_config
from notifier.state import DynamoDbState, MemoryState, SqliteState, create_table
from notifier.state.base import HeldItem, HistoryEntry, Observation, Observed, ResourceKey, StateStore
from notifier.state.digest_buffer import DIGEST_GRACE
from tests.conftest import compliance_message
from tests.state_support import dynamodb_client, history_entry, notification, serial_moto_server, unique_table

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)
LATER = T0 + WINDOW + DIGEST_GRACE  # every window opened at T0 is due
GROUPS = ("new-rule|sec-email", "new-rule|audit")
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


@dataclass
class Backend:
    name: str
    store: StateStore
    writes: Callable[[], int] | None  # SQLite rows / DynamoDB write requests so far; None for memory


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        yield Backend("memory", MemoryState(), None)
    elif request.param == "sqlite":
        sqlite = SqliteState(tmp_path / "state.sqlite")
        yield Backend("sqlite", sqlite, lambda: sqlite.connection.total_changes)
        sqlite.close()
    else:
        request.getfixturevalue("aws_credentials")
        client = request.getfixturevalue("mocked_dynamodb")
        table = unique_table()
        create_table(client, table)
        with counting_writes(client) as requests:
            yield Backend("dynamodb", DynamoDbState(table, client=client), lambda: sum(requests.values()))


@pytest.fixture
def store(backend: Backend) -> StateStore:
    return backend.store


@contextmanager
def counting_writes(client: Any) -> Iterator[Counter[str]]:
    """The DynamoDB write requests a client sends while inside, by operation."""
    requests: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        if model.name in DYNAMODB_WRITES:
            requests[model.name] += 1

    client.meta.events.register("before-call.dynamodb", count, unique_id="count-writes")
    try:
        yield requests
    finally:
        client.meta.events.unregister("before-call.dynamodb", unique_id="count-writes")


def held(n: ComplianceNotification, *groups: str, item: dict[str, Any] | None = None) -> tuple[HeldItem, ...]:
    body = item if item is not None else {"resource_id": n.resource_id, "ordering_timestamp": n.new.ordering_timestamp}
    return tuple(HeldItem(group, n.content_key, body, WINDOW) for group in groups)


def entry(n: ComplianceNotification) -> HistoryEntry:
    return history_entry(n, recorded_at="2024-05-01T12:00:00.000", actions={"sec-email": "digested"})


def digests(store: StateStore, *, due: datetime = LATER) -> dict[str, list[dict[str, Any]]]:
    """Every held item, by group (of the windows due by `due`)."""
    return {batch.group: store.digest_items(batch.bucket) for batch in store.due_digests(due)}


def unchanged_writes(backend: Backend, action: Callable[[], object]) -> None:
    before = backend.writes() if backend.writes else None
    action()
    if backend.writes is not None:
        assert backend.writes() == before, "wrote to the store"


# -- every backend -------------------------------------------------------------------------------------


def test_a_fresh_notification_is_stored_with_its_held_items_and_its_history(store: StateStore) -> None:
    n = notification()
    observed = store.observe_and_hold(n, now=T0, held=held(n, *GROUPS), history=entry(n))

    assert observed == Observed(Observation.FRESH, None, (True, True), history_written=True)
    record = store.get(ResourceKey.of(n))
    assert record is not None and record.ordering_key == entry(n).ordering_key
    item = {"resource_id": n.resource_id, "ordering_timestamp": n.new.ordering_timestamp}
    assert digests(store) == {GROUPS[0]: [item], GROUPS[1]: [item]}
    assert store.history() == [entry(n)]


def test_without_items_the_history_still_goes_with_the_record(store: StateStore) -> None:
    n = notification()  # every destination `baseline:none`: nothing to hold, the actions known
    assert store.observe_and_hold(n, now=T0, history=entry(n)) == Observed(Observation.FRESH, None, (), True)
    assert store.get(ResourceKey.of(n)) is not None and store.history() == [entry(n)]
    assert digests(store) == {}


def test_a_redelivery_writes_nothing_and_reports_its_items_held_already(backend: Backend) -> None:
    store, n = backend.store, notification()
    store.observe_and_hold(n, now=T0, held=held(n, *GROUPS), history=entry(n))
    stored = store.get(ResourceKey.of(n))

    again: list[Observed] = []
    unchanged_writes(backend, lambda: again.append(
        store.observe_and_hold(n, now=T0 + timedelta(minutes=1), held=held(n, *GROUPS), history=entry(n))
    ))  # fmt: skip
    assert again == [Observed(Observation.REPEAT, stored, (False, False), history_written=False)]
    assert [len(items) for items in digests(store).values()] == [1, 1]
    assert store.history() == [entry(n)]  # the caller appends the REPEAT's own entry, worded as it was


def test_a_redelivery_after_its_digest_went_out_is_not_held_again(store: StateStore) -> None:
    n = notification()
    store.observe_and_hold(n, now=T0, held=held(n, GROUPS[0]))
    [batch] = store.due_digests(LATER)
    assert store.claim_digest(batch.bucket, now=LATER)
    store.complete_digest(batch.bucket)  # sent

    again = store.observe_and_hold(n, now=LATER, held=held(n, GROUPS[0]))
    assert again.verdict is Observation.REPEAT and again.added == (False,)
    assert digests(store, due=LATER + WINDOW * 2) == {}  # no second window holding it twice


def test_a_stale_notification_writes_nothing(backend: Backend) -> None:
    store = backend.store
    newer, older = notification(at="2021-11-01T07:00:00Z"), notification(at="2021-11-01T06:00:00Z")
    store.observe_and_hold(newer, now=T0)
    stored = store.get(ResourceKey.of(newer))

    stale: list[Observed] = []
    unchanged_writes(backend, lambda: stale.append(
        store.observe_and_hold(older, now=T0, held=held(older, *GROUPS), history=entry(older))
    ))  # fmt: skip
    assert stale == [Observed(Observation.STALE, stored, (False, False), history_written=False)]
    assert store.get(ResourceKey.of(newer)) == stored and digests(store) == {} and store.history() == []


def test_a_fresh_re_evaluation_of_a_held_change_adds_only_what_is_missing(store: StateStore) -> None:
    # Config re-evaluated the same change: same orderingTimestamp (same content key), later recorded time.
    first = notification(recorded="2021-11-01T06:45:51.716Z")
    again = notification(recorded="2021-11-01T06:50:00.000Z")
    assert first.content_key == again.content_key
    store.observe_and_hold(first, now=T0, held=held(first, GROUPS[0]))

    observed = store.observe_and_hold(again, now=T0, held=held(again, *GROUPS), history=entry(again))
    assert observed.verdict is Observation.FRESH and observed.added == (False, True)
    assert observed.history_written is False  # its actions would say `digested` for both: the caller words it
    assert store.history() == []
    record = store.get(ResourceKey.of(again))
    assert record is not None and record.ordering_key == entry(again).ordering_key
    assert [len(items) for items in digests(store).values()] == [1, 1]


def test_an_item_that_cannot_be_stored_leaves_neither_record_nor_items_nor_history(backend: Backend) -> None:
    store, n = backend.store, notification()
    good, bad = held(n, GROUPS[0])[0], held(n, GROUPS[1], item={"at": T0})[0]  # a datetime: not JSON
    with pytest.raises(TypeError):
        store.observe_and_hold(n, now=T0, held=(good, bad), history=entry(n))

    assert store.get(ResourceKey.of(n)) is None
    assert digests(store) == {} and store.history() == []
    # Nothing half-done stands in the way: the same notification, stored properly, is FRESH.
    assert store.observe_and_hold(n, now=T0, held=(good,)).verdict is Observation.FRESH


def test_one_window_per_group_holds_every_notification_of_a_storm(store: StateStore) -> None:
    for index in range(5):
        n = notification(resource_id=f"log-group-{index}")
        observed = store.observe_and_hold(n, now=T0 + timedelta(seconds=index), held=held(n, *GROUPS))
        assert observed.added == (True, True)
    assert sorted((group, len(items)) for group, items in digests(store).items()) == [(GROUPS[1], 5), (GROUPS[0], 5)]


# -- DynamoDB: one request, and what a cancelled transaction means ----------------------------------------


@pytest.fixture
def dynamodb(aws_credentials: None, mocked_dynamodb: Any) -> tuple[Any, str]:
    table = unique_table()
    create_table(mocked_dynamodb, table)
    return mocked_dynamodb, table


def test_on_dynamodb_a_held_notification_is_one_transaction_once_its_windows_are_open(
    dynamodb: tuple[Any, str],
) -> None:
    client, table = dynamodb
    store = DynamoDbState(table, client=client)
    first, second = notification(resource_id="log-group-1"), notification(resource_id="log-group-2")
    with counting_writes(client) as requests:
        store.observe_and_hold(first, now=T0, held=held(first, *GROUPS), history=entry(first))
    assert requests == {"TransactWriteItems": 3}  # each group's window (CURRENT + head), then the notification
    with counting_writes(client) as requests:
        store.observe_and_hold(second, now=T0, held=held(second, *GROUPS), history=entry(second))
    assert requests == {"TransactWriteItems": 1}


def test_on_dynamodb_a_transaction_refused_half_way_leaves_nothing(dynamodb: tuple[Any, str]) -> None:
    """DynamoDB applies the record's update, then refuses an item (over 400 KB): the transaction as a
    whole is refused and the record is as it was: the items and the record are one write."""
    client, table = dynamodb
    store = DynamoDbState(table, client=client)
    n = notification()
    too_big = held(n, GROUPS[1], item={"annotation": "x" * 410_000})[0]
    with pytest.raises(NotifierError, match="transact_write_items"):
        store.observe_and_hold(n, now=T0, held=(held(n, GROUPS[0])[0], too_big), history=entry(n))
    assert store.get(ResourceKey.of(n)) is None and store.history() == []
    assert all(store.digest_items(batch.bucket) == [] for batch in store.due_digests(LATER))


@pytest.mark.parametrize(("theirs_at", "ours_verdict"), [("07:00", Observation.STALE), ("05:00", Observation.FRESH)])
def test_on_dynamodb_a_lost_record_race_is_judged_again(
    dynamodb: tuple[Any, str], theirs_at: str, ours_verdict: Observation
) -> None:
    client, table = dynamodb
    store, racer = DynamoDbState(table, client=client), DynamoDbState(table, client=client)
    mine, theirs = notification(at="2021-11-01T06:00:00Z"), notification(at=f"2021-11-01T{theirs_at}:00Z")
    raced: list[bool] = []

    def racer_first(**_: Any) -> None:  # theirs is stored after our read, before our first write
        if not raced:
            raced.append(True)
            racer.observe(theirs)

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", racer_first, unique_id="race")
    try:
        observed = store.observe_and_hold(mine, now=T0, held=held(mine, GROUPS[0]), history=entry(mine))
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="race")
    assert raced and observed.verdict is ours_verdict
    assert observed.before is not None and observed.before.ordering_key == entry(theirs).ordering_key
    held_now = [item for items in digests(store).values() for item in items]
    assert len(held_now) == (1 if ours_verdict is Observation.FRESH else 0)
    assert store.history() == ([entry(mine)] if ours_verdict is Observation.FRESH else [])


def test_on_dynamodb_a_transaction_conflict_is_judged_again(dynamodb: tuple[Any, str]) -> None:
    client, table = dynamodb
    conflicted = ConflictOnce(client)
    store = DynamoDbState(table, client=conflicted)
    n = notification()
    observed = store.observe_and_hold(n, now=T0, held=held(n, GROUPS[0]), history=entry(n))
    assert conflicted.conflicts == 1 and observed == Observed(Observation.FRESH, None, (True,), True)
    assert store.history() == [entry(n)]


class ConflictOnce:
    """A client whose first notification transaction is cancelled with TransactionConflict, as DynamoDB
    answers when another transaction is writing one of the same items at that moment."""

    def __init__(self, client: Any) -> None:
        self._client, self.conflicts = client, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **request: Any) -> Any:
        items = request["TransactItems"]
        if self.conflicts == 0 and "Update" in items[0]:  # the notification's, not a window's opening
            from botocore.exceptions import ClientError

            self.conflicts += 1
            reasons = [{"Code": "TransactionConflict"}, *({"Code": "None"} for _ in items[1:])]
            error = {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}
            raise ClientError({"Error": error, "CancellationReasons": reasons}, "TransactWriteItems")
        return self._client.transact_write_items(**request)


def test_on_dynamodb_more_items_than_one_transaction_takes_are_held_one_by_one(dynamodb: tuple[Any, str]) -> None:
    client, table = dynamodb
    store = DynamoDbState(table, client=client)
    n = notification()
    many = held(n, *(f"route|destination-{index:03d}" for index in range(99)))
    observed = store.observe_and_hold(n, now=T0, held=many, history=entry(n))
    assert observed.verdict is Observation.FRESH and observed.added == (True,) * 99
    assert observed.history_written is False  # not atomic any more: left to the caller
    assert store.get(ResourceKey.of(n)) is not None and len(digests(store)) == 99


# -- through the pipeline (SQLite, two file destinations) -------------------------------------------------

PIPELINE_CONFIG = """
destinations:
  audit: {{type: file, path: '{audit}'}}
  archive: {{type: file, path: '{archive}'}}
routes:
  - name: new-rule                 # baseline mode (the default): first evaluations are held
    match: {{transition: [first_violation]}}
    destinations: [audit]
    continue: {mixed}
  - name: at-once
    match: {{transition: [first_violation]}}
    baseline: false
    destinations: [archive]
"""


@dataclass
class World:
    pipeline: Pipeline
    state: SqliteState
    commits: list[str]

    def process(self, *, send: bool = True) -> Outcome:
        body = compliance_message("ComplianceChangeNotification__02_")
        body["oldEvaluationResult"] = None  # a first evaluation: NONE -> NON_COMPLIANT
        return self.pipeline.process(InboundMessage("config", "$", body, message_id="m-1"), send=send)


@pytest.fixture
def world_of(tmp_path: Path) -> Iterator[Callable[[bool], World]]:
    """A pipeline on a SQLite store whose committed transactions are listed; `mixed`: one destination is
    sent to at once, the other held."""
    opened: list[SqliteState] = []

    def world(mixed: bool) -> World:
        paths = {"audit": tmp_path / "audit.jsonl", "archive": tmp_path / "archive.jsonl"}
        config = parse_config(PIPELINE_CONFIG.format(**paths, mixed=str(mixed).lower()), "routes.yml", tmp_path)
        state = SqliteState(tmp_path / "state.sqlite")
        opened.append(state)
        commits: list[str] = []

        def committed(statement: str) -> None:
            if statement == "COMMIT":
                commits.append(statement)

        state.connection.set_trace_callback(committed)
        pipeline = build_pipeline(config, state=state)
        pipeline.clock = lambda: T0
        return World(pipeline, state, commits)

    yield world
    for state in opened:
        state.close()


def test_a_held_first_evaluation_is_one_transaction_with_its_history_and_explain_writes_nothing(
    world_of: Callable[[bool], World],
) -> None:
    world = world_of(False)
    rows = world.state.connection.total_changes
    preview = world.process(send=False)
    assert [d.action for d in preview.deliveries] == ["digest"]
    assert world.commits == [] and world.state.connection.total_changes == rows

    outcome = world.process()
    assert outcome.status == "routed" and [d.action for d in outcome.deliveries] == ["digested"]
    assert len(world.commits) == 1  # record, item, window and history: one transaction
    [entry] = world.state.history()
    assert entry.observation is Observation.FRESH and entry.actions == {"audit": "digested"}

    again = world.process()  # the same change, redelivered
    assert again.status == "duplicate" and [d.action for d in again.deliveries] == ["already_sent"]
    first, repeat = world.state.history()
    assert first == entry and repeat.observation is Observation.REPEAT and repeat.actions == {"audit": "already_sent"}
    assert [len(items) for items in digests(world.state).values()] == [1]


def test_when_a_destination_is_sent_to_at_once_the_history_follows_the_delivery(
    world_of: Callable[[bool], World], tmp_path: Path
) -> None:
    world = world_of(True)
    outcome = world.process()
    assert {d.destination: d.action for d in outcome.deliveries} == {"archive": "sent", "audit": "digested"}
    [entry] = world.state.history()  # appended after delivering, so it knows `sent`
    assert entry.observation is Observation.FRESH and entry.actions == {"archive": "sent", "audit": "digested"}
    assert (tmp_path / "archive.jsonl").exists() and not (tmp_path / "audit.jsonl").exists()


# -- races: threads released together, each its own store (as separate Lambda invocations are) -------------

THREADS = 8


@pytest.fixture(scope="module")
def race_client() -> Iterator[Any]:
    with serial_moto_server() as url:  # moto over HTTP, one request at a time: DynamoDB's atomicity
        yield dynamodb_client(url)


@pytest.fixture(params=["memory", "sqlite-per-thread", "dynamodb-per-thread"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], StateStore]:
    if request.param == "memory":
        shared = MemoryState()
        return lambda: shared
    if request.param == "sqlite-per-thread":
        return lambda: SqliteState(tmp_path / "state.sqlite")
    request.getfixturevalue("aws_credentials")
    client = request.getfixturevalue("race_client")
    table = unique_table()
    create_table(client, table)
    return lambda: DynamoDbState(table, client=client)  # no shared window cache, no shared lock


def race(opener: Callable[[], StateStore], work: Callable[[int, StateStore], Any]) -> list[Any]:
    start = threading.Barrier(THREADS)

    def run(index: int) -> Any:
        store = opener()
        start.wait(timeout=10)
        return work(index, store)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def test_one_held_notification_observed_by_every_thread_at_once_is_stored_once(
    opener: Callable[[], StateStore],
) -> None:
    n = notification()
    results = race(opener, lambda _, store: store.observe_and_hold(n, now=T0, held=held(n, *GROUPS), history=entry(n)))

    assert sorted((r.verdict.value, r.added, r.history_written) for r in results) == [
        ("fresh", (True, True), True),
        *[("repeat", (False, False), False)] * (THREADS - 1),
    ]
    inspector = opener()
    assert [len(items) for items in digests(inspector).values()] == [1, 1] and inspector.history() == [entry(n)]


def test_a_storm_s_first_notifications_arriving_at_once_share_one_window_per_group(
    opener: Callable[[], StateStore],
) -> None:
    storm = [notification(resource_id=f"log-group-{index}") for index in range(THREADS)]
    results = race(opener, lambda i, store: store.observe_and_hold(storm[i], now=T0, held=held(storm[i], *GROUPS)))

    assert all(r.verdict is Observation.FRESH and r.added == (True, True) for r in results)
    inspector = opener()
    windows = inspector.due_digests(LATER)
    assert sorted(batch.group for batch in windows) == sorted(GROUPS)  # one bucket each: nobody opened a second
    assert all(len(inspector.digest_items(batch.bucket)) == THREADS for batch in windows)
