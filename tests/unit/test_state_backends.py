"""What only one backend has: the URLs that open them, SQLite's files and upgrade, DynamoDB's table
layout, pagination, lost conditional writes and error translation."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.errors import NotifierError
from notifier.state import (
    HISTORY_TTL,
    DynamoDbState,
    MemoryState,
    Observation,
    ResourceKey,
    SqliteState,
    create_table,
    default_state_url,
    open_state,
)
from notifier.state.base import ordering_key
from notifier.tickets.model import TicketRef, TicketStatus
from notifier.transition import Compliance
from tests.state_support import dynamodb_client, history_entry, notification, unique_table

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
JIRA = TicketRef("jira", "SEC-42", "10042", TicketStatus.OPEN)

# -- open_state ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["sqlite://relative/state.sqlite", "sqlite:///", "sqlite:/tmp/x", "dynamodb://", "dynamodb://a b", "redis://x"],
)
def test_a_url_no_backend_understands_is_refused_with_what_is_expected(url: str) -> None:
    with pytest.raises(NotifierError, match=r"expected|absolute path"):
        open_state(url)


def test_each_url_opens_its_backend(tmp_path: Path) -> None:
    assert isinstance(open_state("memory://"), MemoryState)
    sqlite_store = open_state(f"sqlite://{tmp_path}/state.sqlite")
    assert isinstance(sqlite_store, SqliteState) and sqlite_store.path == tmp_path / "state.sqlite"
    sqlite_store.close()
    client = object()  # never called: DynamoDbState touches AWS only when used
    dynamo = open_state("dynamodb://notifier-state.prod_1", dynamodb_client=client, read_only=True)
    assert isinstance(dynamo, DynamoDbState) and dynamo.table_name == "notifier-state.prod_1" and dynamo.read_only
    assert dynamo.client is client


def test_the_default_url_is_the_environment_or_a_local_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NOTIFIER_STATE", "dynamodb://t-1")
    assert default_state_url() == "dynamodb://t-1"
    monkeypatch.delenv("NOTIFIER_STATE")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_url() == f"sqlite://{tmp_path.resolve()}/compliance-notifier/state.sqlite"


# -- SQLite -------------------------------------------------------------------------------------------


def test_read_only_sqlite_never_creates_the_file_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "not-yet" / "state.sqlite"
    store = open_state(f"sqlite://{path}", read_only=True)
    assert store.get(ResourceKey.of(notification())) is None
    assert store.history() == [] and not store.was_delivered("c", "d")
    with pytest.raises(NotifierError, match="read-only"):
        store.observe(notification())
    with pytest.raises(NotifierError, match="read-only"):
        store.claim_delivery("c", "d", now=NOW)
    assert not path.parent.exists()


def test_read_only_sqlite_reads_an_existing_file_without_changing_it(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    writer = SqliteState(path)
    n = notification()
    writer.observe(n)
    reader = open_state(f"sqlite://{path}", read_only=True)
    assert isinstance(reader, SqliteState)
    assert reader.get(ResourceKey.of(n)) == writer.get(ResourceKey.of(n))
    with pytest.raises(NotifierError, match="cannot observe a notification"):
        reader.observe(notification(at="2030-01-01T00:00:00Z"))
    assert writer.observe(n)[0] is Observation.REPEAT
    reader.close()
    writer.close()


def test_sqlite_read_only_by_itself_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotifierError, match="cannot open the state file"):
        SqliteState(tmp_path / "missing.sqlite", read_only=True)
    assert list(tmp_path.iterdir()) == []


def test_a_first_release_state_file_is_upgraded_without_resending(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as old:  # the first release's only table: every row a completed send
        old.execute(
            "CREATE TABLE deliveries (change_key TEXT, destination TEXT, delivered_at TEXT, "
            "PRIMARY KEY (change_key, destination))"
        )
        old.execute("INSERT INTO deliveries VALUES ('change-1', 'sec-email', '2024-01-01T00:00:00Z')")
    old.close()
    before_upgrade = SqliteState(path, read_only=True)  # explain on an old file: empty, not an error
    assert before_upgrade.get(ResourceKey.of(notification())) is None and before_upgrade.history() == []
    before_upgrade.close()

    store = SqliteState(path)
    assert store.was_delivered("change-1", "sec-email")
    assert not store.claim_delivery("change-1", "sec-email", now=NOW)
    store.close()


def test_sqlite_writers_on_one_file_see_each_other(tmp_path: Path) -> None:
    first, second = SqliteState(tmp_path / "s.sqlite"), SqliteState(tmp_path / "s.sqlite")
    n = notification()
    assert first.observe(n)[0] is Observation.FRESH
    assert second.observe(n)[0] is Observation.REPEAT
    assert second.claim_delivery("c", "d", now=NOW) and not first.claim_delivery("c", "d", now=NOW)
    first.close()
    second.close()


# -- DynamoDB -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mocked_client() -> Iterator[Any]:
    from moto import mock_aws

    with mock_aws():
        yield dynamodb_client()


@pytest.fixture
def client(aws_credentials: None, mocked_client: Any) -> Any:
    return mocked_client


@pytest.fixture
def table(client: Any) -> str:
    name = unique_table()
    create_table(client, name)
    return name


def test_create_table_is_on_demand_with_ttl_and_safe_to_repeat(client: Any, table: str) -> None:
    create_table(client, table)  # again: kept as it is
    description = client.describe_table(TableName=table)["Table"]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in description["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_the_single_table_layout(client: Any, table: str) -> None:
    store = DynamoDbState(table, client=client)
    n = notification()
    key = ResourceKey.of(n)
    store.observe(n)
    store.set_ticket(key, "sec-jira", JIRA)
    store.claim_delivery("change-1", "sec-jira", now=NOW)
    store.append_history(history_entry(n, recorded_at="2021-11-01T06:46:00.000000Z"))

    record = client.get_item(TableName=table, Key={"pk": {"S": f"RES#{key.id}"}, "sk": {"S": "STATE"}})["Item"]
    assert record["tickets"]["M"]["sec-jira"]["M"]["key"] == {"S": "SEC-42"}
    assert "expires_at" not in record  # only history expires
    claim = client.get_item(TableName=table, Key={"pk": {"S": "DLV#change-1"}, "sk": {"S": "sec-jira"}})["Item"]
    assert claim["status"] == {"S": "claimed"} and claim["claimed_at"] == {"S": "2024-05-01T12:00:00.000000Z"}
    [history] = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :h)",
        ExpressionAttributeValues={":pk": {"S": f"RES#{key.id}"}, ":h": {"S": "HIST#"}},
    )["Items"]
    assert history["sk"]["S"].startswith(f"HIST#{ordering_key(n)}#2021-11-01T06:46:00.000000Z#")
    expires = datetime.fromtimestamp(int(history["expires_at"]["N"]), UTC)
    assert abs(expires - (datetime.now(UTC) + HISTORY_TTL)) < timedelta(minutes=1)


def test_a_ticket_on_a_record_without_a_ticket_map_creates_the_map(client: Any, table: str) -> None:
    n = notification()
    key = ResourceKey.of(n)
    DynamoDbState(table, client=client).observe(n)
    client.update_item(  # as a record written before tickets existed would be
        TableName=table, Key={"pk": {"S": f"RES#{key.id}"}, "sk": {"S": "STATE"}}, UpdateExpression="REMOVE tickets"
    )
    store = DynamoDbState(table, client=client)
    assert dict(store.get(key).tickets) == {}  # type: ignore[union-attr]
    store.set_ticket(key, "sec-jira", JIRA)
    store.set_ticket(key, "sec-snow", JIRA)
    assert dict(store.get(key).tickets) == {"sec-jira": JIRA, "sec-snow": JIRA}  # type: ignore[union-attr]


def test_history_follows_every_page(client: Any, table: str) -> None:
    store = DynamoDbState(table, client=client, page_size=2)
    entries = [
        history_entry(notification(at=f"2021-11-0{day}T00:00:00Z"), recorded_at=f"2021-11-0{day}T00:00:01Z")
        for day in range(1, 6)
    ]
    elsewhere = history_entry(notification(resource_id="prod1"), recorded_at="2021-11-09T00:00:00Z")
    for entry in [*reversed(entries), elsewhere]:
        store.append_history(entry)
    assert store.history(entries[0].key) == entries
    assert len(store.history()) == 6


def test_a_lost_conditional_write_is_judged_again(client: Any, table: str) -> None:
    """Another invocation stores its change between our read and our write: ours must not overwrite it."""
    mine = notification(at="2021-11-01T02:00:00Z", compliance=Compliance.COMPLIANT)
    theirs_newer = notification(at="2021-11-01T03:00:00Z")
    store, racer = DynamoDbState(table, client=client), DynamoDbState(table, client=client)
    with racing_once(client, lambda: racer.observe(theirs_newer)):
        verdict, before = store.observe(mine)
    assert verdict is Observation.STALE
    assert before == racer.get(ResourceKey.of(mine)) and before is not None
    assert before.ordering_key == ordering_key(theirs_newer)


def test_a_lost_conditional_write_to_an_older_change_is_retried_against_it(client: Any, table: str) -> None:
    mine = notification(at="2021-11-01T03:00:00Z", compliance=Compliance.NON_COMPLIANT)
    theirs_older = notification(at="2021-11-01T02:00:00Z", compliance=Compliance.NON_COMPLIANT)
    store, racer = DynamoDbState(table, client=client), DynamoDbState(table, client=client)
    with racing_once(client, lambda: racer.observe(theirs_older)):
        verdict, before = store.observe(mine)
    assert verdict is Observation.FRESH
    assert before is not None and before.ordering_key == ordering_key(theirs_older)  # what was really replaced
    record = store.get(ResourceKey.of(mine))
    assert record is not None and record.ordering_key == ordering_key(mine)
    assert record.first_noncompliant_at == "2021-11-01T02:00:00Z"  # carried from theirs, not from our first read


@contextmanager
def racing_once(client: Any, racer: Callable[[], object]) -> Iterator[None]:
    """Run `racer` once, just before the next UpdateItem this client sends (a botocore event hook)."""
    raced: list[bool] = []

    def interleave(**_: Any) -> None:
        if not raced:  # the racer's own UpdateItem passes through here too: by then it is a no-op
            raced.append(True)
            racer()

    client.meta.events.register("before-call.dynamodb.UpdateItem", interleave, unique_id="race-once")
    try:
        yield
    finally:
        client.meta.events.unregister("before-call.dynamodb.UpdateItem", unique_id="race-once")
    assert raced, "the race never happened: the test proved nothing"


def test_a_missing_table_is_named_with_what_to_do(client: Any) -> None:
    with pytest.raises(NotifierError, match=r"'no-such-table' does not exist.*create_table"):
        DynamoDbState("no-such-table", client=client).get(ResourceKey.of(notification()))


def test_throttling_says_retryable(client: Any, table: str) -> None:
    from botocore.stub import Stubber

    store = DynamoDbState(table, client=client)
    with Stubber(client) as stubber:
        stubber.add_client_error("get_item", "ProvisionedThroughputExceededException", "Rate of requests exceeds")
        with pytest.raises(NotifierError, match="retryable"):
            store.observe(notification())


def test_a_failed_claim_condition_is_an_answer_not_an_error(client: Any, table: str) -> None:
    store = DynamoDbState(table, client=client)
    assert store.claim_delivery("c", "d", now=NOW)
    assert store.claim_delivery("c", "d", now=NOW) is False


class LeavesUnprocessed:
    """A client whose BatchWriteItem processes at most `take` requests of the first `times` calls and
    answers the rest as UnprocessedItems, as DynamoDB does when it throttles part of a batch."""

    def __init__(self, client: Any, *, take: int, times: int) -> None:
        self._client, self.take, self.times = client, take, times
        self.batch_sizes: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:  # boto3 names it so
        [(table, requests)] = RequestItems.items()
        self.batch_sizes.append(len(requests))
        if len(self.batch_sizes) > self.times:
            return dict(self._client.batch_write_item(RequestItems=RequestItems))
        answer = self._client.batch_write_item(RequestItems={table: requests[: self.take]}) if self.take else {}
        return {**answer, "UnprocessedItems": {table: requests[self.take :]}}


def full_bucket(store: DynamoDbState, items: int) -> str:
    window = timedelta(minutes=5)
    for n in range(items):
        store.append_digest("route|dest", f"key-{n}", {"n": n}, now=NOW, window=window)
    [due] = store.due_digests(NOW + window + timedelta(minutes=1))
    assert store.claim_digest(due.bucket, now=NOW + window + timedelta(minutes=1))
    return due.bucket


def test_a_sent_digest_is_deleted_25_items_a_request_and_unprocessed_ones_are_sent_again(
    client: Any, table: str
) -> None:
    throttled = LeavesUnprocessed(client, take=10, times=1)
    store = DynamoDbState(table, client=throttled)
    bucket = full_bucket(store, 60)
    store.complete_digest(bucket)
    # The first 25: 10 done and 15 sent again; then 25 and the last 10.
    assert throttled.batch_sizes == [25, 15, 25, 10]
    assert store.digest_items(bucket) == [] and store.due_digests(NOW + timedelta(days=1)) == []
    assert client.scan(TableName=table)["Count"] == 0  # items, head and CURRENT pointer: nothing left


def test_a_digest_dynamodb_keeps_refusing_to_delete_is_a_retryable_error(
    client: Any, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("notifier.state.dynamodb_digests.time.sleep", lambda _: None)  # the backoff, not waited
    store = DynamoDbState(table, client=LeavesUnprocessed(client, take=0, times=100))
    bucket = full_bucket(store, 3)
    with pytest.raises(NotifierError, match=r"3 digest item\(s\) still unprocessed after 10 .*retryable"):
        store.complete_digest(bucket)
    assert len(store.digest_items(bucket)) == 3  # and the head is still there: the next flush finishes the job
    assert [head.bucket for head in store.due_digests(NOW + timedelta(days=1))] == [bucket]
