"""Config → SNS → SQS → handler, with moto's SNS and SQS shaping the bodies (raw and non-raw delivery)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from notifier import handler
from notifier.app import build_pipeline
from notifier.envelopes import decode
from notifier.routing.config import parse_config
from notifier.state import MemoryState
from tests.conftest import AWS, compliance_message, load_json

REGION = "us-east-2"
CONFIG = """
destinations:
  audit: {type: file, path: audit.jsonl}
routes:
  - name: changes
    match: {transition: [violated, resolved, first_violation]}
    destinations: [audit]
"""


@pytest.fixture
def queue(aws_credentials: None, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any, str]]:
    raw = request.param
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="config-topic")["TopicArn"]
        url = sqs.create_queue(QueueName="config-queue")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true" if raw else "false"}
        )
        yield sns, sqs, topic


def _is_raw(sns: Any) -> bool:
    [subscription] = sns.list_subscriptions()["Subscriptions"]
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
    return bool(attributes.get("RawMessageDelivery") == "true")


def lambda_event_from(sqs: Any) -> dict[str, Any]:
    """What the Lambda SQS event source mapping would hand the function for these messages."""
    url = sqs.get_queue_url(QueueName="config-queue")["QueueUrl"]
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:config-queue",
                "awsRegion": REGION,
            }
            for m in received
        ]
    }


@pytest.mark.parametrize("queue", [False, True], ids=["non-raw", "raw"], indirect=True)
def test_messages_published_to_sns_arrive_through_sqs_and_are_routed(
    queue: tuple[Any, Any, str], tmp_path: Path
) -> None:
    sns, sqs, topic = queue
    skipped = load_json(next((AWS / "config-sns").glob("ConfigurationItemChangeNotification__02_*.json")))
    for message in (compliance_message("ComplianceChangeNotification__02_"), skipped):
        sns.publish(TopicArn=topic, Message=json.dumps(message))
    event = lambda_event_from(sqs)
    # moto shaped the bodies: the SNS JSON with the message double-encoded, or the message itself (raw)
    raw = _is_raw(sns)
    expected = "$.Records[{}].body" if raw else "$.Records[{}].body.Message"
    assert [m.location for m in decode(event)] == [expected.format(0), expected.format(1)]
    handler.set_pipeline(build_pipeline(parse_config(CONFIG, "r.yml", tmp_path), state=MemoryState()))
    try:
        answer = handler.lambda_handler(event, None)
    finally:
        handler.set_pipeline(None)
    assert answer == {"batchItemFailures": []}
    [line] = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert json.loads(line)["notification"]["resource_id"] == "dev1"
