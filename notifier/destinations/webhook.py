"""Signed webhooks (`type: webhook`): POST a versioned JSON document, signed per Standard Webhooks.

Every request carries the spec's three headers (contracts/webhook/standard-webhooks.md):

* ``webhook-id``: stable per (change, destination) — the same on every retry and replay, so the
  receiver can use it as an idempotency key (see `webhook_payload.webhook_id`);
* ``webhook-timestamp``: the attempt's integer Unix time, new on every attempt (the receiver rejects
  stale ones to stop replays);
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` once per secret,
  space-separated. Every secret listed signs: that is how the spec does zero-downtime rotation (the
  receiver tries each signature until one verifies). To rotate: add the new secret to `secrets`, move
  the receiver to it, then remove the old one. Secrets are `whsec_` + base64 of 24 to 64 random bytes,
  held as references and resolved per request (the resolver caches them), never logged.

Decisions:

* ``http://`` is refused at build time unless the host is a loopback address (127.0.0.0/8, ::1,
  localhost): a signature proves who sent the body, it does not hide it. Credentials in the URL
  (``user:pass@``) are refused too: they would be literal secrets in the config.
* Redirects are never followed, not even to the same host: Standard Webhooks counts a 3xx as a failed
  delivery ("update the webhook URL instead"), and following one would send the signed body somewhere
  nobody configured. The error names the Location, so fixing the URL is one edit.
* Extra ``headers`` take a literal value or a secret reference (``env:``, ``ssm:``, ``secretsmanager:``,
  resolved per request). A header whose name suggests a credential (auth, token, secret, key, cookie,
  pass) must use a reference, in the config schema and here; the ``webhook-*``, content and host headers
  are ours and cannot be replaced.
* Errors and log lines name the URL without its query string (which sometimes carries a token).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import DeliveryError, NotifierError
from ..secrets import SecretResolver, is_secret_reference, resolve_for_delivery
from .base import DestinationSpec, Outgoing
from .http import HttpChannel
from .webhook_payload import PayloadBuilder

if TYPE_CHECKING:
    from ..digests.message import Digest
    from .registry import BuildContext

DEFAULT_TIMEOUT_SECONDS = 15.0  # the low end of the 15-30 s Standard Webhooks recommends
SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES = 24  # the spec: signing secrets are 24 to 64 random bytes
USER_AGENT = "compliance-notifier"

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)
# The same rule as the config schema's webhook headers patternProperties (a test keeps them in step).
CREDENTIAL_HEADER = re.compile(r"auth|token|secret|key|cookie|pass", re.IGNORECASE)
RESERVED_HEADERS = frozenset(
    {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length", "host"}
)
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")  # tab is allowed in a header value; line breaks are not


def is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def endpoint_problem(url: str) -> str | None:
    """Why this URL may not receive notifications, or None: https anywhere, plain http only to loopback."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https:// URL"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials (user:password@); send them in a header from a secret reference"
    if parts.scheme == "http" and not is_loopback(host):
        return (
            "uses plain http://, which is only allowed to a loopback address (127.0.0.1, ::1, localhost): use https://"
        )
    return None


def signing_key(destination: str, reference: str, value: str) -> bytes:
    """The HMAC key behind a `whsec_` secret. Errors name the reference, never the value."""
    text = value.strip()
    if not text.startswith(SECRET_PREFIX):
        raise _bad_secret(destination, reference, f"does not start with {SECRET_PREFIX!r}")
    encoded = text[len(SECRET_PREFIX) :]
    try:  # padding is optional in the wild (the reference implementation accepts it missing)
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _bad_secret(destination, reference, f"is not base64 after {SECRET_PREFIX!r}") from None
    if len(key) < MIN_KEY_BYTES:
        raise _bad_secret(destination, reference, f"holds fewer than {MIN_KEY_BYTES} bytes")
    return key


def _bad_secret(destination: str, reference: str, problem: str) -> DeliveryError:
    reason = f"the secret {reference} {problem}: a Standard Webhooks secret is whsec_ + base64 of 24-64 random bytes"
    return DeliveryError(destination, reason, retryable=False)


def signature_header(keys: Sequence[bytes], message_id: str, timestamp: str, body: bytes) -> str:
    """One `v1,<signature>` per key, space-separated, all over the same `id.timestamp.body`."""
    content = message_id.encode() + b"." + timestamp.encode() + b"." + body
    signatures = (base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode() for key in keys)
    return " ".join(f"v1,{signature}" for signature in signatures)


@dataclass(frozen=True, slots=True)
class ExtraHeader:
    name: str
    value: str
    is_reference: bool


