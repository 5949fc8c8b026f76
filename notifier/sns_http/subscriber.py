"""The WSGI application that receives SNS HTTP(S) deliveries of the Config topic.

    request ─► method (405) ─► Content-Type (415) ─► Content-Length (411, 413: never read past it)
            ─► JSON object (400) ─► x-amz-sns-* headers agree, topic allowed, signature verified (403;
               503 when the certificate cannot be fetched now) ─► by Type:
                 Notification              pipeline → 200 once every delivery is done or recorded
                                           (routed, unrouted, skipped, invalid, duplicate, stale,
                                           suppressed), 500 when one failed so that SNS retries it
                 SubscriptionConfirmation  GET the checked SubscribeURL → 200 (502 if SNS said no)
                 UnsubscribeConfirmation   logged, nothing done → 200
    GET /healthz ─► 200 {"status": "ok"}  (liveness only: it touches no destination or store)

SNS retries 5xx and 429 answers only; every 4xx here is final, which is what a forged, oversized or
malformed request deserves. Refusals answer one generic body (the reason is logged, not told to
whoever sent the request). `handle` is a function of the request and the injected pipeline, key
source and confirmer; `__call__` only adapts WSGI to it.

Logs name message ids, topics, types and outcomes; never a body, a header value other than those,
the SubscribeURL (its Token) or the config.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import orjson

from ..batch import process_batch
from ..envelopes import MAX_MESSAGE_BYTES, InboundMessage, decode
from ..errors import NotifierError
from ..message_types import COMPLIANCE_MESSAGE_TYPE
from ..pipeline import Pipeline
from ..telemetry import log_outcomes, logger
from .confirmations import Confirm, check_subscribe_url, https_confirmer
from .errors import CertificateUnavailable, UntrustedMessage
from .signature import PublicKeyFor, message_type, topic_region, verify_message

# SNS's own limit on a message. Only compliance changes are routed, and they are about 1.2 KB: a body
# over this is a configuration item (skipped anyway) or not from SNS, and a 413 costs nothing.
MAX_BODY_BYTES = MAX_MESSAGE_BYTES
HEALTH_PATH = "/healthz"
# SNS sends text/plain; charset=UTF-8 unless the subscription's delivery policy says application/json.
ACCEPTED_MEDIA_TYPES = frozenset({"text/plain", "application/json"})
# Destination retries inside one request stop after this long (our choice, not an AWS figure): SNS does
# not wait for ever, and what did not go out gets a 500, so SNS delivers it again.
DELIVERY_BUDGET_SECONDS = 10.0
# One resource's notifications are processed one after another, as within a batch (notifier.batch):
# the ordering guard and the ticket lifecycle assume it. Striped locks keep that bounded in memory.
RESOURCE_LOCKS = 64
_RESOURCE_FIELDS = ("awsAccountId", "awsRegion", "configRuleName", "resourceType", "resourceId")
_LOGGED_CHARACTERS = 256  # message ids and topics come from unverified input when a request is refused


class HttpRequest(NamedTuple):
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    read_body: Callable[[int], bytes]  # read exactly n bytes (fewer only when the client stopped)
    remote_addr: str = "-"


class HttpResponse(NamedTuple):
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


class SnsSubscriber:
    def __init__(
        self,
        pipeline: Pipeline,
        topics: Iterable[str],
        *,
        public_key_for: PublicKeyFor,
        confirm: Confirm | None = None,
        workers: int = 1,
        max_body: int = MAX_BODY_BYTES,
        budget_seconds: float = DELIVERY_BUDGET_SECONDS,
    ) -> None:
        self.pipeline = pipeline
        self.topics = frozenset(topics)
        if not self.topics:
            raise NotifierError("an SNS subscriber needs at least one allowed topic ARN")
        self.public_key_for = public_key_for
        self.confirm = confirm or https_confirmer()
        self.workers = workers
        self.max_body = max_body
        self.budget_seconds = budget_seconds
        self._resource_locks = tuple(threading.Lock() for _ in range(RESOURCE_LOCKS))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        try:
            response = self.handle(_request_of(environ))
        except Exception as exc:  # a bug must still answer, and SNS should retry: 500, the class name only
            logger.error("unexpected error handling a request", extra={"error": type(exc).__name__})
            response = HttpResponse(500, {"error": "internal error"})
        body = orjson.dumps(response.body)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *response.headers,
        ]
        start_response(f"{response.status} {_REASONS.get(response.status, 'Status')}", headers)
        return [body]

    def handle(self, request: HttpRequest) -> HttpResponse:
        if request.path == HEALTH_PATH:
            if request.method not in ("GET", "HEAD"):
                return HttpResponse(405, {"error": "method not allowed"}, (("Allow", "GET, HEAD"),))
            return HttpResponse(200, {"status": "ok", "service": "compliance-notifier"})
        if request.method != "POST":
            return HttpResponse(405, {"error": "method not allowed"}, (("Allow", "POST"),))
        if not _accepted_content_type(request.headers.get("content-type", "")):
            return HttpResponse(415, {"error": "expected text/plain or application/json, UTF-8"})
        raw_length = request.headers.get("content-length")
        if raw_length is None:
            return HttpResponse(411, {"error": "Content-Length required"})
        if not (raw_length.isascii() and raw_length.isdigit()):  # "²".isdigit() is True; int() refuses it
            return HttpResponse(400, {"error": "bad Content-Length"})
        length = int(raw_length)
        if length > self.max_body:  # decided before reading a single byte of the body
            return HttpResponse(413, {"error": f"body over {self.max_body} bytes"})
        body = request.read_body(length)
        if len(body) != length:
            return HttpResponse(400, {"error": "body shorter than its Content-Length"})
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return HttpResponse(400, {"error": "body is not JSON"})
        if not isinstance(document, dict):
            return HttpResponse(400, {"error": "body is not a JSON object"})
        return self._handle_message(document, request)

    def _handle_message(self, document: dict[str, Any], request: HttpRequest) -> HttpResponse:
        try:
            kind = self._authenticate(document, request.headers)
            if kind == "SubscriptionConfirmation":
                region = topic_region(document["TopicArn"])
                check_subscribe_url(document["SubscribeURL"], region, document["TopicArn"])
        except UntrustedMessage as exc:
            self._log("sns message refused", document, request, status=403, reason=str(exc))
            return HttpResponse(403, {"error": "message refused"})
        except CertificateUnavailable as exc:
            self._log("sns signing certificate unavailable", document, request, status=503, reason=str(exc))
            return HttpResponse(503, {"error": "try again later"})
        if kind == "Notification":
            return self._process(document, request)
        if kind == "SubscriptionConfirmation":
            return self._confirm(document, request)
        self._log("sns unsubscribe confirmation received; nothing done", document, request, status=200)
        return HttpResponse(200, {"status": "ignored"})

    def _authenticate(self, document: dict[str, Any], headers: Mapping[str, str]) -> str:
        """The message's Type once it is provably from SNS, for an allowed topic; else UntrustedMessage."""
        kind = message_type(document)
        header_kind = headers.get("x-amz-sns-message-type")
        if header_kind is not None and header_kind != kind:
            raise UntrustedMessage("the x-amz-sns-message-type header disagrees with the body's Type")
        topic = document.get("TopicArn")
        header_topic = headers.get("x-amz-sns-topic-arn")
        if header_topic is not None and header_topic != topic:
            raise UntrustedMessage("the x-amz-sns-topic-arn header disagrees with the body's TopicArn")
        if not isinstance(topic, str) or topic not in self.topics:  # before any fetch: costs us nothing
            raise UntrustedMessage("the topic is not allowed")
        verify_message(document, self.public_key_for)
        return kind

    def _process(self, document: dict[str, Any], request: HttpRequest) -> HttpResponse:
        [message] = decode(document)  # an SNS HTTP body is exactly one message (source "sns-http")
        try:
            with self._resource_locks[_stripe(message)]:
                deadline = time.monotonic() + self.budget_seconds
                [outcome] = process_batch(self.pipeline, [message], deadline=deadline, workers=self.workers)
        except Exception as exc:  # the state store is unreachable, say: nothing is recorded, so SNS must retry
            self._log("sns notification not processed", document, request, status=500, error=type(exc).__name__)
            return HttpResponse(500, {"status": "error", "message_id": message.message_id})
        log_outcomes([outcome])
        status = 500 if outcome.failed_deliveries else 200
        self._log("sns notification", document, request, status=status, outcome=outcome.status)
        answer = "failed" if status == 500 else outcome.status
        return HttpResponse(status, {"status": answer, "message_id": message.message_id})

    def _confirm(self, document: dict[str, Any], request: HttpRequest) -> HttpResponse:
        try:
            self.confirm(document["SubscribeURL"])
        except NotifierError as exc:
            self._log("sns subscription not confirmed", document, request, status=502, reason=str(exc))
            return HttpResponse(502, {"error": "confirmation failed"})
        self._log("sns subscription confirmed", document, request, status=200)
        return HttpResponse(200, {"status": "confirmed"})

    def _log(self, text: str, document: dict[str, Any], request: HttpRequest, *, status: int, **more: str) -> None:
        fields = {
            "http_status": status,
            "sns_type": _short(document.get("Type")),
            "message_id": _short(document.get("MessageId")),
            "topic": _short(document.get("TopicArn")),
            "remote_addr": request.remote_addr,
            **more,
        }
        (logger.info if status < 400 else logger.warning)(text, extra=fields)


