"""The Lambda handler end to end: real envelopes in, mail into a real SMTP server, lines into a file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from notifier import handler
from notifier.app import build_pipeline
from notifier.routing.config import parse_config
from notifier.state import SqliteState
from tests.conftest import AWS, compliance_message, eventbridge_event, load_json, sns_event, sns_json, sqs_record
from tests.functional.smtp_server import RunningServer, closed_port, smtp_server

CONFIG = """
destinations:
  team-mail:
    type: email
    via: smtp
    host: 127.0.0.1
    port: {port}
    tls: none
    from: config-alerts@example.com
    to: [team@example.com]
  audit:
    type: file
    path: {audit}
routes:
  - name: violations-and-fixes
    match:
      transition: [first_violation, violated, resolved]
    destinations: [team-mail, audit]
"""


@dataclass
class LambdaContext:
    """The one method of the Lambda context the handler uses."""

    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Deployed:
    smtp: RunningServer
    audit: Path
    state: SqliteState

    def audit_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit.read_text().splitlines()] if self.audit.exists() else []


def deploy(tmp_path: Path, smtp_port: int) -> SqliteState:
    config = parse_config(CONFIG.format(port=smtp_port, audit=tmp_path / "audit.jsonl"), "routes.yml", tmp_path)
    state = SqliteState(tmp_path / "state.sqlite")
    handler.set_pipeline(build_pipeline(config, state=state))
    return state


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployed]:
    with smtp_server() as server:
        state = deploy(tmp_path, server.port)
        yield Deployed(server, tmp_path / "audit.jsonl", state)
        handler.set_pipeline(None)
        state.close()


def violation() -> dict[str, Any]:
    return compliance_message("ComplianceChangeNotification__02_")  # COMPLIANT -> NON_COMPLIANT


def test_sns_event_with_mixed_records(deployed: Deployed) -> None:
    skipped = load_json(next((AWS / "config-sns").glob("ConfigurationItemChangeNotification__02_*.json")))
    answer = handler.lambda_handler(sns_event(violation(), skipped, "not json"), LambdaContext())
    assert answer == {"processed": 3, "statuses": {"routed": 1, "skipped": 1, "invalid": 1}}
    [mail] = deployed.smtp.received
    assert mail.rcpt_tos == ("team@example.com",)
    assert "became non-compliant" in mail.message["Subject"]
    assert [line["notification"]["resource_id"] for line in deployed.audit_lines()] == ["dev1"]


def test_the_same_change_delivered_twice_is_sent_once(deployed: Deployed) -> None:
    handler.lambda_handler(sns_event(violation()), LambdaContext())
    answer = handler.lambda_handler(eventbridge_event(violation()), LambdaContext())
    assert answer["statuses"] == {"duplicate": 1}
    assert len(deployed.smtp.received) == 1 and len(deployed.audit_lines()) == 1


def test_sqs_batch_reports_only_records_whose_delivery_failed(tmp_path: Path) -> None:
    state = deploy(tmp_path, closed_port())  # the SMTP server is down
    try:
        fixed = compliance_message("ComplianceChangeNotification__01_")  # NON_COMPLIANT -> COMPLIANT: routed
        first_compliant = compliance_message("ComplianceChangeNotification__04_")  # benign: not routed
        event = {
            "Records": [
                sqs_record(json.dumps(sns_json(fixed)), message_id="fails"),
                sqs_record(json.dumps(first_compliant), message_id="unrouted"),
                sqs_record("{broken", message_id="invalid"),
            ]
        }
        answer = handler.lambda_handler(event, LambdaContext(remaining_ms=5_100))
        assert answer == {"batchItemFailures": [{"itemIdentifier": "fails"}]}
        # the file destination of the failed record did receive it, and will not receive it again on retry
        audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
        assert len(audit) == 1
        handler.lambda_handler(event, LambdaContext(remaining_ms=5_100))
        assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 1
    finally:
        handler.set_pipeline(None)
        state.close()


def test_sns_event_with_a_failed_delivery_raises_for_lambda_to_retry(tmp_path: Path) -> None:
    state = deploy(tmp_path, closed_port())
    try:
        with pytest.raises(handler.DeliveryFailed, match="1 of 1 message"):
            handler.lambda_handler(sns_event(violation()), LambdaContext(remaining_ms=5_100))
    finally:
        handler.set_pipeline(None)
        state.close()


def test_metrics_are_emitted_as_emf(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    handler.lambda_handler(sns_event(violation(), "not json"), LambdaContext())
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metrics = {
        (m["Name"], d[0], doc[d[0]])
        for doc in documents
        for d in doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
        for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert ("routed", "rule", violation()["configRuleName"]) in metrics
    assert ("delivered", "destination", "team-mail") in metrics
    assert ("invalid", "message_type", "-") in metrics
    assert ("received", "source", "sns") in metrics


def test_handler_builds_its_pipeline_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with smtp_server() as server:
        config = tmp_path / "routes.yml"
        config.write_text(CONFIG.format(port=server.port, audit=tmp_path / "audit.jsonl"))
        monkeypatch.setenv("NOTIFIER_CONFIG", str(config))
        monkeypatch.setenv("NOTIFIER_STATE", f"sqlite://{tmp_path / 'state.sqlite'}")
        handler.set_pipeline(None)
        try:
            assert handler.lambda_handler(sns_event(violation()), None)["statuses"] == {"routed": 1}
            assert len(server.received) == 1
        finally:
            handler.set_pipeline(None)


def test_a_lambda_without_durable_state_says_so_at_cold_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "routes.yml"
    config.write_text(CONFIG.format(port=closed_port(), audit=tmp_path / "audit.jsonl"))
    monkeypatch.setenv("NOTIFIER_CONFIG", str(config))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "compliance-notifier")
    monkeypatch.delenv("NOTIFIER_STATE", raising=False)
    handler.set_pipeline(None)
    try:
        handler.lambda_handler({"Records": []}, None)
    finally:
        handler.set_pipeline(None)
    assert "NOTIFIER_STATE is not set" in capsys.readouterr().err