def extra_headers(destination: str, raw: Any) -> tuple[ExtraHeader, ...]:
    """The configured extra headers, checked now; values are never quoted back (they may be secrets)."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise NotifierError(f"destination {destination!r}: headers must be a mapping of header name to value")
    headers = []
    for name, value in raw.items():
        where = f"destination {destination!r}: header {name!r}"
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise NotifierError(f"{where} is not a valid HTTP header name")
        if name.lower() in RESERVED_HEADERS:
            raise NotifierError(f"{where} is set by compliance-notifier itself and cannot be replaced")
        if not isinstance(value, str) or not value:
            raise NotifierError(f"{where} must have a non-empty string value")
        reference = is_secret_reference(value)
        if not reference and CREDENTIAL_HEADER.search(name):
            reason = "looks like a credential: its value must be a secret reference (env:NAME, ssm:/path, ...)"
            raise NotifierError(f"{where} {reason}")
        if _CONTROL.search(value):
            raise NotifierError(f"{where} holds a line break or control character")
        headers.append(ExtraHeader(name, value, reference))
    return tuple(headers)


class WebhookDestination:
    def __init__(
        self,
        spec: DestinationSpec,
        builder: PayloadBuilder,
        channel: HttpChannel,
        secrets: SecretResolver,
        *,
        target: str,
        shown_url: str,
        secret_references: Sequence[str],
        headers: Sequence[ExtraHeader] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spec = spec
        self.builder = builder
        self.channel = channel
        self.secrets = secrets
        self.target = target  # path and query, after the channel's scheme://host
        self.shown_url = shown_url  # without the query: what errors name
        self.secret_references = tuple(secret_references)
        self.headers = tuple(headers)
        self.clock = clock

    def send(self, outgoing: Outgoing) -> str | None:
        message_id, body = self.builder.body(outgoing)
        self._post(message_id, body)
        return None  # sent

    def send_digest(self, digest: Digest) -> str | None:
        """A window's digest (`schemas/webhook-digest.v1.schema.json`), signed like a single change."""
        from ..digests.formats import digest_message_id, webhook_digest_payload
        from .webhook_payload import encode

        message_id = digest_message_id(self.spec.name, digest)
        self._post(message_id, encode(webhook_digest_payload(digest, message_id)))
        return None

    def _post(self, message_id: str, body: bytes) -> None:
        keys = [self._key(reference) for reference in self.secret_references]
        timestamp = str(int(self.clock()))
        headers = {header.name: self._value(header) for header in self.headers}
        headers.update(
            {
                "Content-Type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": timestamp,
                "webhook-signature": signature_header(keys, message_id, timestamp, body),
            }
        )
        self.channel.request(
            "POST", self.target, body=body, headers=headers, expect_json=False, label=f"POST {self.shown_url}"
        )

    def _key(self, reference: str) -> bytes:
        return signing_key(
            self.spec.name,
            reference,
            resolve_for_delivery(self.secrets, destination=self.spec.name, reference=reference),
        )

    def _value(self, header: ExtraHeader) -> str:
        if not header.is_reference:
            return header.value
        value = resolve_for_delivery(self.secrets, destination=self.spec.name, reference=header.value)
        if _CONTROL.search(value):
            reason = f"the secret {header.value} for header {header.name!r} holds a line break or control character"
            raise DeliveryError(self.spec.name, reason, retryable=False)
        return value


def dry_run_answer(method: str, path: str, body: Any) -> tuple[int, Any]:
    """A receiver's answer to a dry run: any 2xx is a delivery (Standard Webhooks)."""
    return 200, "ok"


def create(spec: DestinationSpec, context: BuildContext) -> WebhookDestination:
    options = spec.options
    url = options.get("url")
    if not isinstance(url, str) or not url:
        raise NotifierError(f"destination {spec.name!r}: a webhook destination needs a url")
    problem = endpoint_problem(url)
    if problem:
        raise NotifierError(f"destination {spec.name!r}: url {problem}")
    references = options.get("secrets")
    if not isinstance(references, list) or not references:
        raise NotifierError(f"destination {spec.name!r}: a webhook destination needs secrets (a list of references)")
    for position, reference in enumerate(references):
        if not isinstance(reference, str) or not is_secret_reference(reference):
            raise NotifierError(
                f"destination {spec.name!r}: secrets[{position}] must be a secret reference "
                "(env:NAME, ssm:/path or secretsmanager:name); the value is not repeated here"
            )
    template = options.get("template")
    builder = PayloadBuilder(
        spec.name, context.renderer, version=options.get("version", 1), template_set=str(template) if template else None
    )
    parts = urlsplit(url)
    channel = HttpChannel(
        spec.name,
        f"{parts.scheme}://{parts.netloc}",
        timeout=float(options.get("timeout") or DEFAULT_TIMEOUT_SECONDS),
        headers={"User-Agent": USER_AGENT, "Accept": "*/*"},
    )
    if spec.dry_run:  # record the signed request, exact body bytes included (the signature covers them)
        from .recording import RequestMask

        channel.rehearse(RequestMask.of(spec, context.secrets, exact_body=True), dry_run_answer)
    return WebhookDestination(
        spec,
        builder,
        channel,
        context.secrets,
        target=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        shown_url=f"{parts.scheme}://{parts.netloc}{parts.path or '/'}",
        secret_references=references,
        headers=extra_headers(spec.name, options.get("headers")),
    )
