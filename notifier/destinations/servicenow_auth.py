"""How compliance-notifier signs in to a ServiceNow instance: basic auth, or OAuth client credentials.

Both are `requests` auth objects on the destination's session, so every Table API call made through
`HttpChannel` is signed the same way and the channel's one error classification still applies.

Secrets are resolved when a request is signed, not when the destination is built: the resolver caches
SSM / Secrets Manager values for five minutes, so a rotated secret is picked up without a restart, and
a secret store outage becomes a retryable `DeliveryError` rather than a crash at cold start. No secret
ever enters an error message or a log line.

OAuth, per ServiceNow's "REST OAuth example" (tests/contracts/servicenow/r_RESTOAuthExample.md): the
token endpoint is ``POST /oauth_token.do`` with a form body carrying ``client_id`` and ``client_secret``;
the answer holds ``access_token``, ``token_type: Bearer`` and ``expires_in`` (1799 s in the example), and
requests then carry ``Authorization: Bearer <token>``. The example uses ``grant_type=password`` (a user's
password as well); an unattended integration has no user, so this sends ``grant_type=client_credentials``
(enabled on the instance with ``glide.oauth.inbound.client.credential.grant_type.enabled``), which issues
no refresh token: a new token is simply requested again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from ..errors import DeliveryError
from ..secrets import SecretResolver, resolve_for_delivery
from .http import HttpChannel

TOKEN_PATH = "/oauth_token.do"
# Ask for a new token this long before the old one expires, so no request is sent with a token that
# dies in flight (clock skew, a slow call). Halved for tokens that live less than twice this.
REFRESH_MARGIN_SECONDS = 60.0
# When a token answer omits expires_in, assume it lives this long (a 401 would refresh it anyway).
ASSUMED_LIFETIME_SECONDS = 300.0


class BasicAuth(AuthBase):
    """HTTP basic auth whose password is a secret reference, resolved per request (cached by the resolver)."""

    def __init__(self, destination: str, username: str, password_reference: str, secrets: SecretResolver) -> None:
        self.destination = destination
        self.username = username
        self.password_reference = password_reference
        self.secrets = secrets

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        password = resolve_for_delivery(self.secrets, self.password_reference, destination=self.destination)
        signed: requests.PreparedRequest = HTTPBasicAuth(self.username, password)(request)
        return signed


class ClientCredentialsAuth(AuthBase):
    """OAuth 2.0 client credentials: one bearer token shared by every request until shortly before it
    expires; a request answered 401 (token revoked or expired early) fetches a new token and is sent
    once more. A second 401 is returned as is, so `HttpChannel` reports it as a permanent failure."""

    def __init__(
        self,
        destination: str,
        token_channel: HttpChannel,
        client_id: str,
        client_secret_reference: str,
        secrets: SecretResolver,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.destination = destination
        self.token_channel = token_channel  # a session of its own: the token request must not sign itself
        self.client_id = client_id
        self.client_secret_reference = client_secret_reference
        self.secrets = secrets
        self.clock = clock  # the seam tests use to move time past a token's expiry
        self._token: str | None = None
        self._refresh_at = 0.0
        # One token fetch at a time: threads delivering in parallel wait for it instead of each fetching.
        self._lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        request.hooks["response"].append(self._retry_once_on_401)
        return request

    def token(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._refresh_at:
                self._token, lifetime = self._fetch()
                self._refresh_at = self.clock() + lifetime - min(REFRESH_MARGIN_SECONDS, lifetime / 2)
            return self._token

    def forget(self, token: str) -> None:
        """Drop the cached token if it is still this one (another thread may already have replaced it)."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> tuple[str, float]:
        secret = resolve_for_delivery(self.secrets, self.client_secret_reference, destination=self.destination)
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": secret}
        answer = self.token_channel.request("POST", TOKEN_PATH, form=form)
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            reason = f"POST {TOKEN_PATH} answered without an access_token (does the client allow client credentials?)"
            raise DeliveryError(self.destination, reason, retryable=False)
        token_type = answer.get("token_type", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            reason = f"POST {TOKEN_PATH} answered a {token_type!r} token; only Bearer tokens are supported"
            raise DeliveryError(self.destination, reason, retryable=False)
        return token, _lifetime(answer.get("expires_in"))

    def _retry_once_on_401(self, response: requests.Response, **send_options: Any) -> requests.Response:
        # A response hook runs inside Session.send; the adapter's send below does not run hooks, so the
        # second answer comes back here no more (the same technique as requests' HTTPDigestAuth).
        if response.status_code != 401 or response.connection is None:
            return response
        used = response.request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.forget(used)
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {self.token()}"
        response.content  # noqa: B018 - read the body so the connection can be reused
        response.close()
        second: requests.Response = response.connection.send(retry, **send_options)
        second.history.append(response)
        second.request = retry
        return second


def _lifetime(expires_in: object) -> float:
    try:
        seconds = float(expires_in) if isinstance(expires_in, int | float | str) and expires_in != "" else None
    except ValueError:
        seconds = None
    if seconds is None or seconds <= 0:
        return ASSUMED_LIFETIME_SECONDS
    return seconds
