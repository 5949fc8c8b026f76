"""SES's own sending rate, as the rate limit of an SES email destination that sets none.

SES refuses mail beyond the account's MaxSendRate (per second, per region; 1 in the sandbox) with a
throttling error. Retrying that with backoff works but burns the Lambda's time in a storm; knowing
the rate up front lets the rate limiter (notifier/digests/rate_limit.py) fold what exceeds it into
the next digest instead. The quota is read once per region at cold start (`sesv2:GetAccount`, one
call); if it cannot be read (no permission, no network) the destination runs without a limit and
throttling errors stay retryable, as before — a warning says so. An explicit `rate_limit` always wins.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from .base import DestinationSpec

log = logging.getLogger(__name__)

ClientFactory = Callable[[str, str | None], Any]


def with_ses_rate_limits(
    specs: Mapping[str, DestinationSpec], client_factory: ClientFactory
) -> dict[str, DestinationSpec]:
    """The specs, each SES email destination without a `rate_limit` given SES's own MaxSendRate."""
    rates: dict[str | None, float | None] = {}
    result: dict[str, DestinationSpec] = {}
    for name, spec in specs.items():
        if spec.type != "email" or spec.options.get("via") != "ses" or "rate_limit" in spec.options or spec.dry_run:
            result[name] = spec
            continue
        region = spec.options.get("region")
        if region not in rates:
            rates[region] = _max_send_rate(client_factory, region)
        rate = rates[region]
        if rate is None:
            result[name] = spec
            continue
        limit = {"per_minute": rate * 60, "burst": max(1, math.floor(rate))}
        result[name] = dataclasses.replace(spec, options={**spec.options, "rate_limit": limit})
    return result


def _max_send_rate(client_factory: ClientFactory, region: str | None) -> float | None:
    try:
        quota = client_factory("sesv2", region).get_account().get("SendQuota") or {}
    except Exception as exc:  # an optimisation only: whatever went wrong, send without it (only the class is logged)
        log.warning("cannot read the SES sending quota (%s); SES throttling is retried instead", type(exc).__name__)
        return None
    rate = quota.get("MaxSendRate")
    if not isinstance(rate, int | float) or rate <= 0:
        return None
    return float(rate)
