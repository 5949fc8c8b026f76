"""Dry runs (`dry_run: true`) at the lowest layer: the destination's own code runs, and what it would put
on the wire is recorded instead of sent.

    Jira, ServiceNow, webhook, Slack   HttpChannel ─► requests.Session ─► RecordingAdapter (not HTTPAdapter)
                                       captures the PreparedRequest exactly as requests would send it, masks
                                       it, and answers with the module's `dry_run_answer` (vendor-shaped)
    SES, Lambda                        RecordingAwsClient stands in for the boto3 client: the API call, its
                                       REST address from botocore's own service model, its parameters
    SMTP, file                         the destination records the envelope and MIME / the JSON line itself

Why at the transport: auth, headers, signatures, body bytes and the classification of answers are the
production code path, so the record is the request production would send, not a description of it; the
vendor-shaped answers (search → none found → create → a DRYRUN key) let a flow of several calls run whole.

Masking happens here, at capture, so no record ever holds a secret: Authorization, Proxy-Authorization
and Cookie headers, headers named like a credential, any header whose value is (or holds) one of the
destination's resolved secret references, secret-looking query parameters and form fields (OAuth
client_secret, password), the URL path when it is the secret (Slack), and every remaining occurrence of
a secret value anywhere in the URL, headers or body.

Each delivery collects its requests in a ContextVar (`recording()`), so threads delivering at once to the
same destination never mix their records.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.response import HTTPResponse

from ..errors import NotifierError
from ..telemetry import logger

if TYPE_CHECKING:
    from email.message import EmailMessage

    from ..secrets import SecretResolver
    from .base import DestinationSpec
    from .email import SmtpEmailDestination

# (method, URL path, JSON body or None) -> (status, answer): a JSON-able answer, or a str sent as text/plain.
Answer = Callable[[str, str, Any], tuple[int, Any]]
Request = dict[str, Any]  # {"method", "url", "headers", "body"} (+ "body_text", "operation")

MASK = "***"
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
_CREDENTIAL_NAME = re.compile(r"auth|token|secret|key|cookie|pass|session|credential", re.IGNORECASE)
_PUBLIC_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature"})  # a signature is no secret
_SECRET_FIELDS = frozenset({"client_secret", "password", "refresh_token", "access_token", "client_assertion"})
_MIN_SCRUBBED = 6  # shorter secret values are masked where they are a whole value, not as substrings

_current: ContextVar[list[Request] | None] = ContextVar("dry_run_requests", default=None)


@contextmanager
def recording() -> Iterator[list[Request]]:
    """Collect the requests recorded in this block (one delivery), in the order they were made."""
    made: list[Request] = []
    token = _current.set(made)
    try:
        yield made
    finally:
        _current.reset(token)


def record(request: Request) -> None:
    made = _current.get()
    if made is None:  # no delivery is listening (nothing calls a rehearsing channel elsewhere): keep it in the log
        logger.info("dry run: a request outside any delivery", extra={"dry_run_request": request})
        return
    made.append(request)


@dataclass(frozen=True, slots=True)
class RequestMask:
    """How one dry-run destination's requests are masked before they are recorded."""

    secrets: SecretResolver
    references: tuple[str, ...]  # every secret reference the destination holds
    path_is_secret: bool = False  # Slack: the webhook URL's path is the credential
    exact_body: bool = False  # webhook: keep the exact bytes too, since the signature covers them

    @classmethod
    def of(cls, spec: DestinationSpec, secrets: SecretResolver, **how: bool) -> RequestMask:
        from ..secret_references import secret_uses

        return cls(secrets, tuple(use.reference for use in secret_uses({spec.name: spec})), **how)

    def secret_values(self) -> tuple[str, ...]:
        """The values behind the references now (the resolver caches them, and the request being recorded
        has just resolved them). One that does not resolve cannot have been sent."""
        values: list[str] = []
        for reference in self.references:
            try:
                value = self.secrets.resolve(reference).strip()
            except NotifierError:
                continue
            values.extend(v for v in (value, value.removeprefix("whsec_")) if v)
        return tuple(sorted(set(values), key=len, reverse=True))

    def http(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Request:
        secrets = self.secret_values()
        text = body.decode("utf-8", "replace") if body else None
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if text is not None and "x-www-form-urlencoded" in content_type:
            text = _masked_pairs(text)
        shown: Request = {
            "method": method,
            "url": self._url(url, secrets),
            "headers": {name: _header(name, value, secrets) for name, value in headers.items()},
            "body": _body(text, secrets),
        }
        if self.exact_body and text is not None:
            shown["body_text"] = _scrubbed(text, secrets)
        return shown

    def document(self, method: str, url: str, body: Any, **extra: str) -> Request:
        """A request that is not HTTP on our side (an AWS API call, SMTP), scrubbed the same way."""
        secrets = self.secret_values()
        return {"method": method, "url": _scrubbed(url, secrets), "headers": {}, "body": _scrub(body, secrets), **extra}

    def _url(self, url: str, secrets: tuple[str, ...]) -> str:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]  # credentials in a URL are refused at build; never shown anyway
        if self.path_is_secret:
            return f"{parts.scheme}://{netloc}/{MASK}"
        shown = urlunsplit((parts.scheme, netloc, parts.path, _masked_pairs(parts.query), parts.fragment))
        return _scrubbed(shown, secrets)


