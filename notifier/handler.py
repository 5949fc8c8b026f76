"""Lambda entry point: `notifier.handler.lambda_handler` (SNS, SQS, EventBridge).

The pipeline (config, route tree, destinations, state) is built on the first invocation of a
container and reused. For SQS the answer lists only the records with a failed delivery in
`batchItemFailures`; invalid records are logged with their reason and not retried (retrying
cannot make them valid). For SNS and EventBridge, which invoke asynchronously, a failed delivery
raises so that Lambda retries the event; the state store keeps what already went out from going twice.
"""

from __future__ import annotations

import time
from typing import Any

from .envelopes import decode
from .errors import NotifierError
from .pipeline import Outcome, Pipeline
from .telemetry import count, emit_metrics, log_outcomes, logger

# Stop retrying a destination this long before Lambda would time the invocation out.
SAFETY_MARGIN_SECONDS = 5.0

_pipeline: Pipeline | None = None


class DeliveryFailed(NotifierError):
    """Raised to make Lambda retry an SNS/EventBridge event whose delivery failed."""


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    pipeline = _get_pipeline()
    deadline = _deadline(context)
    outcomes = [pipeline.process(message, deadline=deadline) for message in decode(event)]
    log_outcomes(outcomes)
    emit_metrics(count(outcomes))
    failed = [outcome for outcome in outcomes if outcome.failed_deliveries]
    if _is_sqs_event(event):
        ids = dict.fromkeys(o.message.record_id for o in failed if o.message.record_id)
        return {"batchItemFailures": [{"itemIdentifier": record_id} for record_id in ids]}
    if failed:
        raise DeliveryFailed(f"{len(failed)} of {len(outcomes)} message(s) had a failed delivery; see the logs")
    return _summary(outcomes)


def set_pipeline(pipeline: Pipeline | None) -> None:
    """Inject a pipeline (tests, the demo); None makes the next invocation build from the environment."""
    global _pipeline
    _pipeline = pipeline


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