def _accepted_content_type(value: str) -> bool:
    media_type, *parameters = (part.strip().lower() for part in value.split(";"))
    if media_type not in ACCEPTED_MEDIA_TYPES:
        return False
    charsets = [p.partition("=")[2].strip('"') for p in parameters if p.startswith("charset=")]
    return all(charset in ("utf-8", "utf8") for charset in charsets)


def _stripe(message: InboundMessage) -> int:
    body = message.body
    if body is None or body.get("messageType") != COMPLIANCE_MESSAGE_TYPE:
        return 0  # touches no resource state; sharing stripe 0 only costs a little concurrency
    return hash(tuple(str(body.get(name)) for name in _RESOURCE_FIELDS)) % RESOURCE_LOCKS


def _short(value: Any) -> str | None:
    return value[:_LOGGED_CHARACTERS] if isinstance(value, str) else None


def _request_of(environ: dict[str, Any]) -> HttpRequest:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    stream = environ["wsgi.input"]

    def read_body(length: int) -> bytes:
        chunks, remaining = [], length
        while remaining > 0:
            chunk = stream.read(remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    return HttpRequest(
        environ.get("REQUEST_METHOD", "GET"),
        environ.get("PATH_INFO", "/") or "/",
        headers,
        read_body,
        environ.get("REMOTE_ADDR", "-"),
    )


_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
