"""SQS intake: invalid and permanently failed records go to the dead-letter queue with their reason;
retryable failures stay with SQS; nothing is lost when the dead-letter queue itself is unreachable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from notifier.dead_letters import dead_letter_reason, sqs_answer, sqs_sender
from notifier.delivery import Delivery
from notifier.envelopes import decode
from notifier.outcome import Outcome
from notifier.pipeline import Pipeline
from tests.conftest import compliance_message, sns_json, sqs_record


@pytest.fixture
def dlq(aws_credentials: None) -> Iterator[tuple[Any, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        yield sqs, sqs.create_queue(QueueName="notifier-dlq")["QueueUrl"]


def outcomes_for(event: dict[str, Any], deliveries: dict[str, tuple[Delivery, ...]]) -> list[Outcome]:
    """Real outcomes from the real parser; deliveries set per SQS record id, as the pipeline would report them."""
    pipeline = Pipeline(None, {})
    results = []
    for message in decode(event):
        outcome = pipeline.process(message, send=False)
        results.append(outcome._replace(deliveries=deliveries.get(str(message.record_id), ())))
    return results


EVENT = {
    "Records": [
        sqs_record(json.dumps(sns_json(compliance_message())), message_id="ok"),
        sqs_record("{not json", message_id="invalid"),
        sqs_record(json.dumps(compliance_message("ComplianceChangeNotification__02_")), message_id="jira-400"),
        sqs_record(json.dumps(compliance_message("ComplianceChangeNotification__03_")), message_id="jira-down"),
    ]
}
DELIVERIES = {
    "ok": (Delivery("mail", "email", "sent"),),
    "jira-400": (
        Delivery("mail", "email", "sent"),
        Delivery("jira", "jira", "failed", "POST /rest/api/3/issue answered 400: priority is invalid"),
    ),
    "jira-down": (Delivery("jira", "jira", "failed", "timed out", retryable=True),),
}


def test_what_retrying_cannot_fix_is_dead_lettered_with_its_reason(dlq: tuple[Any, str]) -> None:
    sqs, url = dlq
    answer = sqs_answer(EVENT["Records"], outcomes_for(EVENT, DELIVERIES), sqs_sender(url, sqs))
    assert answer == [{"itemIdentifier": "jira-down"}]  # only the retryable one goes back to SQS
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert len(received) == 2
    [invalid] = [m for m in received if m["MessageAttributes"]["status"]["StringValue"] == "invalid"]
    [failed] = [m for m in received if "failed_destinations" in m["MessageAttributes"]]
    assert invalid["Body"] == "{not json"  # the original payload, unchanged
    assert invalid["MessageAttributes"]["reason"]["StringValue"].startswith("invalid: $.Records[1].body is not valid")
    assert failed["Body"] == EVENT["Records"][2]["body"]
    assert failed["MessageAttributes"]["failed_destinations"]["StringValue"] == "jira"
    assert "priority is invalid" in failed["MessageAttributes"]["reason"]["StringValue"]


def test_without_a_dead_letter_queue_every_failure_stays_with_sqs() -> None:
    answer = sqs_answer(EVENT["Records"], outcomes_for(EVENT, DELIVERIES), None)
    assert answer == [{"itemIdentifier": "jira-400"}, {"itemIdentifier": "jira-down"}]


def test_an_unreachable_dead_letter_queue_loses_nothing() -> None:
    def down(body: str, attributes: dict[str, str]) -> None:
        raise ConnectionError("dead-letter queue unreachable")

    answer = sqs_answer(EVENT["Records"], outcomes_for(EVENT, DELIVERIES), down)
    assert answer == [{"itemIdentifier": "invalid"}, {"itemIdentifier": "jira-400"}, {"itemIdentifier": "jira-down"}]


def test_reasons() -> None:
    [ok, invalid, permanent, retryable] = outcomes_for(EVENT, DELIVERIES)
    assert dead_letter_reason(ok) is None and dead_letter_reason(retryable) is None
    assert dead_letter_reason(invalid) is not None and dead_letter_reason(permanent) == (
        "jira: POST /rest/api/3/issue answered 400: priority is invalid"
    )
