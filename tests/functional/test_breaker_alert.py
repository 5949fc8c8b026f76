"""When a remediation's circuit breaker trips, its breaker.notify destinations hear about it once per window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moto import mock_aws

from notifier.app import build_pipeline
from notifier.envelopes import decode
from notifier.errors import ConfigError
from notifier.routing.config import find_problems, parse_config
from notifier.state import MemoryState
from tests.conftest import sns_event
from tests.remediation_support import IAM_VIOLATION, RULE

CONFIG = """
destinations:
  fix:
    type: lambda
    function: remediate-iam
    region: us-east-1
    breaker: {{max: 2, window: 1h, notify: [alarms]}}
  alarms: {{type: file, path: alarms.jsonl}}
routes:
  - {{name: iam, match: {{rule: '{rule}'}}, destinations: [fix]}}
"""


def violation_of(resource_id: str) -> dict[str, object]:
    message = json.loads(IAM_VIOLATION.read_text())
    message["resourceId"] = resource_id
    for side in ("newEvaluationResult", "oldEvaluationResult"):
        message[side]["evaluationResultIdentifier"]["evaluationResultQualifier"]["resourceId"] = resource_id
    return message


def test_a_storm_trips_the_breaker_and_the_alert_goes_out_once(tmp_path: Path, aws_credentials: None) -> None:
    config = parse_config(CONFIG.format(rule=RULE), "routes.yml", tmp_path)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        pipeline = build_pipeline(config, state=MemoryState())
        actions = []
        for index in range(5):  # five users at once: a storm for a breaker of two
            [message] = decode(sns_event(violation_of(f"AIDASTORM{index:012d}")))
            actions.append([d.action for d in pipeline.process(message).deliveries])
    assert actions == [
        ["dry-run"],
        ["dry-run"],
        ["blocked:circuit-breaker", "breaker-alert"],
        ["blocked:circuit-breaker"],
        ["blocked:circuit-breaker"],
    ]
    [alert] = [json.loads(line) for line in (tmp_path / "alarms.jsonl").read_text().splitlines()]
    assert alert["routes"] == ["circuit-breaker:fix"]


def test_breaker_notify_must_name_a_defined_destination(tmp_path: Path) -> None:
    text = CONFIG.format(rule=RULE).replace("notify: [alarms]", "notify: [pager]")
    problems = [str(p) for p in find_problems(text, "routes.yml", tmp_path)]
    assert any("breaker.notify[0]" in p and "'pager', which is not defined" in p for p in problems), problems


def test_unknown_breaker_key_is_refused(tmp_path: Path) -> None:
    text = CONFIG.format(rule=RULE).replace("notify: [alarms]", "notify: [alarms], page: true")
    assert find_problems(text, "routes.yml", tmp_path)
    with pytest.raises(ConfigError):
        parse_config(text, "routes.yml", tmp_path)
