"""Per-destination rate limits through the whole pipeline: a real file destination, time moved with
Pipeline.clock. Over the limit, a digest-capable destination folds into the next digest; any other
fails retryable (SQS retries it later); nothing is dropped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier import handler
from notifier.app import build_pipeline
from notifier.cli import main
from notifier.destinations.base import DestinationSpec, Outgoing
from notifier.destinations.file import FileDestination
from notifier.digests.flush import flush_due
from notifier.digests.message import Digest
from notifier.digests.rate_limit import RateLimit, rate_limit_problem
from notifier.envelopes import InboundMessage
from notifier.pipeline import Pipeline
from notifier.routing.config import parse_config
from notifier.state import MemoryState
from notifier.state.digest_buffer import DIGEST_GRACE
from tests.conftest import compliance_message

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

CONFIG = """
destinations:
  audit:
    type: file
    path: {audit}
    rate_limit: {{per_minute: 3, burst: 3}}
routes:
  - name: everything
    destinations: [audit]
"""

HOOK_CONFIG = """
destinations:
  hook:
    type: webhook
    url: https://hooks.example.com/compliance
    secrets: ["env:HOOK_SECRET"]
    rate_limit: "2/min"
routes:
  - name: everything
    destinations: [hook]
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class CountingHook:
    """A webhook-type destination that only counts what it was given (no network)."""

    def __init__(self, spec: DestinationSpec) -> None:
        self.spec = spec
        self.sent: list[str] = []
        self.digests: list[list[str]] = []

    def send(self, outgoing: Outgoing) -> str | None:
        self.sent.append(outgoing.notification.resource_id)
        return None

    def send_digest(self, digest: Digest) -> str | None:
        self.digests.append([item["resource_id"] for item in digest.items])
        return None


def message(n: int) -> InboundMessage:
    body = compliance_message("ComplianceChangeNotification__02_")
    resource = f"log-group-{n}"
    body["resourceId"] = resource
    for result in ("newEvaluationResult", "oldEvaluationResult"):
        body[result]["evaluationResultIdentifier"]["evaluationResultQualifier"]["resourceId"] = resource
    return InboundMessage("config", f"$[{n}]", body, message_id=f"m-{n}")


def records(audit: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit.read_text().splitlines()] if audit.exists() else []


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Pipeline, Clock, Path]]:
    audit = tmp_path / "audit.jsonl"
    config = parse_config(CONFIG.format(audit=audit), "r.yml", tmp_path)
    pipeline = build_pipeline(config, state=MemoryState())
    clock = Clock()
    pipeline.clock = clock
    yield pipeline, clock, audit
    handler.set_pipeline(None)


def test_ten_deliveries_over_three_per_minute_send_three_and_fold_seven_into_one_digest(
    world: tuple[Pipeline, Clock, Path],
) -> None:
    pipeline, clock, audit = world
    actions = []
    for n in range(10):
        clock.now = T0 + timedelta(seconds=n)
        outcome = pipeline.process(message(n))
        assert outcome.status == "routed"
        [delivery] = outcome.deliveries
        actions.append(delivery.action)
    assert actions == ["sent"] * 3 + ["rate-limited:digested"] * 7
    assert len(records(audit)) == 3  # the three within the limit went out at once

    clock.now = T0 + timedelta(minutes=1, seconds=3) + DIGEST_GRACE  # the 1-minute window opened at T0+3s
    handler.set_pipeline(pipeline)
    flushed = handler.lambda_handler({"notifier": "flush-digests"}, None)["digests"]
    assert [(f["destination"], f["items"], f["action"]) for f in flushed] == [("audit", 7, "sent")]
    digest = records(audit)[-1]
    assert digest["total"] == 7 and digest["reason"] == "rate-limit" and digest["route"] == "rate:audit"
    assert sorted(r["resource_id"] for r in digest["resources"]) == sorted(f"log-group-{n}" for n in range(3, 10))

    # The window has slid: the next one goes out at once again.
    outcome = pipeline.process(message(10))
    assert [d.action for d in outcome.deliveries] == ["sent"]


def test_a_redelivery_over_the_limit_is_already_sent_not_held(world: tuple[Pipeline, Clock, Path]) -> None:
    pipeline, _clock, _audit = world
    for n in range(3):
        pipeline.process(message(n))
    again = pipeline.process(message(0))  # over the limit, but it was delivered already
    assert [d.action for d in again.deliveries] == ["already_sent"]
    assert again.status == "duplicate"


def test_explain_shows_rate_limited_and_changes_nothing(world: tuple[Pipeline, Clock, Path]) -> None:
    pipeline, clock, _audit = world
    assert [d.action for d in pipeline.process(message(0), send=False).deliveries] == ["send"]
    for n in range(3):
        pipeline.process(message(n))
    preview = pipeline.process(message(7), send=False)
    [delivery] = preview.deliveries
    assert delivery.action == "rate-limited" and "3 per minute, burst 3" in str(delivery.error)
    clock.now = T0 + timedelta(minutes=5)
    assert pipeline.state is not None and pipeline.state.due_digests(clock.now) == []  # explain held nothing
    assert [d.action for d in pipeline.process(message(7), send=False).deliveries] == ["send"]


