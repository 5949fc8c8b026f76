"""The benchmark's inputs: real AWS Config messages wrapped the way SNS hands them to Lambda.

Built here rather than imported from `tests/` so that the bench measures the package alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from notifier.envelopes import InboundMessage
from notifier.notification import ComplianceNotification, parse
from notifier.resources import PROJECT_ROOT

CONFIG_SNS = PROJECT_ROOT / "tests" / "events" / "aws" / "config-sns"
DERIVED = PROJECT_ROOT / "tests" / "events" / "aws" / "derived"
SKIPPED_FIXTURE_PREFIX = "ConfigurationItemChangeNotification__02_"

# A routing config of the size a platform-security team runs: several destinations, globs, lists,
# children (one inheriting, one replacing), a `continue: true` and a catch-all, so that a match
# walks several routes before it finds its own.
ROUTING_CONFIG = """
destinations:
  security-email: {type: email, via: ses, from: "Config <config@example.com>", to: [sec@example.com]}
  oncall-email:
    type: email
    via: smtp
    host: smtp.example.com
    port: 587
    tls: starttls
    username: notifier
    password: env:SMTP_PASSWORD
    from: config@example.com
    to: [oncall@example.com]
  audit-log: {type: file, path: /tmp/compliance-notifier-bench-audit.jsonl}
  ops-email: {type: email, via: ses, from: config@example.com, to: [ops@example.com], cc: [lead@example.com]}
routes:
  - name: production-violations
    match:
      account: ["123456789012", "012345678901"]
      transition: [first_violation, violated]
    destinations: [oncall-email]
    continue: true
  - name: iam-user-policies
    match:
      rule: [standardized-iam-policies, standardized-iam-policies-*]
      resource_type: AWS::IAM::User
      transition: [first_violation, violated, resolved, retired]
    destinations: [security-email, audit-log]
    routes:
      - name: iam-break-glass-users
        match: {resource_id: "AIDABREAKGLASS*"}
        destinations: [audit-log]
      - name: iam-resolved
        match: {to: COMPLIANT}
  - name: logging-and-trail
    match:
      rule: ["cloudtrail-*", "*-log-group-*", "cloudwatch-log-group-encrypted*"]
      region: ["us-*", "eu-*", "ap-southeast-2"]
    destinations: [ops-email]
    routes:
      - name: logging-resolved
        match: {transition: resolved}
        destinations: [audit-log]
  - name: data-gaps
    match: {transition: data_gap}
    destinations: [audit-log]
  - name: everything-else
    match:
      transition: [first_violation, violated, resolved, retired, data_gap, benign, unchanged]
    destinations: [audit-log]
"""


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def sns_lambda_event(message: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """One SNS record as Lambda receives it (the shape of the AWS Lambda developer guide's example)."""
    topic = "arn:aws:sns:us-east-2:123456789012:config-topic"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:21be56ed-a058-49f5-8c98-aedd2564c486",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": f"95df01b4-ee98-5cb9-9903-4c221d41eb5e-{index:04d}",
                    "TopicArn": topic,
                    "Subject": None,
                    "Message": json.dumps(message),
                    "Timestamp": "2016-09-27T19:48:43.000Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-ac565b8b1a6c5d002d285f9598aa1d9b.pem",
                    "UnsubscribeUrl": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def valid_compliance_messages() -> list[dict[str, Any]]:
    """Every fixture ComplianceChangeNotification that validates (the hand-edited/redacted ones do not)."""
    paths = [*sorted(CONFIG_SNS.glob("ComplianceChangeNotification__*.json")),
             *sorted(DERIVED.glob("DERIVED__ComplianceChangeNotification__*.json"))]
    messages = [load(path) for path in paths]
    return [m for m in messages if isinstance(parse(InboundMessage("config", "$", body=m)), ComplianceNotification)]


def compliance_event_texts() -> list[str]:
    """The SNS Lambda event text of each valid compliance change: what the Lambda runtime receives."""
    return [json.dumps(sns_lambda_event(message, i)) for i, message in enumerate(valid_compliance_messages())]


def skipped_event_text() -> str:
    """A ConfigurationItemChangeNotification (EC2 instance, ~4 KB) in an SNS event: skipped, never routed."""
    [path] = sorted(CONFIG_SNS.glob(f"{SKIPPED_FIXTURE_PREFIX}*.json"))
    return json.dumps(sns_lambda_event(load(path)))
