"""SQS intake: which records Lambda should retry, and which go to the dead-letter queue with a reason.

    invalid record                      → dead-letter queue (retrying cannot make it valid)
    a delivery failed permanently only  → dead-letter queue (retrying cannot make Jira accept a 400)
    a delivery failed and may succeed   → batchItemFailures: SQS retries it; after maxReceiveCount its
                                          redrive policy moves it to the same queue (without a reason
                                          attribute: SQS adds none; `replay` handles both)
    everything else                     → acknowledged

A dead letter carries the record's original body unchanged (so `replay` feeds it through the normal
path, where the duplicate guard stops what already went out) and, as message attributes, the reason,
the failed destinations and where the message was found. Without NOTIFIER_DEAD_LETTER_QUEUE every
failed record is left to SQS's redrive; an invalid one is acknowledged after being logged (and kept by
the `invalid_messages` destination when the config names one). If sending a dead letter fails, the
record is reported as a failure so SQS keeps it: nothing is lost.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from .outcome import Outcome

DEAD_LETTER_QUEUE_ENV = "NOTIFIER_DEAD_LETTER_QUEUE"
_ATTRIBUTE_LIMIT = 1024  # keep attributes short: a reason, not a document

SendDeadLetter = Callable[[str, dict[str, str]], None]  # (original body, attributes)


def dead_letter_reason(outcome: Outcome) -> str | None:
    """Why this record belongs in the dead-letter queue, or None when it does not."""
    if outcome.status == "invalid":
        return f"invalid: {outcome.error}"
    failed = outcome.failed_deliveries
    if failed and not any(d.retryable for d in failed):
        return "; ".join(f"{d.destination}: {d.error}" for d in failed)
    return None


def sqs_answer(
    records: Sequence[Any], outcomes: Sequence[Outcome], send: SendDeadLetter | None
) -> list[dict[str, str]]:
    """The `batchItemFailures` of an SQS event, dead-lettering what retrying cannot fix when `send` is set."""
    bodies = {r.get("messageId"): r.get("body") for r in records if isinstance(r, dict)}
    failures: dict[str, None] = {}
    for outcome in outcomes:
        record_id = outcome.message.record_id
        if record_id is None:
            continue
        reason = dead_letter_reason(outcome) if send is not None else None
        body = bodies.get(record_id)
        if send is not None and reason is not None and isinstance(body, str):
            try:
                send(body, _attributes(outcome, reason))
                continue
            except Exception:  # the dead-letter queue is unreachable: let SQS keep the record instead
                failures[record_id] = None
                continue
        if outcome.failed_deliveries:
            failures[record_id] = None
    return [{"itemIdentifier": record_id} for record_id in failures]


def _attributes(outcome: Outcome, reason: str) -> dict[str, str]:
    attributes = {
        "reason": reason[:_ATTRIBUTE_LIMIT],
        "status": outcome.status,
        "location": outcome.message.location,
    }
    failed = [d.destination for d in outcome.failed_deliveries]
    if failed:
        attributes["failed_destinations"] = ",".join(failed)[:_ATTRIBUTE_LIMIT]
    return attributes


def sqs_sender(queue_url: str, client: Any) -> SendDeadLetter:
    def send(body: str, attributes: dict[str, str]) -> None:
        client.send_message(
            QueueUrl=queue_url,
            MessageBody=body,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )

    return send


def sender_from_environment() -> SendDeadLetter | None:
    queue_url = os.environ.get(DEAD_LETTER_QUEUE_ENV)
    if not queue_url:
        return None
    from .destinations.registry import default_client_factory

    return sqs_sender(queue_url, default_client_factory("sqs", None))
