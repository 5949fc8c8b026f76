"""Lambda entry point: `notifier.handler.lambda_handler` (SNS, SQS, EventBridge).

The pipeline (config, route tree, destinations, state) is built on the first invocation of a
container and reused. For SQS the answer lists in `batchItemFailures` only the records whose delivery
failed and may succeed on a retry; invalid records and permanent failures go to the dead-letter
queue with their reason when NOTIFIER_DEAD_LETTER_QUEUE is set (`notifier.dead_letters`). For SNS
and EventBridge, which invoke asynchronously, a failed delivery
raises so that Lambda retries the event; the state store keeps what already went out from going twice.
The records of one event are processed concurrently, one resource's in order (`notifier.batch`).
"""

from __future__ import annotations

import time
from typing import Any

from .batch import process_batch, workers_from_environment
from .dead_letters import SendDeadLetter, sender_from_environment, sqs_answer
from .envelopes import decode
from .errors import NotifierError
from .pipeline import Outcome, Pipeline
from .telemetry import count, emit_metrics, log_outcomes, logger

# Stop retrying a destination this long before Lambda would time the invocation out.
SAFETY_MARGIN_SECONDS = 5.0

_pipeline: Pipeline | None = None
_UNSET: Any = object()
_send_dead_letter: SendDeadLetter | None = _UNSET  # built from NOTIFIER_DEAD_LETTER_QUEUE on first use


class DeliveryFailed(NotifierError):
    """Raised to make Lambda retry an SNS/EventBridge event whose delivery failed."""


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    pipeline = _get_pipeline()
    if isinstance(event, dict) and event.get("notifier") == "flush-digests":  # the EventBridge schedule
        return {"digests": [flushed._asdict() for flushed in _flush_digests(pipeline)]}
    deadline = _deadline(context)
    # Concurrently (NOTIFIER_WORKERS at once, default 16); one resource's records still in order (notifier.batch).
    outcomes = process_batch(pipeline, decode(event), deadline=deadline, workers=workers_from_environment())
    log_outcomes(outcomes)
    emit_metrics(count(outcomes))
    failed = [outcome for outcome in outcomes if outcome.failed_deliveries]
    _flush_digests(pipeline)  # the first invocation after a window closes sends its digests
    if _is_sqs_event(event):  # retry what may succeed; dead-letter, with its reason, what cannot
        return {"batchItemFailures": sqs_answer(event["Records"], outcomes, _dead_letter_sender())}
    if failed:
        raise DeliveryFailed(f"{len(failed)} of {len(outcomes)} message(s) had a failed delivery; see the logs")
    return _summary(outcomes)


def set_pipeline(pipeline: Pipeline | None) -> None:
    """Inject a pipeline (tests, the demo); None makes the next invocation build from the environment."""
    global _pipeline
    _pipeline = pipeline


def set_dead_letter_sender(sender: SendDeadLetter | None) -> None:
    """Inject where SQS records that cannot succeed go (tests); None: leave them to SQS's redrive."""
    global _send_dead_letter
    _send_dead_letter = sender


def _dead_letter_sender() -> SendDeadLetter | None:
    global _send_dead_letter
    if _send_dead_letter is _UNSET:
        _send_dead_letter = sender_from_environment()
    return _send_dead_letter


def _get_pipeline() -> Pipeline:
    global _pipeline
    if _pipeline is None:
        from .app import pipeline_from_environment

        _pipeline = pipeline_from_environment()
        logger.info("pipeline built", extra={"destinations": sorted(_pipeline.specs)})
    return _pipeline


def _deadline(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + float(remaining()) / 1000 - SAFETY_MARGIN_SECONDS


def _is_sqs_event(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        return False
    return records[0].get("eventSource") == "aws:sqs"


def _summary(outcomes: list[Outcome]) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for outcome in outcomes:
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    return {"processed": len(outcomes), "statuses": statuses}


def _flush_digests(pipeline: Pipeline) -> list[Any]:
    """Send due digests (notifier/digests/flush.py). A failure here must not fail the records just
    processed: they are recorded and held already, and the bucket is retried by the next flush."""
    from .digests.flush import flush_due

    try:
        return list(flush_due(pipeline))
    except NotifierError as exc:
        logger.warning("flushing digests failed; the next invocation retries", extra={"error": str(exc)})
        return []
