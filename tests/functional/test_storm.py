"""Storm: a new rule's first evaluation of every resource, through the SQS Lambda handler in batches of 10,
with state on SQLite and on moto DynamoDB; then the scheduled flush.

Sizes: 1,000 notifications over 50 accounts on SQLite (~4 s), 100 over 50 accounts on moto DynamoDB
(~14 s: moto's in-process backend is slow, and its transactions copy the whole table, so their cost
grows with the table). Big enough that the storm spans 100 (10) handler invocations, each opening or
joining the digest window from the state store rather than from one batch; small enough to keep the
suite fast. The full 10,000 is `python -m bench --storm-size 10000 --storm-dynamodb-size 10000`
(bench/storm.py).

Issue 5's target is asserted here, counted where the writes reach the backend (not by what the
pipeline asks for): every committed SQLite transaction (a trace callback on the store's connection),
every DynamoDB write request (a botocore hook on the client). A held first evaluation is one request;
opening each digest window adds one on DynamoDB."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from notifier import handler
from notifier.app import build_pipeline
from notifier.routing.config import parse_config
from notifier.state import DynamoDbState, ResourceKey, SqliteState, StateStore, create_table
from notifier.state.digest_buffer import DIGEST_GRACE
from tests.conftest import compliance_message, sns_json, sqs_record

REGION = "eu-west-1"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ACCOUNTS = [f"3100000000{n:02d}" for n in range(50)]
SIZES = {"sqlite": 1_000, "dynamodb": 100}
TARGET_WRITES = 1.1  # state-store write requests per notification on the common path (issue 5)
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
BATCH = 10
WINDOW = timedelta(minutes=5)  # the baseline window when a route sets no group_window

CONFIG = """
destinations:
  security-email: {{type: email, via: ses, region: {region}, from: alerts@example.com, to: [sec@example.com]}}
  audit-file: {{type: file, path: '{audit}'}}
routes:
  - name: new-rule-rollout
    match: {{transition: [first_violation]}}
    destinations: [security-email, audit-file]
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class SerialClient:
    """moto's DynamoDB backend has no locks: concurrent requests from the batch's threads can interleave
    inside one conditional write and lose an item. DynamoDB makes each write atomic; so does this lock."""

    def __init__(self, client: Any) -> None:
        self._client, self._lock = client, threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)

        def serial(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return serial


def first_evaluation(index: int) -> dict[str, Any]:
    body = compliance_message("ComplianceChangeNotification__02_")
    body["resourceId"] = resource_of(index)
    body["awsAccountId"] = ACCOUNTS[index % len(ACCOUNTS)]
    body["newEvaluationResult"]["evaluationResultIdentifier"]["evaluationResultQualifier"]["resourceId"] = (
        resource_of(index)
    )
    body["oldEvaluationResult"] = None  # Config's first evaluation of the resource: NONE -> NON_COMPLIANT
    return body


def resource_of(index: int) -> str:
    return f"/aws/lambda/storm-{index:05d}"


class WriteRequests:
    """Counts the write requests that reach the backend: SQLite COMMITs, DynamoDB write operations."""

    def __init__(self) -> None:
        self.count, self._lock = 0, threading.Lock()

    def sqlite_statement(self, statement: str) -> None:
        if statement == "COMMIT":
            self._add()

    def dynamodb_call(self, model: Any, **_: Any) -> None:
        if model.name in DYNAMODB_WRITES:
            self._add()

    def _add(self) -> None:
        with self._lock:
            self.count += 1


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(
    request: pytest.FixtureRequest, aws_credentials: None, tmp_path: Path
) -> Iterator[tuple[str, StateStore, WriteRequests]]:
    writes = WriteRequests()
    with mock_aws():  # SES for both; DynamoDB for one
        if request.param == "sqlite":
            sqlite = SqliteState(tmp_path / "state.sqlite")
            sqlite.connection.set_trace_callback(writes.sqlite_statement)
            state: StateStore = sqlite
        else:
            client = boto3.client("dynamodb", region_name="us-east-1")
            create_table(client, "storm-state")
            client.meta.events.register("before-call.dynamodb", writes.dynamodb_call)
            state = DynamoDbState("storm-state", client=SerialClient(client))
        yield request.param, state, writes
        state.close()
    handler.set_pipeline(None)


def test_a_first_evaluation_storm_makes_one_digest_per_destination_and_records_every_resource(
    store: tuple[str, StateStore, WriteRequests], tmp_path: Path
) -> None:
    backend, state, writes = store
    size = SIZES[backend]
    sesv2 = boto3.client("sesv2", region_name=REGION)
    sesv2.create_email_identity(EmailIdentity="alerts@example.com")
    audit = tmp_path / "audit.jsonl"
    config = parse_config(CONFIG.format(region=REGION, audit=audit), "storm.yml", tmp_path)
    pipeline = build_pipeline(config, state=state, client_factory=lambda service, region: sesv2)
    clock = Clock()
    pipeline.clock = clock
    handler.set_pipeline(pipeline)

    for start in range(0, size, BATCH):
        clock.now = T0 + timedelta(milliseconds=20 * start)  # a new rule's evaluations land over seconds
        records = [sqs_record(json.dumps(sns_json(first_evaluation(i)))) for i in range(start, start + BATCH)]
        assert handler.lambda_handler({"Records": records}, None) == {"batchItemFailures": []}
    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert not audit.exists() and len(sent) == 0  # nothing per resource, and the window is still open
    window_openings = 2 if backend == "dynamodb" else 0  # one per destination; SQLite's ride along
    assert writes.count == size + window_openings and writes.count / size <= TARGET_WRITES

    clock.now = T0 + WINDOW + DIGEST_GRACE + timedelta(minutes=1)  # past the window and its grace
    flushed = handler.lambda_handler({"notifier": "flush-digests"}, None)["digests"]
    assert sorted((f["destination"], f["items"], f["action"]) for f in flushed) == [
        ("audit-file", size, "sent"),
        ("security-email", size, "sent"),
    ]
    [digest] = [json.loads(line) for line in audit.read_text().splitlines()]  # one record: the digest
    assert digest["digest"] is True and digest["reason"] == "baseline" and digest["total"] == size
    assert sum(digest["by_account"].values()) == size and len(digest["by_account"]) == len(ACCOUNTS)
    [email] = [message_from_bytes(m.raw_data.encode()) for m in sent]  # one email: the digest
    assert email["X-Compliance-Digest"] == str(size)
    assert handler.lambda_handler({"notifier": "flush-digests"}, None) == {"digests": []}  # sent once

    rule, region, kind = digest["group"]["rule"], "ap-southeast-2", "AWS::Logs::LogGroup"
    for index in range(size):
        key = ResourceKey(ACCOUNTS[index % len(ACCOUNTS)], region, rule, kind, resource_of(index))
        record = state.get(key)
        assert record is not None and record.compliance.value == "NON_COMPLIANT", index
        # The history entry went with the record, in the same request.
        [entry] = state.history(key)
        assert entry.observation.value == "fresh"
        assert entry.actions == {"security-email": "digested", "audit-file": "digested"}
