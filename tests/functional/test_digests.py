"""Digests through the whole pipeline: a real file destination and SES email on moto; time moves with
Pipeline.clock. Storms are held, recorded, and flushed as one message per destination and window."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_string, policy
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from notifier import handler
from notifier.app import build_pipeline
from notifier.envelopes import InboundMessage
from notifier.pipeline import Pipeline
from notifier.routing.config import parse_config
from notifier.state import MemoryState, ResourceKey
from notifier.state.digest_buffer import DIGEST_GRACE
from tests.conftest import compliance_message

REGION = "eu-west-1"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ACCOUNTS = [f"11112222{n:04d}" for n in range(5)]

CONFIG = """
destinations:
  sec-email: {{type: email, via: ses, region: {region}, from: alerts@example.com, to: [sec@example.com]}}
  audit: {{type: file, path: {audit}}}
routes:
  - name: log-groups
    match: {{resource_type: "AWS::Logs::LogGroup", transition: [violated]}}
    group_by: [rule, region]
    group_window: 10m
    destinations: [sec-email, audit]
  - name: new-rules
    match: {{transition: [first_violation]}}
    destinations: [sec-email, audit]
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sesv2(aws_credentials: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("sesv2", region_name=REGION)
        client.create_email_identity(EmailIdentity="alerts@example.com")
        yield client


@pytest.fixture
def world(sesv2: Any, tmp_path: Path) -> Iterator[tuple[Pipeline, Clock, Path]]:
    audit = tmp_path / "audit.jsonl"
    config = parse_config(CONFIG.format(region=REGION, audit=audit), "r.yml", tmp_path)
    pipeline = build_pipeline(config, state=MemoryState(), client_factory=lambda service, region: sesv2)
    clock = Clock()
    pipeline.clock = clock
    yield pipeline, clock, audit
    handler.set_pipeline(None)


def message(n: int, *, account: str = "746869318262", first: bool = False) -> InboundMessage:
    body = compliance_message("ComplianceChangeNotification__02_")
    resource = f"log-group-{n}"
    body["resourceId"] = resource
    body["awsAccountId"] = account
    for result in ("newEvaluationResult", "oldEvaluationResult"):
        body[result]["evaluationResultIdentifier"]["evaluationResultQualifier"]["resourceId"] = resource
    if first:
        body["oldEvaluationResult"] = None
    return InboundMessage("config", f"$[{n}]", body, message_id=f"m-{n}")


def emails() -> list[str]:
    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    return [message_from_string(m.raw_data, policy=policy.default).get_body(("plain",)).get_content() for m in sent]  # type: ignore[union-attr]


def records(audit: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit.read_text().splitlines()] if audit.exists() else []


def flush(pipeline: Pipeline) -> dict[str, Any]:
    handler.set_pipeline(pipeline)
    return handler.lambda_handler({"notifier": "flush-digests"}, None)


def test_fifty_violations_in_a_window_make_one_digest_per_destination(world: tuple[Pipeline, Clock, Path]) -> None:
    pipeline, clock, audit = world
    for n in range(50):
        clock.now = T0 + timedelta(seconds=n)
        outcome = pipeline.process(message(n))
        assert outcome.status == "routed"
        assert [d.action for d in outcome.deliveries] == ["digested", "digested"]
    assert emails() == [] and records(audit) == []  # nothing went out at once

    clock.now = T0 + timedelta(minutes=10)  # closed, but not yet past the grace period
    assert flush(pipeline) == {"digests": []}

    clock.now = T0 + timedelta(minutes=10, seconds=49) + DIGEST_GRACE
    flushed = flush(pipeline)["digests"]
    assert sorted((f["destination"], f["items"], f["action"]) for f in flushed) == [
        ("audit", 50, "sent"),
        ("sec-email", 50, "sent"),
    ]
    [digest] = records(audit)
    assert digest["total"] == 50 and digest["by_account"] == {"746869318262": 50}
    assert digest["by_region"] == {"ap-southeast-2": 50} and len(digest["resources"]) == 20
    assert digest["group"] == {"rule": "cw-loggroup-retention-period-check-conformance-pack-qayjyopmd",
                               "region": "ap-southeast-2"}  # fmt: skip
    assert "configRuleName=cw-loggroup" in next(iter(digest["rule_links"].values()))
    [mail] = emails()
    assert "50 compliance changes" in mail and "First 20 of 50 resources" in mail
    assert flush(pipeline) == {"digests": []}  # sent once


def test_a_baseline_storm_gives_one_digest_per_destination_and_records_every_resource(
    world: tuple[Pipeline, Clock, Path],
) -> None:
    pipeline, clock, audit = world
    for n in range(500):
        clock.now = T0 + timedelta(milliseconds=100 * n)  # 50 s of first evaluations
        outcome = pipeline.process(message(n, account=ACCOUNTS[n % 5], first=True))
        assert outcome.transition is not None and outcome.transition.kind.value == "first_violation"
        assert {d.action for d in outcome.deliveries} == {"digested"}
    assert emails() == [] and records(audit) == []

    clock.now = T0 + timedelta(minutes=6)
    flushed = flush(pipeline)["digests"]
    assert sorted((f["destination"], f["items"]) for f in flushed) == [("audit", 500), ("sec-email", 500)]
    [digest] = records(audit)
    assert digest["reason"] == "baseline" and digest["by_account"] == dict.fromkeys(ACCOUNTS, 100)
    assert len(emails()) == 1
    state = pipeline.state
    assert state is not None
    rule = "cw-loggroup-retention-period-check-conformance-pack-qayjyopmd"
    for n in range(500):
        key = ResourceKey(ACCOUNTS[n % 5], "ap-southeast-2", rule, "AWS::Logs::LogGroup", f"log-group-{n}")
        record = state.get(key)
        assert record is not None and record.compliance.value == "NON_COMPLIANT"


def test_a_redelivered_notification_is_not_counted_twice(world: tuple[Pipeline, Clock, Path]) -> None:
    pipeline, clock, audit = world
    for n in range(3):
        pipeline.process(message(n))
    clock.now = T0 + timedelta(minutes=1)
    again = pipeline.process(message(1))  # the same change, redelivered
    assert again.status == "duplicate" and {d.action for d in again.deliveries} == {"already_sent"}

    clock.now = T0 + timedelta(minutes=11)
    flush(pipeline)
    assert records(audit)[0]["total"] == 3


def test_explain_shows_digest_and_the_first_invocation_after_the_window_flushes(
    world: tuple[Pipeline, Clock, Path],
) -> None:
    pipeline, clock, audit = world
    preview = pipeline.process(message(1), send=False)
    assert [d.action for d in preview.deliveries] == ["digest", "digest"]
    pipeline.process(message(1))

    clock.now = T0 + timedelta(minutes=11)
    handler.set_pipeline(pipeline)
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "x", "Message": "{}"}}]}
    handler.lambda_handler(event, None)  # any traffic: the handler flushes what is due at the end
    assert [r["total"] for r in records(audit)] == [1]
