"""Structured logs and CloudWatch EMF metrics, through Powertools.

Every outcome is logged once, as JSON, without secrets (only notification fields, route and
destination names, and error sentences that the destinations already scrubbed). Metrics are
counted per invocation and emitted at its end, one EMF document per (metric, dimension), so a batch
of a hundred messages costs a handful of log lines, not a hundred.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

if TYPE_CHECKING:
    from .pipeline import Outcome

SERVICE = "compliance-notifier"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ComplianceNotifier")

class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of the record, not at import time: the demo and
    the tests redirect it, and a handler holding an old stream would write to a closed file."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """Ignored: the stream is always the current stderr."""


# Logs go to stderr so that CLI output on stdout (explain's JSON) stays machine-readable; on Lambda
# both streams reach CloudWatch Logs.
logger = Logger(service=SERVICE, logger_handler=_CurrentStderrHandler())


def log_outcomes(outcomes: Iterable[Outcome]) -> None:
    for outcome in outcomes:
        record = outcome.to_json()
        if outcome.status == "invalid":
            logger.warning("invalid message", extra={"outcome": record})
        elif outcome.status == "skipped":
            logger.debug("skipped message", extra={"outcome": record})
        elif outcome.failed_deliveries:
            logger.error("delivery failed", extra={"outcome": record})
        else:
            logger.info(f"{outcome.status} message", extra={"outcome": record})


def count(outcomes: Iterable[Outcome]) -> Counter[tuple[str, str, str]]:
    """(metric, dimension name, dimension value) → count: received by source; skipped and invalid by
    message type; routed, unrouted, duplicate, stale by rule; delivered and failed by destination;
    blocked (remediations a guard rail stopped) by reason."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for outcome in outcomes:
        counts["received", "source", outcome.message.source] += 1
        rule = outcome.notification.rule if outcome.notification else "-"
        if outcome.status in ("skipped", "invalid"):
            counts[outcome.status, "message_type", outcome.message_type or "-"] += 1
        else:
            counts[outcome.status, "rule", rule] += 1
        for delivery in outcome.deliveries:
            if delivery.action in ("sent", "invoked"):
                counts["delivered", "destination", delivery.destination] += 1
            elif delivery.action == "failed":
                counts["failed", "destination", delivery.destination] += 1
            elif delivery.action.startswith("blocked:"):  # a guard rail stopped a remediation
                counts["blocked", "reason", delivery.action.removeprefix("blocked:")] += 1
    return counts


def emit_metrics(counts: Counter[tuple[str, str, str]]) -> None:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    for (metric, dimension, value), number in sorted(counts.items()):
        with single_metric(name=metric, unit=MetricUnit.Count, value=number, namespace=NAMESPACE) as emf:
            emf.add_dimension(name=dimension, value=value)
