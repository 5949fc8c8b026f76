"""The Lambda's deadline, carried to every network call of a delivery.

`delivery.deliver` sets the deadline for the thread that runs one delivery (a ContextVar, so
concurrent deliveries in the pool each see their own); HTTP and SMTP calls then wait at most
`bounded(timeout)`: their own timeout, or what is left before the deadline if that is shorter. A
destination that hangs can therefore never carry the invocation past Lambda's timeout, which would
make SQS redeliver the whole batch. With no deadline (the CLI) the configured timeout applies.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from .errors import DeliveryError

_deadline: ContextVar[float | None] = ContextVar("notifier_deadline", default=None)
_SHORTEST_CALL = 0.05  # seconds: below this a call cannot succeed; fail fast instead


@contextmanager
def deadline_of_this_delivery(deadline: float | None) -> Iterator[None]:
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def bounded(timeout: float, *, destination: str) -> float:
    """The timeout a call may use now; raise a retryable DeliveryError when no useful time is left."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining < _SHORTEST_CALL:
        raise DeliveryError(destination, "no time left before the Lambda deadline", retryable=True)
    return min(timeout, remaining)
