"""One place that decides what an HTTP answer means for a delivery: success, retry, or give up.

Every ticketing and webhook channel sends through `HttpChannel.request`, so 429/`Retry-After`, 5xx,
timeouts, refused connections, 401/403, 400 with the vendor's error body, 404 and "200 with an HTML
page" (a hibernating ServiceNow instance, a login portal) are classified identically everywhere.
Errors name the destination and the call, never a credential: auth lives in the session and
requests' exceptions are reduced to their class and the URL path.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter

from ..concurrency import CONNECTIONS_PER_POOL
from ..deadlines import bounded
from ..errors import DeliveryError

if TYPE_CHECKING:
    from .recording import Answer, RequestMask

DEFAULT_TIMEOUT = 10.0
_BODY_SHOWN = 300  # characters of a vendor's error body quoted in an error


class HttpChannel:
    """A requests.Session bound to one destination's base URL, auth and timeout."""

    def __init__(
        self,
        destination: str,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.destination = destination
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        # requests keeps 10 connections per host; a batch's threads may send to one destination more at once.
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, HTTPAdapter(pool_maxsize=CONNECTIONS_PER_POOL))
        self.session.headers.update({"Accept": "application/json", **(headers or {})})
        self.timeout = timeout

    def rehearse(self, mask: RequestMask, answer: Answer) -> None:
        """Dry run: every request is recorded, masked, and answered by `answer` like the vendor would; none is
        sent. Everything above the transport (auth, headers, body, answer handling) stays the real code."""
        from .recording import RecordingAdapter

        adapter = RecordingAdapter(mask, answer)
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, adapter)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        not_found: DeliveryError | None = None,
        form: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        expect_json: bool = True,
        label: str | None = None,
    ) -> Any:
        """Send; return the decoded JSON body (None for 204). Raise DeliveryError classified once, here.
        `not_found` is raised on a 404 (e.g. TicketGone) instead of the generic permanent error.
        `form` sends an application/x-www-form-urlencoded body instead of JSON (OAuth token endpoints).
        `body` sends these exact bytes (a signed webhook: the bytes signed are the bytes sent), with the
        caller's Content-Type among `headers` (added to the session's for this request only).
        `expect_json=False` accepts any 2xx answer and returns its text (Slack answers "ok" as text/plain).
        `label` names the call in errors instead of "METHOD path", for a path that is itself a secret."""
        what = label or f"{method} {path}"
        timeout = bounded(self.timeout, destination=self.destination)  # never past the Lambda's deadline
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                json=json_body,
                data=form if form is not None else body,
                params=params,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            reason = f"{what} timed out after {timeout:g} s"
            raise DeliveryError(self.destination, reason, retryable=True) from None
        except requests.ConnectionError as exc:
            reason = f"{what}: cannot connect ({type(exc).__name__})"
            raise DeliveryError(self.destination, reason, retryable=True) from None
        except requests.RequestException as exc:
            raise DeliveryError(self.destination, f"{what}: {type(exc).__name__}", retryable=False) from None
        return self._answer(response, what, not_found, expect_json)

    def _answer(
        self, response: requests.Response, what: str, not_found: DeliveryError | None, expect_json: bool = True
    ) -> Any:
        status = response.status_code
        if status == 404 and not_found is not None:
            raise not_found
        if 200 <= status < 300:
            return self._json(response, what) if expect_json else response.text
        detail = f"{what} answered {status}"
        if status == 429:
            wait = retry_after_seconds(response.headers)
            hint = f"; retry after {wait:g} s" if wait is not None else ""
            raise DeliveryError(self.destination, f"{detail} (rate limited{hint})", retryable=True, retry_after=wait)
        if status >= 500 or status in (408, 409, 423):
            raise DeliveryError(self.destination, f"{detail}{vendor_error(response)}", retryable=True)
        if status in (401, 403):
            # The vendor's words matter here: a ServiceNow 403 is as often an ACL or data policy as a bad login.
            reason = f"{detail}: the credentials were refused; check this destination's secret references"
            raise DeliveryError(self.destination, f"{reason}{vendor_error(response)}", retryable=False)
        if 300 <= status < 400:
            reason = f"{detail}: redirected to {response.headers.get('Location', '?')!r}; is the URL right?"
            raise DeliveryError(self.destination, reason, retryable=False)
        raise DeliveryError(self.destination, f"{detail}{vendor_error(response)}", retryable=False)

    def _json(self, response: requests.Response, what: str) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        content_type = response.headers.get("Content-Type", "")
        if "json" not in content_type:
            # ServiceNow answers 200 with an HTML page while an instance hibernates or wakes up.
            reason = f"{what} answered {response.status_code} with {content_type or 'no content type'}, not JSON"
            raise DeliveryError(self.destination, f"{reason} (instance asleep or behind a login page?)", retryable=True)
        try:
            return response.json()
        except ValueError:
            raise DeliveryError(self.destination, f"{what} answered malformed JSON", retryable=True) from None


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or an HTTP date) or Jira's `X-RateLimit-Reset` (ISO time)."""
    value = headers.get("Retry-After")
    if value:
        if value.strip().isdigit():
            return float(value.strip())
        parsed = email.utils.parsedate_to_datetime(value) if _looks_like_date(value) else None
        if parsed is not None:
            return max(0.0, parsed.timestamp() - (now if now is not None else time.time()))
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        from datetime import datetime

        try:
            moment = datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            return None
        return max(0.0, moment.timestamp() - (now if now is not None else time.time()))
    return None


def vendor_error(response: requests.Response) -> str:
    """The vendor's own words, briefly: Jira's errorMessages/errors, ServiceNow's error.message/detail —
    with every credential we sent cut out, since a careless server may echo our request back."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().replace("\n", " ")
        return f": {_scrubbed(text, response)[:_BODY_SHOWN]}" if text else ""
    parts: list[str] = []
    if isinstance(body, dict):
        parts.extend(str(m) for m in body.get("errorMessages") or [])
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts.extend(f"{field}: {message}" for field, message in errors.items())
        error = body.get("error")
        if isinstance(error, dict):
            parts.extend(str(error[k]) for k in ("message", "detail") if error.get(k))
    text = "; ".join(parts) or json.dumps(body)
    return f": {_scrubbed(text, response)[:_BODY_SHOWN]}"


# Request headers whose values are never secret and are worth keeping in an echoed error.
_HARMLESS_HEADERS = frozenset({"accept", "accept-encoding", "connection", "content-type", "content-length", "host",
                               "user-agent", "webhook-timestamp"})  # fmt: skip
_MIN_SECRET_LENGTH = 6  # shorter values (e.g. "1") would scrub ordinary words


def _scrubbed(text: str, response: requests.Response) -> str:
    """Remove what we sent that may be secret (header values, auth tokens, the URL path) from vendor text."""
    request = response.request
    secrets: set[str] = set()
    for name, value in (request.headers or {}).items():
        if name.lower() in _HARMLESS_HEADERS or not isinstance(value, str):
            continue
        secrets.add(value)
        secrets.update(part for part in value.split() if len(part) >= _MIN_SECRET_LENGTH)  # "Basic <token>"
    if request.path_url and len(request.path_url) > 1:
        secrets.add(request.path_url)  # a Slack webhook's path is its secret
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _MIN_SECRET_LENGTH:
            text = text.replace(secret, "***")
    return text


def _looks_like_date(value: str) -> bool:
    return any(ch.isalpha() for ch in value)