def _header(name: str, value: str, secrets: tuple[str, ...]) -> str:
    lower = name.lower()
    if lower in _AUTH_HEADERS:
        scheme, _, credentials = value.partition(" ")
        return f"{scheme} {MASK}" if credentials else MASK  # the scheme (Basic, Bearer) helps; nothing after it
    if lower not in _PUBLIC_HEADERS and _CREDENTIAL_NAME.search(lower):
        return MASK
    if value.strip() in secrets:
        return MASK
    return _scrubbed(value, secrets)


def _masked_pairs(encoded: str) -> str:
    """A query string or form body with secret-looking values masked; every other byte kept as it was."""
    if not encoded:
        return encoded
    pairs = []
    for pair in encoded.split("&"):
        name, sep, value = pair.partition("=")
        plain = unquote_plus(name).lower()
        secret = plain in _SECRET_FIELDS or (_CREDENTIAL_NAME.search(plain) and not plain.startswith("sysparm_"))
        pairs.append(f"{name}{sep}{MASK}" if sep and value and secret else pair)
    return "&".join(pairs)


def _body(text: str | None, secrets: tuple[str, ...]) -> Any:
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return _scrubbed(text, secrets)
    return _scrub(parsed, secrets)


def _scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return MASK if value.strip() in secrets else _scrubbed(value, secrets)
    if isinstance(value, dict):
        return {k: MASK if k in _SECRET_FIELDS and v else _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, secrets) for item in value]
    return value


def _scrubbed(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:  # longest first, so a value holding another is replaced whole
        if len(secret) >= _MIN_SCRUBBED:
            text = text.replace(secret, MASK).replace(quote(secret, safe=""), MASK)
    return text


class RecordingAdapter(BaseAdapter):
    """A transport that records each request (masked) and answers it like the vendor would; nothing is sent."""

    def __init__(self, mask: RequestMask, answer: Answer) -> None:
        super().__init__()
        self.mask = mask
        self.answer = answer

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        method, url = request.method or "GET", request.url or ""
        record(self.mask.http(method, url, request.headers, body))
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None  # a form (OAuth) or text: the answer goes by method and path
        status, answer = self.answer(method, urlsplit(url).path, parsed)
        return _response(request, status, answer, self)

    def close(self) -> None:
        """Nothing to release: no connection was ever opened."""


def _response(request: requests.PreparedRequest, status: int, answer: Any, adapter: BaseAdapter) -> requests.Response:
    if answer is None:
        content, content_type = b"", None
    elif isinstance(answer, str):
        content, content_type = answer.encode("utf-8"), "text/plain; charset=utf-8"
    else:
        content, content_type = json.dumps(answer).encode("utf-8"), "application/json;charset=UTF-8"
    headers = {"Content-Length": str(len(content)), **({"Content-Type": content_type} if content_type else {})}
    response = requests.Response()
    response.status_code = status
    response.reason = HTTPStatus(status).phrase
    response.headers = CaseInsensitiveDict(headers)
    response.raw = HTTPResponse(body=io.BytesIO(content), headers=headers, status=status, preload_content=False)
    response.encoding = "utf-8"
    response.url = request.url or ""
    response.request = request
    # What requests' own HTTPAdapter sets (a 401 hook re-sends through it); the stubs type it as HTTPAdapter.
    response.connection = adapter  # type: ignore[assignment]
    return response


class RecordingAwsClient:
    """Stands in for the boto3 client of a dry-run destination: each call the destination makes is recorded
    with its parameters and the address botocore would send it to (from the client's service model); none
    is made. Only the calls the destinations make are offered (SES SendEmail, Lambda Invoke)."""

    def __init__(self, client: Any, mask: RequestMask) -> None:
        self.meta = client.meta  # endpoint, region and service model: local data, no call
        self._mask = mask

    def send_email(self, **params: Any) -> dict[str, Any]:
        raw = params.get("Content", {}).get("Raw", {}).get("Data")
        if isinstance(raw, bytes):  # the MIME message as text, to be read
            params = {**params, "Content": {"Raw": {"Data": raw.decode("utf-8", "replace")}}}
        self._record("SendEmail", params)
        return {"MessageId": "dry-run"}

    def invoke(self, **params: Any) -> dict[str, Any]:
        payload = params.get("Payload")
        if isinstance(payload, bytes | str):
            params = {**params, "Payload": json.loads(payload)}
        self._record("Invoke", params)
        return {"StatusCode": 202, "Payload": io.BytesIO(b"")}

    def _record(self, operation: str, params: dict[str, Any]) -> None:
        model = self.meta.service_model
        http = model.operation_model(operation).http
        uri = str(http["requestUri"]).partition("?")[0]
        path = re.sub(r"\{(\w+)\+?\}", lambda m: quote(str(params.get(m.group(1), "")), safe=""), uri)
        url = str(self.meta.endpoint_url).rstrip("/") + path
        record(self._mask.document(str(http["method"]), url, params, operation=f"{model.service_name}:{operation}"))


def record_file_append(path: Path, line: bytes) -> None:
    """The `file` destination's dry run: the JSON line it would append, parsed back for reading."""
    record({"method": "APPEND", "url": path.absolute().as_uri(), "headers": {}, "body": json.loads(line)})


def record_smtp(mask: RequestMask, smtp: SmtpEmailDestination, message: EmailMessage) -> None:
    """An SMTP destination's dry run: the session it would hold (never the password) and the MIME message."""
    import email.policy

    session = {"tls": smtp.tls, "username": smtp.username, "mail_from": smtp.sender, "rcpt_to": smtp.to + smtp.cc}
    text = message.as_bytes(policy=email.policy.SMTP).decode("utf-8", "replace")
    record(mask.document("SMTP", f"smtp://{smtp.host}:{smtp.port}", {**session, "message": text}))