def test_a_webhook_over_the_limit_folds_into_the_next_digest(tmp_path: Path) -> None:
    config = parse_config(HOOK_CONFIG, "r.yml", tmp_path)
    hooks: list[CountingHook] = []

    def connect(spec: DestinationSpec) -> CountingHook:
        hooks.append(CountingHook(spec))
        return hooks[-1]

    clock = Clock()
    pipeline = Pipeline(config.tree, config.destinations, state=MemoryState(), connect=connect, clock=clock)
    results = [pipeline.process(message(n)).deliveries[0] for n in range(4)]
    assert [d.action for d in results] == ["sent", "sent", "rate-limited:digested", "rate-limited:digested"]
    [hook] = hooks
    assert hook.sent == ["log-group-0", "log-group-1"] and hook.digests == []

    flushed = flush_due(pipeline, T0 + timedelta(minutes=10))
    assert [(f.destination, f.items, f.action) for f in flushed] == [("hook", 2, "sent")]
    assert hook.digests == [["log-group-2", "log-group-3"]]  # nothing lost, nothing twice


def test_without_state_a_webhook_over_the_limit_fails_retryable_and_goes_out_on_a_later_retry(
    tmp_path: Path,
) -> None:
    """Without a state store there is nowhere to hold it: SQS's redelivery is the buffer."""
    config = parse_config(HOOK_CONFIG, "r.yml", tmp_path)
    hooks: list[CountingHook] = []

    def connect(spec: DestinationSpec) -> CountingHook:
        hooks.append(CountingHook(spec))
        return hooks[-1]

    clock = Clock()
    pipeline = Pipeline(config.tree, config.destinations, connect=connect, clock=clock)
    results = [pipeline.process(message(n)).deliveries[0] for n in range(3)]
    assert [d.action for d in results] == ["sent", "sent", "failed"]
    assert results[2].retryable and "rate limit of 2 per minute, burst 2 exceeded" in str(results[2].error)
    [hook] = hooks
    assert hook.sent == ["log-group-0", "log-group-1"]

    clock.now = T0 + timedelta(minutes=1, seconds=1)  # SQS redelivers the failed record later
    assert [d.action for d in pipeline.process(message(2)).deliveries] == ["sent"]
    assert hook.sent == ["log-group-0", "log-group-1", "log-group-2"]  # nothing lost


def test_a_file_destination_without_a_state_store_fails_retryable(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    config = parse_config(CONFIG.format(audit=audit), "r.yml", tmp_path)
    pipeline = Pipeline(config.tree, config.destinations, connect=FileDestination, clock=Clock())
    actions = [pipeline.process(message(n)).deliveries[0] for n in range(4)]
    assert [d.action for d in actions] == ["sent"] * 3 + ["failed"] and actions[3].retryable
    assert len(records(audit)) == 3


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("30/min", RateLimit(30.0, 30)),
        ({"per_minute": 60, "burst": 10}, RateLimit(60.0, 10)),
        ({"per_minute": 0.5}, RateLimit(0.5, 1)),
    ],
)
def test_the_two_forms_parse(raw: Any, expected: RateLimit) -> None:
    assert RateLimit.parse(raw) == expected
    assert expected.window == timedelta(minutes=expected.burst / expected.per_minute)


@pytest.mark.parametrize(
    ("raw", "sentence"),
    [
        ("30 per hour", "is not a rate"),
        ({"burst": 3}, "per_minute is required"),
        ({"per_minute": 0}, "greater than zero"),
        ({"per_minute": 3, "burst": 0}, "burst must be a whole number"),
        ({"per_minute": 1, "burst": 5000}, "at most 1440 minutes"),
        ({"per_minute": 3, "bursts": 3}, "unknown key"),
    ],
)
def test_unusable_limits_are_explained(raw: Any, sentence: str) -> None:
    assert sentence in str(rate_limit_problem(raw))


def test_check_config_reports_an_invalid_rate_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yml"
    good.write_text(CONFIG.format(audit="a.jsonl"))
    assert main(["check-config", str(good)]) == 0
    bad = tmp_path / "bad.yml"
    bad.write_text(CONFIG.format(audit="a.jsonl").replace("{per_minute: 3, burst: 3}", "{per_minute: 1, burst: 5000}"))
    assert main(["check-config", str(bad)]) == 1
    assert "at most 1440 minutes" in capsys.readouterr().out
    worse = tmp_path / "worse.yml"
    worse.write_text(CONFIG.format(audit="a.jsonl").replace("{per_minute: 3, burst: 3}", '"lots"'))
    assert main(["check-config", str(worse)]) == 1
    assert "rate_limit" in capsys.readouterr().out
