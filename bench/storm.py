"""(g) Storm: a new rule's first evaluation of every resource, through the SQS Lambda handler.

`size` first_violation notifications (from NONE) for one rule, spread over `accounts` accounts, arrive
as SQS events of `batch` records each (SNS JSON in every body, as a non-raw subscription delivers them)
and go through `notifier.handler.lambda_handler` exactly as on Lambda: the batch's threads, the ordering
guard, baseline mode holding each one for its rule's digest, the end-of-invocation flush check. The route
sends to an SES email destination (moto) and a file destination, so both digest channels are exercised.
Then the clock moves past the window and its grace and the scheduled `{"notifier": "flush-digests"}`
event sends the digests.

Measured, per state backend (SQLite file; DynamoDB on moto in-process, so its figures are CPU, not
network round trips):
  * wall time of the intake and of the flush, and notifications per second over both;
  * state-store writes, counted three ways:
      - calls of a writing StateStore method, by a proxy around the store (what the pipeline asks for);
      - write requests that reach the backend: on SQLite every committed transaction (a trace callback
        on the store's connection sees each COMMIT); on DynamoDB every PutItem, UpdateItem, DeleteItem,
        TransactWriteItems and BatchWriteItem the botocore client sends (a `before-parameter-build` hook);
      - items written by those requests: SQLite rows changed (`total_changes`); DynamoDB items in each
        request that succeeded (1 for a single-item write, one per entry of a transaction or batch; a
        cancelled transaction or lost condition is a request that writes none). DynamoDB bills a
        transactional write 2 write units per item of up to 1 KB, so the write units are reported too:
        fewer requests is not fewer units;
  * peak memory: the growth of the process's resident high-water mark (`ru_maxrss`) over the run. Not
    tracemalloc: it would slow every allocation and so the wall time measured in the same run. A high-water
    mark set earlier in the process hides growth below it, so the figure is a lower bound in a long run.

A held first evaluation costs one write request: `observe_and_hold` stores the record, one digest item
per destination and the history entry in one transaction (4 items here: 4 SQLite rows; on DynamoDB 4
items = 8 write units, where the four separate writes of before cost 4 units in 4 requests). Opening a
digest window adds one request per destination and window on DynamoDB (on SQLite it rides in the first
notification's transaction). moto's transactions copy the whole table to roll back, so on moto they get
slower as the table grows: its throughput says nothing about DynamoDB's.

The run is checked, not just timed (a figure over a broken run would mean nothing): one digest per
destination per window, no per-resource email or file record, every resource's state recorded.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any, Literal, cast

from notifier import handler
from notifier.app import build_pipeline
from notifier.routing.config import parse_config
from notifier.state import DynamoDbState, ResourceKey, SqliteState, StateStore, create_table
from notifier.state.digest_buffer import DIGEST_GRACE

from .events import CONFIG_SNS, load
from .write_counts import CountingState, DynamoDbWrites, SqliteWrites, Writes

Backend = Literal["sqlite", "dynamodb"]
BACKENDS: tuple[Backend, ...] = ("sqlite", "dynamodb")

SIZE = 10_000
ACCOUNTS = 50
BATCH = 10  # SQS's default batch size for a Lambda event source
SES_REGION = "eu-west-1"
SENDER = "alerts@example.com"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
# Config's evaluations of a new rule land over minutes, not in one instant: each SQS batch is this much
# later than the one before, so 10,000 notifications span 20 s, well inside one 5-minute baseline window.
BATCH_INTERVAL = timedelta(milliseconds=20)
BASELINE_WINDOW = timedelta(minutes=5)  # notifier.digests.policy.BASELINE_WINDOW: the route sets none

# The log-group fixture (CloudWatch Logs retention rule), made a first evaluation of another resource.
_FIXTURE = "ComplianceChangeNotification__02_"

STORM_CONFIG = """
destinations:
  security-email: {{type: email, via: ses, region: {region}, from: {sender}, to: [security@example.com]}}
  audit-file: {{type: file, path: '{audit}'}}
routes:
  - name: new-rule-rollout          # baseline mode is on by default: first evaluations become digests
    match: {{transition: [first_violation]}}
    destinations: [security-email, audit-file]
"""


@dataclass(frozen=True, slots=True)
class Phase:
    """What one phase (intake or flush) cost."""

    wall_s: float
    store_writes: Counter[str]  # StateStore writing-method calls
    write_requests: Counter[str]  # what reached the backend: SQLite "transaction"s, DynamoDB operations
    items_written: int  # SQLite rows, DynamoDB items
    transactional_items: int  # of which written by a DynamoDB transaction (2 write units each)

    @property
    def write_units(self) -> int:
        """DynamoDB's billed write units if every item is at most 1 KB: 1 per item, 2 in a transaction."""
        return self.items_written + self.transactional_items


