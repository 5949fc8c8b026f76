"""The SQS event source mapping, played by the demo: batches from the intake queue to the notifier's handler.

Each batch of up to 10 messages becomes the event Lambda hands a function (`Records[]` with `messageId`,
`receiptHandle`, `body`, `attributes`, `eventSource: aws:sqs`, ...), goes to the real
`notifier.handler.lambda_handler`, and every message not listed in its `batchItemFailures` is deleted,
as Lambda does with ReportBatchItemFailures on. A listed one stays in the queue for SQS to retry.
Each event is saved under events/, ready for `compliance-notifier explain`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .aws import REGION, Account, EmbeddedAws
from .narrate import output_to

BATCH_SIZE = 10  # the most one ReceiveMessage returns


@dataclass
class Intake:
    """What the queue handed the handler over the demo, for the narration and the summary."""

    events_dir: Path
    log: Path
    invocations: int = 0  # SQS batches and digest flushes
    flushes: int = 0
    records: int = 0
    failures: list[str] = field(default_factory=list)  # batchItemFailures' message ids

    def drain(self, aws: EmbeddedAws, account: Account) -> int:
        """Receive until the queue is empty; returns how many messages this call handed the handler."""
        from .. import handler

        sqs, handed = aws.client("sqs"), 0
        while True:
            messages = sqs.receive_message(
                QueueUrl=account.queue_url,
                MaxNumberOfMessages=BATCH_SIZE,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return handed
            event = {"Records": [_record(message, account.queue_arn) for message in messages]}
            self._save(event)
            with output_to(self.log):
                answer = handler.lambda_handler(event, None)
            failed = {failure["itemIdentifier"] for failure in answer.get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
                sqs.delete_message_batch(QueueUrl=account.queue_url, Entries=entries)
            self.invocations += 1
            self.records += len(messages)
            self.failures += sorted(failed)
            handed += len(messages)

    def flush_digests(self) -> list[dict[str, Any]]:
        """What the one-minute EventBridge schedule does: invoke the handler with the flush event."""
        from .. import handler

        with output_to(self.log):
            answer = handler.lambda_handler({"notifier": "flush-digests"}, None)
        self.invocations += 1
        self.flushes += 1
        flushed: list[dict[str, Any]] = answer.get("digests", [])
        return flushed

    def _save(self, event: dict[str, Any]) -> None:
        self.events_dir.mkdir(parents=True, exist_ok=True)
        path = self.events_dir / f"{self.invocations + 1:03d}-sqs-batch.json"
        path.write_text(json.dumps(event, indent=2), encoding="utf-8")


def _record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
