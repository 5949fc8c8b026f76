"""Shared test helpers: real AWS-shaped events and the envelopes Config messages travel in."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).parent / "events"
AWS = EVENTS / "aws"
CONFIG_SNS = AWS / "config-sns"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def compliance_message(name: str = "ComplianceChangeNotification__01_") -> dict[str, Any]:
    """An inner Config message from the AWS fixtures, by file-name prefix (a fresh copy)."""
    matches = sorted(CONFIG_SNS.glob(f"{name}*.json"))
    assert matches, f"no fixture {name}"
    return copy.deepcopy(load_json(matches[0]))


def valid_compliance_messages() -> list[dict[str, Any]]:
    """Every fixture ComplianceChangeNotification that is genuinely valid (not the redacted/hand-edited ones)."""
    names = [p for p in sorted(CONFIG_SNS.glob("ComplianceChangeNotification__*.json")) if "__05_" not in p.name]
    names = [p for p in names if "__06_" not in p.name]
    derived = sorted((AWS / "derived").glob("DERIVED__ComplianceChangeNotification__*.json"))
    return [load_json(p) for p in [*names, *derived]]


def sns_record(message: dict[str, Any] | str, *, message_id: str | None = None) -> dict[str, Any]:
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-2:123456789012:config-topic:21be56ed-a058-49f5-8c98-aedd2564c486",
        "Sns": {
            "Type": "Notification",
            "MessageId": message_id or str(uuid.uuid4()),
            "TopicArn": "arn:aws:sns:us-east-2:123456789012:config-topic",
            "Subject": None,
            "Message": message if isinstance(message, str) else json.dumps(message),
            "Timestamp": "2016-09-27T19:48:43.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-ac565b8b1a6c5d002d285f9598aa1d9b.pem",
            "UnsubscribeUrl": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {},
        },
    }


def sns_event(*messages: dict[str, Any] | str) -> dict[str, Any]:
    return {"Records": [sns_record(m) for m in messages]}


def sns_json(message: dict[str, Any] | str) -> dict[str, Any]:
    """The SNS JSON document that HTTP subscribers and non-raw SQS queues receive."""
    sns = dict(sns_record(message)["Sns"])
    sns["SigningCertURL"] = sns.pop("SigningCertUrl")
    sns["UnsubscribeURL"] = sns.pop("UnsubscribeUrl")
    del sns["Subject"], sns["MessageAttributes"]
    return sns


def sqs_record(body: str, *, message_id: str | None = None) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183"},
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:config-queue",
        "awsRegion": "us-east-2",
    }


def eventbridge_event(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Config Rules Compliance Change",
        "source": "aws.config",
        "account": detail.get("awsAccountId", "123456789012"),
        "time": "2021-11-01T06:45:52Z",
        "region": detail.get("awsRegion", "us-east-2"),
        "resources": [],
        "detail": detail,
    }


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials so that no test can ever reach a real account."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def mocked_dynamodb() -> Iterator[Any]:
    """moto in-process for the whole module, and one DynamoDB client: building a boto3 client costs ~0.1 s."""
    from moto import mock_aws

    from tests.state_support import dynamodb_client

    with mock_aws():
        yield dynamodb_client()
