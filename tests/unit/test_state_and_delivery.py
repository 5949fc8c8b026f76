"""Claim → send (bounded retries, Retry-After honoured) → complete or release, on both local stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.delivery import ATTEMPTS, DeliveryContext, deliver, should_send
from notifier.destinations.base import DestinationSpec, Outgoing
from notifier.envelopes import InboundMessage
from notifier.errors import DeliveryError
from notifier.notification import ComplianceNotification, parse
from notifier.state import MemoryState, SqliteState
from notifier.state.base import StateStore
from notifier.transition import transition
from tests.conftest import compliance_message


class FlakyDestination:
    """A channel that fails a set number of times before it accepts (a fake, not a mock: it keeps what it got)."""

    def __init__(
        self, failures: int, *, retryable: bool = True, dry_run: bool = False, retry_after: float | None = None
    ):
        self.spec = DestinationSpec("flaky", "file", {"dry_run": dry_run})
        self.failures = failures
        self.retryable = retryable
        self.retry_after = retry_after
        self.received: list[Outgoing] = []

    def send(self, outgoing: Outgoing) -> None:
        if self.failures:
            self.failures -= 1
            raise DeliveryError("flaky", "try later", retryable=self.retryable, retry_after=self.retry_after)
        self.received.append(outgoing)


def outgoing() -> Outgoing:
    n = parse(InboundMessage("config", "$", body=compliance_message()))
    assert isinstance(n, ComplianceNotification)
    return Outgoing(n, transition(n.old_compliance, n.new.compliance), ("r",), "m-1")


@pytest.fixture(params=["memory", "sqlite"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    return MemoryState() if request.param == "memory" else SqliteState(tmp_path / "state.sqlite")


def context(
    state: StateStore | None, sleeps: list[float] | None = None, deadline: float | None = None
) -> DeliveryContext:
    # jitter off (the cap itself) so the backoff sequence is visible; the test below checks the real one
    sleep = (sleeps if sleeps is not None else []).append
    return DeliveryContext(state=state, deadline=deadline, sleep=sleep, jitter=lambda cap: cap)


def test_full_jitter_waits_a_random_time_up_to_the_exponential_cap(state: StateStore) -> None:
    sleeps: list[float] = []
    jittered = DeliveryContext(state=state, sleep=sleeps.append)
    assert deliver(FlakyDestination(ATTEMPTS - 1), outgoing(), jittered).action == "sent"
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


def test_sent_once_then_already_sent(state: StateStore) -> None:
    destination = FlakyDestination(0)
    first = deliver(destination, outgoing(), context(state))
    again = deliver(destination, outgoing(), context(state))
    assert (first.action, again.action) == ("sent", "already_sent")
    assert len(destination.received) == 1
    assert state.was_delivered(outgoing().notification.content_key, "flaky")


def test_retryable_failures_are_retried_with_backoff_then_succeed(state: StateStore) -> None:
    sleeps: list[float] = []
    destination = FlakyDestination(ATTEMPTS - 1)
    result = deliver(destination, outgoing(), context(state, sleeps))
    assert result.action == "sent" and len(destination.received) == 1
    assert sleeps == [0.5, 1.0]


def test_retry_after_from_the_service_is_honoured(state: StateStore) -> None:
    sleeps: list[float] = []
    assert deliver(FlakyDestination(1, retry_after=7.0), outgoing(), context(state, sleeps)).action == "sent"
    assert sleeps == [7.0]


def test_a_failed_delivery_releases_its_claim_so_a_retry_sends_once(state: StateStore) -> None:
    destination = FlakyDestination(ATTEMPTS)
    failed = deliver(destination, outgoing(), context(state))
    assert (failed.action, failed.retryable) == ("failed", True)
    assert not state.was_delivered(outgoing().notification.content_key, "flaky")
    assert deliver(destination, outgoing(), context(state)).action == "sent"
    assert deliver(destination, outgoing(), context(state)).action == "already_sent"
    assert len(destination.received) == 1


def test_permanent_failure_is_not_retried(state: StateStore) -> None:
    sleeps: list[float] = []
    result = deliver(FlakyDestination(1, retryable=False), outgoing(), context(state, sleeps))
    assert result.action == "failed" and not result.retryable and sleeps == []


def test_no_retry_past_the_deadline(state: StateStore) -> None:
    sleeps: list[float] = []
    result = deliver(FlakyDestination(1), outgoing(), context(state, sleeps, deadline=0.0))
    assert result.action == "failed" and sleeps == []


def test_dry_run_rehearses_and_claims_nothing(state: StateStore) -> None:
    destination = FlakyDestination(0, dry_run=True)
    # The channel's own code runs once (real channels record behind it instead of sending: test_dry_run.py).
    assert deliver(destination, outgoing(), context(state)).action == "dry-run" and len(destination.received) == 1
    assert should_send(destination.spec, outgoing().notification, state) == "dry-run"
    assert not state.was_delivered(outgoing().notification.content_key, "flaky")
