"""Confirming a subscription: which SubscribeURL we agree to visit, and the visit itself.

A SubscribeURL is signed by SNS, so a verified message cannot carry a forged one; it is checked anyway,
as the certificate URL is, because it is the one URL a message makes this server request: https, the
SNS host of the topic's region exactly (no userinfo, no port), path ``/``, ``Action=ConfirmSubscription``
and, when it names a topic, the message's topic. The Token in it is never logged.

The visit is injected (`Confirm`): production uses `https_confirmer`; the tests pass one that sends the
same, already checked URL to a local HTTP server, so the production check still runs first.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

import requests

from ..errors import NotifierError
from .certificates import check_sns_url
from .errors import UntrustedMessage

CONFIRM_TIMEOUT_SECONDS = 10.0

Confirm = Callable[[str], None]  # GET an already checked SubscribeURL; raise NotifierError when it fails


class ConfirmationFailed(NotifierError):
    """SNS did not accept the confirmation (or could not be reached): SNS or an operator can retry."""


def check_subscribe_url(url: str, region: str, topic_arn: str) -> None:
    parts = check_sns_url(url, region, "SubscribeURL")
    query = parse_qs(parts.query, keep_blank_values=True)
    if parts.path != "/" or parts.fragment or query.get("Action") != ["ConfirmSubscription"]:
        raise UntrustedMessage("the SubscribeURL is not a ConfirmSubscription request")
    if query.get("TopicArn", [topic_arn]) != [topic_arn]:
        raise UntrustedMessage("the SubscribeURL confirms another topic than the message's")


def https_confirmer(session: requests.Session | None = None, timeout: float = CONFIRM_TIMEOUT_SECONDS) -> Confirm:
    """GET the SubscribeURL with requests: TLS verified, no redirects, a timeout, a 2xx required."""
    shared = session or requests.Session()

    def confirm(url: str) -> None:
        try:
            with shared.get(url, timeout=timeout, allow_redirects=False) as response:
                status = response.status_code
        except requests.RequestException as exc:
            raise ConfirmationFailed(f"cannot reach SNS to confirm: {type(exc).__name__}") from exc
        if not 200 <= status < 300:
            raise ConfirmationFailed(f"SNS answered HTTP {status} to the confirmation")

    return confirm
