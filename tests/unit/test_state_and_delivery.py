"""Dedup → send (bounded retries) → record, against both local state stores."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from notifier.delivery import ATTEMPTS, deliver, should_send
from notifier.destinations.base import DestinationSpec, Outgoing
from notifier.envelopes import InboundMessage
from notifier.errors import DeliveryError, NotifierError
from notifier.notification import ComplianceNotification, parse
from notifier.state import MemoryState, SqliteState, open_state
from notifier.state.base import StateStore
from notifier.transition import transition
from tests.conftest import compliance_message


class FlakyDestination:
    """A channel that fails a set number of times before it accepts (a fake, not a mock: it keeps what it got)."""

    def __init__(self, failures: int, *, retryable: bool = True, dry_run: bool = False) -> None:
        self.spec = DestinationSpec("flaky", "file", {"dry_run": dry_run})
        self.failures = failures
        self.retryable = retryable
        self.received: list[Outgoing] = []

    def send(self, outgoing: Outgoing) -> None:
        if self.failures:
            self.failures -= 1
            raise DeliveryError("flaky", "try later", retryable=self.retryable)
        self.received.append(outgoing)


def outgoing() -> Outgoing:
    n = parse(InboundMessage("config", "$", body=compliance_message()))
    assert isinstance(n, ComplianceNotification)
    return Outgoing(n, transition(n.old_compliance, n.new.compliance), ("r",), "m-1")


@pytest.fixture(params=["memory", "sqlite"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    return MemoryState() if request.param == "memory" else SqliteState(tmp_path / "state.sqlite")


def test_sent_once_then_already_sent(state: StateStore) -> None:
    destination = FlakyDestination(0)
    first = deliver(destination, outgoing(), state, sleep=lambda _: None)
    again = deliver(destination, outgoing(), state, sleep=lambda _: None)
    assert (first.action, again.action) == ("sent", "already_sent")
    assert len(destination.received) == 1


def test_retryable_failures_are_retried_then_succeed(state: StateStore) -> None:
    sleeps: list[float] = []
    destination = FlakyDestination(ATTEMPTS - 1)
    result = deliver(destination, outgoing(), state, sleep=sleeps.append)
    assert result.action == "sent" and len(destination.received) == 1
    assert sleeps == [0.5, 1.0]  # exponential backoff between attempts


def test_retries_are_bounded_and_nothing_is_recorded_on_failure(state: StateStore) -> None:
    destination = FlakyDestination(ATTEMPTS)
    result = deliver(destination, outgoing(), state, sleep=lambda _: None)
    assert (result.action, result.retryable) == ("failed", True)
    assert not state.was_delivered(outgoing().notification.content_key, "flaky")


def test_permanent_failure_is_not_retried(state: StateStore) -> None:
    sleeps: list[float] = []
    result = deliver(FlakyDestination(1, retryable=False), outgoing(), state, sleep=sleeps.append)
    assert result.action == "failed" and not result.retryable and sleeps == []


def test_no_retry_past_the_deadline(state: StateStore) -> None:
    sleeps: list[float] = []
    result = deliver(FlakyDestination(1), outgoing(), state, deadline=0.0, sleep=sleeps.append)
    assert result.action == "failed" and sleeps == []


def test_dry_run_sends_nothing() -> None:
    destination = FlakyDestination(0, dry_run=True)
    assert deliver(destination, outgoing(), None).action == "dry_run" and destination.received == []
    assert should_send(destination.spec, outgoing().notification, None) == "dry_run"


def test_sqlite_state_survives_reopening_and_read_only_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = open_state(f"sqlite://{path}")
    store.record_delivery("k", "d", "2026-01-01T00:00:00+00:00")
    store.close()
    reader = open_state(f"sqlite://{path}", read_only=True)
    assert reader.was_delivered("k", "d") and not reader.was_delivered("k", "other")
    with pytest.raises(Exception, match="readonly"):
        reader.record_delivery("k2", "d", "now")
    assert not (tmp_path / "missing.sqlite").exists()
    assert isinstance(open_state(f"sqlite://{tmp_path / 'missing.sqlite'}", read_only=True), MemoryState)
    assert not (tmp_path / "missing.sqlite").exists()


def test_concurrent_recording_in_sqlite_keeps_one_row(tmp_path: Path) -> None:
    store = SqliteState(tmp_path / "s.sqlite")
    threads = [threading.Thread(target=store.record_delivery, args=("k", "d", f"t{i}")) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.was_delivered("k", "d")


def test_unknown_state_url_is_a_clear_error() -> None:
    with pytest.raises(NotifierError, match="expected sqlite:///path or memory://"):
        open_state("redis://x")
