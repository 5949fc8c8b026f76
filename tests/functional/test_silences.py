"""Silenced notifications are suppressed: recorded in state, counted, never sent; an expired silence does nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifier.app import build_pipeline
from notifier.cli import main
from notifier.envelopes import decode
from notifier.routing.config import parse_config
from notifier.state import MemoryState
from notifier.state.base import ResourceKey
from notifier.telemetry import count
from tests.conftest import compliance_message, sns_event

CONFIG = """
destinations:
  audit: {{type: file, path: audit.jsonl}}
routes:
  - {{name: all, match: {{transition: [violated, first_violation]}}, destinations: [audit]}}
silences:
  - match: {{rule: cw-loggroup-retention-*, account: "746869318262"}}
    until: "{until}"
    reason: retention policy migration, CHG-1234
    created_by: alice@example.com
"""


def run(tmp_path: Path, until: str, now: datetime) -> tuple[object, MemoryState]:
    state = MemoryState()
    config = parse_config(CONFIG.format(until=until), "routes.yml", tmp_path)
    pipeline = build_pipeline(config, state=state)
    pipeline.clock = lambda: now
    [message] = decode(sns_event(compliance_message("ComplianceChangeNotification__02_")))
    return pipeline.process(message), state


def test_a_live_silence_suppresses_records_and_counts(tmp_path: Path) -> None:
    outcome, state = run(tmp_path, "2026-12-01T00:00:00Z", datetime(2026, 11, 28, tzinfo=UTC))
    assert outcome.status == "suppressed" and outcome.deliveries == ()
    assert outcome.to_json()["silenced_by"] == {
        "reason": "retention policy migration, CHG-1234",
        "created_by": "alice@example.com",
        "until": "2026-12-01T00:00:00+00:00",
    }
    assert not (tmp_path / "audit.jsonl").exists()
    assert outcome.notification is not None
    record = state.get(ResourceKey.of(outcome.notification))
    assert record is not None and record.compliance.value == "NON_COMPLIANT"  # recorded all the same
    assert [entry.observation.value for entry in state.history()] == ["fresh"]
    assert count([outcome])["suppressed", "rule", outcome.notification.rule] == 1


def test_an_expired_silence_does_nothing(tmp_path: Path) -> None:
    outcome, _ = run(tmp_path, "2026-11-01T00:00:00Z", datetime(2026, 11, 28, tzinfo=UTC))
    assert outcome.status == "routed"
    assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 1


def test_explain_shows_suppressed_and_the_silence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "routes.yml").write_text(CONFIG.format(until="2999-01-01"))
    (tmp_path / "e.json").write_text(json.dumps(compliance_message("ComplianceChangeNotification__02_")))
    args = ["explain", str(tmp_path / "e.json"), "--config", str(tmp_path / "routes.yml"), "--format", "json"]
    assert main(args) == 0
    [record] = json.loads(capsys.readouterr().out)["records"]
    assert record["status"] == "suppressed" and record["silenced_by"]["created_by"] == "alice@example.com"
