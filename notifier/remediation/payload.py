"""The payload a remediation Lambda receives: documented, versioned, validated by its JSON Schema
(schemas/remediation-payload.v1.schema.json).

    {"version": 1, "type": "compliance.remediation", "idempotency_key": "<64 hex>", "dry_run": false,
     "destination": "iam-fixer", "requested_at": "2024-05-01T12:00:00.000Z", "message_id": "...",
     "notification": {account, region, rule, rule_arn, resource_type, resource_id, compliance, annotation,
                      ordering_timestamp, recorded_at, previous_compliance, previous_ordering_timestamp,
                      created_at, record_version},
     "transition": {"kind": "violated", "from": "COMPLIANT", "to": "NON_COMPLIANT"},
     "routes": ["iam-violations"]}

Compatibility: within version 1 fields are only ever added, never removed, renamed or given a new
meaning, so a consumer must ignore fields it does not know. Anything else is version 2.

`idempotency_key` is the same for every delivery of one change to one destination (SNS retries, Config
re-sends, replays): a function that keeps the keys it has acted on can drop AWS's own duplicate async
deliveries. `dry_run` asks the function to change nothing; the notifier itself only invokes in `enforce`
mode, so it sends false, but a person testing the function by hand (or a later shadow mode) sends true,
and the example function honours it.

This module imports nothing at run time but the standard library: the remediation Lambda imports it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..destinations.base import Outgoing

PAYLOAD_VERSION = 1
PAYLOAD_TYPE = "compliance.remediation"
SCHEMA_FILE = "remediation-payload.v1.schema.json"


def idempotency_key(content_key: str, destination: str) -> str:
    """SHA-256 of the change (`ComplianceNotification.content_key`) and the destination name, encoded
    as a JSON pair so that no choice of separator can make two different pairs collide."""
    return hashlib.sha256(json.dumps([content_key, destination]).encode("utf-8")).hexdigest()


def build_payload(outgoing: Outgoing, *, destination: str, dry_run: bool, requested_at: datetime) -> dict[str, Any]:
    n, t = outgoing.notification, outgoing.transition
    return {
        "version": PAYLOAD_VERSION,
        "type": PAYLOAD_TYPE,
        "idempotency_key": idempotency_key(n.content_key, destination),
        "dry_run": dry_run,
        "destination": destination,
        "requested_at": _utc_iso(requested_at),
        "message_id": outgoing.message_id,
        "notification": {
            **n.identity(),
            "compliance": n.new.compliance.value,
            "annotation": n.new.annotation,
            "ordering_timestamp": n.new.ordering_timestamp,
            "recorded_at": n.new.recorded_at,
            "previous_compliance": n.old_compliance.value,
            "previous_ordering_timestamp": n.old.ordering_timestamp if n.old else None,
            "created_at": n.created_at,
            "record_version": n.record_version,
        },
        "transition": t.as_dict(),
        "routes": list(outgoing.routes),
    }


def encode_payload(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as Invoke takes it (an async payload may be up to 1 MB; ours is about 1 KB)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _utc_iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
