"""The body a webhook destination sends: a versioned JSON document, or what the user's template makes.

Version 1 (`schemas/webhook-payload.v1.schema.json` is its contract; every test payload is checked
against it) follows the Standard Webhooks payload advice — `type`, an ISO 8601 `timestamp` of when
the event happened (not of the attempt: that is the `webhook-timestamp` header) — with the data
squashed at the top level:

    {"version": 1, "type": "compliance.change", "id": "msg_…", "timestamp": "2024-…Z",
     "notification": {account, region, rule, rule_arn, resource_type, resource_id,
                      new: {compliance, ordering_timestamp, recorded_at, invoked_at, annotation},
                      old: {…} | null, created_at, record_version},
     "transition": {kind, from, to, in_words}, "routes": […], "links": {resource, rule},
     "message_id": "…" | null}

Version 1 is frozen (the schema forbids unknown keys, so a receiver may validate strictly): a new field
comes with version 2, which a destination opts into with `version: 2`.

`id` is also the `webhook-id` header: derived from the change (`ComplianceNotification.content_key`)
and the destination's name, so a retry, a replay or Config re-sending the same evaluation carries the
same id and a receiver can drop the duplicate, while two destinations never share one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..errors import DeliveryError, NotifierError
from ..notification import ComplianceNotification, EvaluationResult
from ..render import Renderer, RenderError, console_links, message_context, sample_outgoing
from .base import Outgoing

PAYLOAD_VERSIONS = (1,)
EVENT_TYPE = "compliance.change"
TEMPLATE_NAME = "webhook.json.j2"  # in the destination's template set, when it names one


def webhook_id(destination: str, notification: ComplianceNotification) -> str:
    """`msg_` + 32 hex digits: stable per (change, destination), and never a '.', which the signed
    content `id.timestamp.body` uses as its separator."""
    digest = hashlib.sha256(f"{destination}\n{notification.content_key}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def payload_v1(outgoing: Outgoing, message_id: str) -> dict[str, Any]:
    n, t = outgoing.notification, outgoing.transition
    return {
        "version": 1,
        "type": EVENT_TYPE,
        "id": message_id,
        "timestamp": n.new.ordering_timestamp,
        "notification": {
            **n.identity(),
            "new": _evaluation(n.new),
            "old": _evaluation(n.old) if n.old is not None else None,
            "created_at": n.created_at,
            "record_version": n.record_version,
        },
        "transition": {**t.as_dict(), "in_words": t.in_words},
        "routes": list(outgoing.routes),
        "links": console_links(n.region, n.rule, n.resource_type, n.resource_id),
        "message_id": outgoing.message_id,
    }


def _evaluation(result: EvaluationResult) -> dict[str, Any]:
    return {
        "compliance": result.compliance.value,
        "ordering_timestamp": result.ordering_timestamp,
        "recorded_at": result.recorded_at,
        "invoked_at": result.invoked_at,
        "annotation": result.annotation,
    }


def encode(document: Any) -> bytes:
    """Compact, ASCII-only JSON: the exact bytes signed and sent. ASCII because a lone surrogate from the
    inbound JSON could not be encoded as UTF-8, and because no receiver can then re-encode it differently."""
    return json.dumps(document, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")


class PayloadBuilder:
    """Builds one destination's body: the versioned document, or its template's rendering of it."""

    def __init__(self, destination: str, renderer: Renderer, *, version: int = 1, template_set: str | None = None):
        if isinstance(version, bool) or version not in PAYLOAD_VERSIONS:
            known = ", ".join(map(str, PAYLOAD_VERSIONS))
            raise NotifierError(f"destination {destination!r}: payload version {version!r} is unknown (known: {known})")
        self.destination = destination
        self.renderer = renderer
        self.template_set = template_set
        if template_set is not None:
            # Trial-render now: a broken template fails the config load, not the first violation at 3 a.m.
            try:
                self.body(sample_outgoing())
            except TemplateProblem as exc:
                raise NotifierError(f"destination {destination!r}: {exc.reason}") from None

    def body(self, outgoing: Outgoing) -> tuple[str, bytes]:
        """(webhook id, body bytes). A template problem is permanent: retrying renders the same."""
        message_id = webhook_id(self.destination, outgoing.notification)
        document = payload_v1(outgoing, message_id)
        if self.template_set is None:
            return message_id, encode(document)
        context = {**message_context(outgoing), "payload": document, "webhook_id": message_id}
        try:
            text = self.renderer.render_template(self.template_set, TEMPLATE_NAME, context)
        except RenderError as exc:
            raise TemplateProblem(self.destination, f"cannot render the webhook body: {exc}") from None
        try:
            shaped = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"{self.template_set}/{TEMPLATE_NAME}"
            reason = f"{where} did not render JSON ({exc.msg} at line {exc.lineno}); use |tojson for every value"
            raise TemplateProblem(self.destination, reason) from None
        return message_id, encode(shaped)


class TemplateProblem(DeliveryError):
    """The user's webhook template failed or rendered something that is not JSON (never retryable)."""

    def __init__(self, destination: str, reason: str) -> None:
        super().__init__(destination, reason, retryable=False)
        self.reason = reason