@dataclass(frozen=True, slots=True)
class Storm:
    backend: Backend
    notifications: int
    accounts: int
    batches: int
    intake: Phase
    flush: Phase
    peak_rss_growth_bytes: int
    digests: dict[str, list[int]]  # destination -> item count of each digest it received
    per_resource_deliveries: int  # emails and file records that were not digests
    recorded: int  # resources with a state record after the run
    batch_item_failures: int
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def wall_s(self) -> float:
        return self.intake.wall_s + self.flush.wall_s

    @property
    def per_second(self) -> float:
        return self.notifications / self.wall_s

    # Intake only: the common path. The flush's writes are per window, not per notification.

    @property
    def store_writes_per_notification(self) -> float:
        return sum(self.intake.store_writes.values()) / self.notifications

    @property
    def write_requests_per_notification(self) -> float:
        return sum(self.intake.write_requests.values()) / self.notifications

    @property
    def items_per_notification(self) -> float:
        return self.intake.items_written / self.notifications

    @property
    def write_units_per_notification(self) -> float | None:
        return self.intake.write_units / self.notifications if self.backend == "dynamodb" else None

    @property
    def problems(self) -> list[str]:
        """What the run got wrong (empty when it held every promise)."""
        found: list[str] = []
        for destination, sizes in sorted(self.digests.items()):
            if len(sizes) != 1:
                found.append(f"{destination}: {len(sizes)} digests in one window, not 1")
            if sum(sizes) != self.notifications:
                found.append(f"{destination}: digests hold {sum(sizes)} of {self.notifications} notifications")
        if len(self.digests) != 2:
            found.append(f"digests went to {sorted(self.digests)}, not to both destinations")
        if self.per_resource_deliveries:
            found.append(f"{self.per_resource_deliveries} per-resource deliveries")
        if self.recorded != self.notifications:
            found.append(f"{self.recorded} of {self.notifications} resources recorded")
        if self.batch_item_failures:
            found.append(f"{self.batch_item_failures} SQS records reported failed")
        return found


