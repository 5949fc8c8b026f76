"""`notifier.batch.process_batch`: outcomes in input order, one resource's changes one after another,
different resources and a notification's destinations at once, and failures kept to their own message."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from bench.fanout import batch_of, slow_server, webhook_pipeline
from notifier import handler
from notifier.app import build_pipeline
from notifier.batch import process_batch, resource_groups, workers_from_environment
from notifier.envelopes import InboundMessage, decode
from notifier.errors import NotifierError
from notifier.notification import ComplianceNotification
from notifier.routing.config import parse_config
from notifier.state import MemoryState, SqliteState
from notifier.state.base import Observation, ResourceKey, ResourceRecord
from notifier.transition import Compliance
from tests.conftest import AWS, load_json, sns_event, sqs_record
from tests.functional.batch_support import Journal, change, overlap, recorded_pipeline, resolved

SKIPPED = load_json(next((AWS / "config-sns").glob("ConfigurationItemChangeNotification__02_*.json")))


class LambdaContext:
    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def messages(*bodies: dict[str, object] | str) -> list[InboundMessage]:
    return decode(sns_event(*bodies))


def test_outcomes_come_back_in_input_order_whatever_finishes_first(tmp_path: Path) -> None:
    # The first resources are the slowest, so the deliveries finish in the reverse of the input order.
    journal = Journal(delays={"r0": 0.4, "r1": 0.3, "r2": 0.2, "r3": 0.1})
    batch = messages("not json", change("r0"), SKIPPED, change("r1"), change("r2"), change("r3"))

    outcomes = process_batch(recorded_pipeline(journal, tmp_path), batch)

    assert [o.message for o in outcomes] == batch
    assert [o.status for o in outcomes] == ["invalid", "routed", "skipped", "routed", "routed", "routed"]
    assert [o.notification.resource_id for o in outcomes if o.notification] == ["r0", "r1", "r2", "r3"]
    assert [[d.destination for d in o.deliveries] for o in outcomes[1:2]] == [["first", "second"]]
    finished = [v.resource_id for v in journal.visits if v.destination == "first"]
    assert finished == ["r3", "r2", "r1", "r0"]  # so the order above was restored, not merely kept


def test_one_resources_changes_run_one_after_another_and_different_resources_at_once(tmp_path: Path) -> None:
    journal = Journal()
    state = MemoryState()
    batch = messages(
        change("a", minute=40), change("b", minute=40),
        resolved("a", minute=45), resolved("b", minute=45),
        change("a", minute=50), change("b", minute=50),
    )  # fmt: skip

    outcomes = process_batch(recorded_pipeline(journal, tmp_path, state), batch)

    # In order, every change is newer than the stored one; out of order, some would be `stale`.
    assert [o.status for o in outcomes] == ["routed"] * 6
    for resource in ("a", "b"):
        visits = journal.of(resource)
        assert [v.kind for v in visits] == ["violated", "resolved", "violated"]
        assert all(earlier.ended <= later.started for earlier, later in itertools.pairwise(visits))
    assert any(overlap(a, b) for a in journal.of("a") for b in journal.of("b")), "resources ran one by one"
    # ...and a notification's two destinations were sent to at once.
    assert any(overlap(first, second) for first, second in zip(journal.of("a"), journal.of("a", "second"), strict=True))


def test_violated_then_resolved_in_one_batch_ends_resolved(tmp_path: Path) -> None:
    config = parse_config(
        f"destinations:\n  audit: {{type: file, path: {tmp_path / 'audit.jsonl'}}}\n"
        "routes:\n  - {name: all, match: {rule: '*'}, destinations: [audit]}\n",
        "routes.yml",
        tmp_path,
    )
    state = SqliteState(tmp_path / "state.sqlite")
    try:
        others = [change(f"other-{index}") for index in range(6)]
        batch = messages(change("dev1", minute=40), *others, resolved("dev1", minute=45))

        outcomes = process_batch(build_pipeline(config, state=state), batch)

        assert {o.status for o in outcomes} == {"routed"}
        lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
        dev1 = [line["transition"]["kind"] for line in lines if line["notification"]["resource_id"] == "dev1"]
        assert dev1 == ["violated", "resolved"] and len(lines) == 8
        n = outcomes[0].notification
        assert n is not None
        record = state.get(ResourceKey.of(n))
        assert record is not None and record.compliance is Compliance.COMPLIANT
    finally:
        state.close()


def test_different_resources_overlap_on_a_slow_http_server() -> None:
    delay, count, destinations = 0.3, 6, 2
    with slow_server(delay) as server:
        pipeline = webhook_pipeline(server.url, destinations)
        started = time.monotonic()
        outcomes = process_batch(pipeline, batch_of(count))
        elapsed = time.monotonic() - started
    assert [d.action for o in outcomes for d in o.deliveries] == ["sent"] * count * destinations
    one_by_one = count * destinations * delay  # 3.6 s
    assert elapsed < one_by_one / 2, f"{elapsed:.2f} s: the deliveries did not overlap"
    assert server.peak_in_flight >= count  # generous: all 12 are expected on the wire at once


def test_a_failing_or_crashing_delivery_does_not_touch_the_other_messages(tmp_path: Path) -> None:
    journal = Journal(fail_for=frozenset({"refused"}), crash_for=frozenset({"crashed"}))
    batch = messages(change("fine-1"), change("refused"), change("crashed"), change("fine-2"))

    outcomes = process_batch(recorded_pipeline(journal, tmp_path), batch)

    actions = {o.notification.resource_id: [d.action for d in o.deliveries] for o in outcomes if o.notification}
    assert actions == {
        "fine-1": ["sent", "sent"],
        "refused": ["failed", "sent"],  # only the destination that failed: the other still has it
        "crashed": ["failed", "sent"],
        "fine-2": ["sent", "sent"],
    }
    errors = [d.error for o in outcomes for d in o.failed_deliveries]
    assert errors == [
        "delivery to 'first' failed (permanent): refused refused",
        "unexpected RuntimeError in the file channel",
    ]


class StoreDownFor(MemoryState):
    """A state store that cannot be reached for one resource (the error a DynamoDB outage raises)."""

    def __init__(self, resource_id: str) -> None:
        super().__init__()
        self.resource_id = resource_id

    def observe(self, notification: ComplianceNotification) -> tuple[Observation, ResourceRecord | None]:
        if notification.resource_id == self.resource_id:
            time.sleep(0.05)  # fail while the others are still in flight
            raise NotifierError("the state store cannot be reached")
        return super().observe(notification)


def test_a_store_error_lets_the_other_messages_finish_then_raises(tmp_path: Path) -> None:
    journal = Journal(delays={"slow": 0.4})
    batch = messages(change("fine"), change("broken"), change("slow"))

    with pytest.raises(NotifierError, match="cannot be reached"):
        process_batch(recorded_pipeline(journal, tmp_path, StoreDownFor("broken")), batch)

    # Raised only once the others were done: no thread is left sending after the caller has returned.
    assert sorted(v.resource_id for v in journal.visits if v.destination == "first") == ["fine", "slow"]


def test_the_sqs_handler_reports_exactly_the_failed_records_under_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_WORKERS", "8")
    bodies = {f"record-{index}": change(f"AIDA{'FAIL' if index % 3 == 1 else 'GOOD'}{index:04d}") for index in range(9)}
    records = [sqs_record(json.dumps(body), message_id=name) for name, body in bodies.items()]
    records.insert(4, sqs_record("{broken", message_id="invalid"))
    with slow_server(0.1, status_for=lambda body: 400 if b"AIDAFAIL" in body else 204) as server:
        handler.set_pipeline(webhook_pipeline(server.url, 2))
        try:
            answer = handler.lambda_handler({"Records": records}, LambdaContext())
            with pytest.raises(handler.DeliveryFailed, match="1 of 3 message"):  # SNS: raise for Lambda to retry
                handler.lambda_handler(sns_event(change("AIDAGOODX"), change("AIDAFAILX"), SKIPPED), LambdaContext())
        finally:
            handler.set_pipeline(None)
    # The invalid record is not retried (it cannot become valid); each failed one is listed once, in order.
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"record-{index}"} for index in (1, 4, 7)]}


def test_groups_follow_the_resource_and_workers_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = messages(change("a"), "not json", change("b"), change("a", minute=50), SKIPPED, change("b", minute=50))
    assert resource_groups(batch) == [[0, 3], [1], [2, 5], [4]]
    assert workers_from_environment() == 16
    monkeypatch.setenv("NOTIFIER_WORKERS", " 4 ")
    assert workers_from_environment() == 4
    for wrong in ("0", "many", "-2"):
        monkeypatch.setenv("NOTIFIER_WORKERS", wrong)
        with pytest.raises(NotifierError, match=f"must be a whole number of at least 1, not '{wrong}'"):
            workers_from_environment()


def test_one_worker_is_the_plain_sequential_loop(tmp_path: Path) -> None:
    journal = Journal(delays={"a": 0.05, "b": 0.05})
    outcomes = process_batch(recorded_pipeline(journal, tmp_path), messages(change("a"), change("b")), workers=1)
    assert [o.status for o in outcomes] == ["routed", "routed"]
    visits = sorted(journal.visits, key=lambda v: v.started)
    assert not any(overlap(a, b) for a, b in itertools.pairwise(visits))
