"""What a batch's threads share, used at once: lazy connections, the remediation guard's counters, the
breaker alert's once-per-window memory, and the HTTP connection pools."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bench.fanout import batch_of, slow_server, webhook_pipeline
from notifier.app import build_pipeline
from notifier.batch import process_batch
from notifier.concurrency import DEFAULT_WORKERS, delivery_workers
from notifier.destinations.http import HttpChannel
from notifier.envelopes import decode
from notifier.routing.config import parse_config
from notifier.state import MemoryState
from tests.conftest import sns_event
from tests.functional.batch_support import Journal, change, recorded_pipeline
from tests.remediation_support import IAM_VIOLATION, RULE

BREAKER_CONFIG = """
destinations:
  fix:
    type: lambda
    function: remediate-iam
    region: us-east-1
    breaker: {{max: 2, window: 1h, notify: [alarms]}}
  alarms: {{type: file, path: alarms.jsonl}}
routes:
  - {{name: iam, match: {{rule: '{rule}'}}, destinations: [fix]}}
"""


def test_each_destination_is_connected_once_however_many_threads_need_it(tmp_path: Path) -> None:
    journal = Journal(delays={})
    batch = decode(sns_event(*[change(f"r{index}") for index in range(8)]))

    process_batch(recorded_pipeline(journal, tmp_path), batch)

    assert journal.connects == {"first": 1, "second": 1}  # connecting takes 50 ms: eight threads arrive meanwhile


class SlowCounts(MemoryState):
    """A count's answer takes a while to come back, as a DynamoDB query's does: time enough for other
    threads to read the same count before anyone records. The breaker alert's is the slowest, so that the
    blocked notifications all ask it while the first one is still waiting for its answer."""

    def count_events(self, bucket: str, *, since: datetime) -> int:
        count = super().count_events(bucket, since=since)
        time.sleep(0.15 if bucket.startswith("breaker-alert:") else 0.02)
        return count


class NeverInvoked:
    """The Lambda client of a dry-run remediation: invoking it would be a bug."""

    def invoke(self, **request: Any) -> None:
        raise AssertionError(f"a dry run invoked {request['FunctionName']}")


def iam_violation(resource_id: str) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(IAM_VIOLATION.read_text())
    message["resourceId"] = resource_id
    for side in ("newEvaluationResult", "oldEvaluationResult"):
        message[side]["evaluationResultIdentifier"]["evaluationResultQualifier"]["resourceId"] = resource_id
    return message


def test_a_storm_at_once_keeps_the_breaker_limit_and_alerts_once(tmp_path: Path) -> None:
    config = parse_config(BREAKER_CONFIG.format(rule=RULE), "routes.yml", tmp_path)
    pipeline = build_pipeline(config, state=SlowCounts(), client_factory=lambda service, region: NeverInvoked())
    batch = decode(sns_event(*[iam_violation(f"AIDASTORM{index:012d}") for index in range(8)]))

    outcomes = process_batch(pipeline, batch)

    actions = [d.action for o in outcomes for d in o.deliveries]
    # Eight users at once against a breaker of two: exactly two rehearsed, whichever threads came first.
    assert actions.count("dry-run") == 2 and actions.count("blocked:circuit-breaker") == 6
    assert actions.count("breaker-alert") == 1
    assert len((tmp_path / "alarms.jsonl").read_text().splitlines()) == 1


def test_one_destinations_pool_holds_every_delivery_thread() -> None:
    channel = HttpChannel("hook", "https://hooks.example.com")
    for scheme in ("https://", "http://"):
        pool_size = channel.session.get_adapter(scheme)._pool_maxsize  # type: ignore[attr-defined]
        assert pool_size >= delivery_workers(DEFAULT_WORKERS)


def test_a_batch_to_one_destination_opens_no_connection_it_throws_away(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3.connectionpool")
    count = 14  # more than requests' default pool of 10 connections per host
    with slow_server(0.2) as server:
        outcomes = process_batch(webhook_pipeline(server.url, 1), batch_of(count))
    assert [d.action for o in outcomes for d in o.deliveries] == ["sent"] * count
    assert server.peak_in_flight == count
    assert not [r.getMessage() for r in caplog.records if "Connection pool is full" in r.getMessage()]