def first_evaluation(index: int, accounts: int, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fixture, as Config's first evaluation (no old result) of log group `index` in one of `accounts`."""
    if template is None:
        [path] = sorted(CONFIG_SNS.glob(f"{_FIXTURE}*.json"))
        template = load(path)
    message = copy.deepcopy(template)
    message["resourceId"] = resource_of(index)
    message["awsAccountId"] = account_of(index, accounts)
    qualifier = message["newEvaluationResult"]["evaluationResultIdentifier"]["evaluationResultQualifier"]
    qualifier["resourceId"] = resource_of(index)
    message["oldEvaluationResult"] = None
    return message


def resource_of(index: int) -> str:
    return f"/aws/lambda/storm-{index:06d}"


def account_of(index: int, accounts: int) -> str:
    return f"{210000000000 + index % accounts:012d}"


def storm_rule() -> str:
    return str(first_evaluation(0, 1)["configRuleName"])


def sqs_events(size: int, accounts: int, batch: int) -> Iterator[dict[str, Any]]:
    """SQS Lambda events of `batch` records; each body the SNS JSON a non-raw subscription delivers."""
    template = first_evaluation(0, accounts)
    for start in range(0, size, batch):
        indexes = range(start, min(start + batch, size))
        yield {"Records": [_sqs_record(first_evaluation(i, accounts, template), i) for i in indexes]}


def _sqs_record(message: dict[str, Any], index: int) -> dict[str, Any]:
    topic = "arn:aws:sns:us-east-2:123456789012:config-topic"
    sns = {
        "Type": "Notification",
        "MessageId": f"storm-sns-{index:06d}",
        "TopicArn": topic,
        "Message": json.dumps(message),
        "Timestamp": "2024-05-01T12:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-example.pem",
        "UnsubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe",
    }
    return {
        "messageId": f"storm-sqs-{index:06d}",
        "receiptHandle": f"storm-receipt-{index:06d}",
        "body": json.dumps(sns),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1714564800000"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:config-queue",
        "awsRegion": "us-east-2",
    }


class SerialClient:
    """The moto DynamoDB client, one request at a time. moto's in-process backend has no locks: two
    threads' requests interleave inside one conditional write and lose items (seen here: a resource
    record missing, `dictionary changed size during iteration`), which DynamoDB itself never does.
    Serialising the requests keeps the notifier's threads racing for real (reads, then conditional
    writes) while the backend stays atomic, as tests/state_support.serial_moto_server does over HTTP."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def serial(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return serial


class MovableClock:
    """Pipeline.clock: the storm's time, moved by the driver rather than by the wall clock."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def _aws() -> Iterator[None]:
    """moto for SES and DynamoDB, with fake credentials so that nothing can reach a real account."""
    from unittest.mock import patch

    from moto import mock_aws

    fake = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    with patch.dict(os.environ, fake):  # the environment is restored as it was afterwards
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        with mock_aws():
            yield


@contextmanager
def _quiet() -> Iterator[None]:
    """The handler's per-record log lines and EMF metrics still run (they are part of its cost) but go
    to /dev/null instead of burying the table; warnings and errors still reach stderr."""
    from notifier.telemetry import logger

    level = logger.log_level
    logger.setLevel("WARNING")
    try:
        with open(os.devnull, "w") as sink, redirect_stdout(sink):
            yield
    finally:
        logger.setLevel(level)


def _open_store(backend: Backend, workdir: Path) -> tuple[StateStore, Writes]:
    if backend == "sqlite":
        sqlite = SqliteState(workdir / "state.sqlite")
        return sqlite, SqliteWrites(sqlite)  # after the schema was made: only the run counts
    import boto3
    from botocore.config import Config

    from notifier.concurrency import CONNECTIONS_PER_POOL

    client = boto3.client(
        "dynamodb", region_name="us-east-1", config=Config(max_pool_connections=CONNECTIONS_PER_POOL)
    )
    create_table(client, "storm-state")
    writes = DynamoDbWrites()
    writes.watch(client)  # after create_table: only the run counts
    return DynamoDbState("storm-state", client=SerialClient(client)), writes


def _phase(run: Callable[[], object], store: CountingState, writes: Writes) -> Phase:
    calls_before = Counter(store.calls)
    requests_before, items_before, transactional_before = writes.snapshot()
    start = time.perf_counter()
    run()
    wall = time.perf_counter() - start
    requests, items, transactional = writes.snapshot()
    return Phase(wall, Counter(store.calls) - calls_before, requests - requests_before, items - items_before,
                 transactional - transactional_before)  # fmt: skip


def _max_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB, macOS bytes


def run_storm(
    backend: Backend, size: int = SIZE, *, accounts: int = ACCOUNTS, batch: int = BATCH, verify: bool = True
) -> Storm:
    """The whole storm on one backend, in a temporary directory, inside moto; `verify` reads every
    resource's record back afterwards (untimed)."""
    with tempfile.TemporaryDirectory(prefix="notifier-storm-") as directory, _aws():
        return _storm_in(Path(directory), backend, size, accounts, batch, verify)


def _storm_in(workdir: Path, backend: Backend, size: int, accounts: int, batch: int, verify: bool) -> Storm:
    import boto3
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sesv2 = boto3.client("sesv2", region_name=SES_REGION)
    sesv2.create_email_identity(EmailIdentity=SENDER)
    audit = workdir / "audit.jsonl"
    config = parse_config(STORM_CONFIG.format(region=SES_REGION, sender=SENDER, audit=audit), "bench:storm.yml",
                          workdir)  # fmt: skip
    inner, writes = _open_store(backend, workdir)
    store = CountingState(inner)
    pipeline = build_pipeline(config, state=cast(StateStore, store), client_factory=lambda service, region: sesv2)
    clock = MovableClock()
    pipeline.clock = clock
    events = list(sqs_events(size, accounts, batch))  # built before timing: the queue's job, not ours
    failures: list[Any] = []

    def intake() -> None:
        for number, event in enumerate(events):
            clock.now = T0 + number * BATCH_INTERVAL
            failures.extend(handler.lambda_handler(event, None)["batchItemFailures"])

    flushed: list[dict[str, Any]] = []

    def flush() -> None:
        clock.now = T0 + BASELINE_WINDOW + DIGEST_GRACE + len(events) * BATCH_INTERVAL + timedelta(seconds=1)
        flushed.extend(handler.lambda_handler({"notifier": "flush-digests"}, None)["digests"])

    rss_before = _max_rss_bytes()
    handler.set_pipeline(pipeline)
    try:
        with _quiet():
            intake_phase = _phase(intake, store, writes)
            flush_phase = _phase(flush, store, writes)
    finally:
        handler.set_pipeline(None)
        if isinstance(writes, SqliteWrites):
            writes.stop()
    rss_growth = _max_rss_bytes() - rss_before

    digests: dict[str, list[int]] = {}
    per_resource = 0
    lines = audit.read_text().splitlines() if audit.exists() else []
    for line in lines:
        record = json.loads(line)
        if record.get("digest") is True:
            digests.setdefault("audit-file", []).append(int(record["total"]))
        else:
            per_resource += 1
    for sent in ses_backends[DEFAULT_ACCOUNT_ID][SES_REGION].sent_messages:
        raw = sent.raw_data if isinstance(sent.raw_data, bytes) else sent.raw_data.encode()
        header = message_from_bytes(raw).get("X-Compliance-Digest")
        if header is not None:
            digests.setdefault("security-email", []).append(int(header))
        else:
            per_resource += 1
    recorded = _recorded(inner, size, accounts) if verify else size
    inner.close()
    statuses = Counter(f["action"] for f in flushed)
    return Storm(backend, size, accounts, len(events), intake_phase, flush_phase, rss_growth, digests, per_resource,
                 recorded, len(failures), dict(statuses))  # fmt: skip


def _recorded(state: StateStore, size: int, accounts: int) -> int:
    """How many of the storm's resources have a NON_COMPLIANT record (one read each)."""
    template = first_evaluation(0, accounts)
    recorded = 0
    for index in range(size):
        key = ResourceKey(account_of(index, accounts), template["awsRegion"], template["configRuleName"],
                          template["resourceType"], resource_of(index))  # fmt: skip
        record = state.get(key)
        recorded += record is not None and record.compliance.value == "NON_COMPLIANT"
    return recorded
