"""explain lists remediation deliveries as invoke / dry-run / blocked:<reason>, and check-config catches
guard-rail mistakes the schema cannot express."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from notifier.cli import main
from tests.conftest import sns_event
from tests.remediation_support import DBSUPERUSER_ID, IAM_VIOLATION, RULE

CONFIG = """
destinations:
  dry:      {{type: lambda, function: remediate-iam}}
  enforce:  {{type: lambda, function: remediate-iam, mode: enforce, allow_rules: ['{rule}']}}
  excepted: {{type: lambda, function: remediate-iam, mode: enforce, allow_rules: ['{rule}'], exceptions: [{user}]}}
  elsewhere: {{type: lambda, function: remediate-iam, mode: enforce, allow_rules: [other-rule]}}
  hook:     {{type: webhook, url: 'http://127.0.0.1:9/hook', secrets: ['env:WEBHOOK_SECRET']}}
routes:
  - name: iam
    match: {{rule: '{rule}'}}
    destinations: [dry, enforce, excepted, elsewhere, hook]
"""


def explain(tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str) -> list[dict[str, Any]]:
    (tmp_path / "routes.yml").write_text(config)
    (tmp_path / "event.json").write_text(json.dumps(sns_event(json.loads(IAM_VIOLATION.read_text()))))
    args = ["explain", str(tmp_path / "event.json"), "--config", str(tmp_path / "routes.yml"), "--format", "json"]
    assert main(args) == 0
    [record] = json.loads(capsys.readouterr().out)["records"]
    deliveries: list[dict[str, Any]] = record["deliveries"]
    return deliveries


def test_explain_shows_what_each_guard_rail_would_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deliveries = explain(tmp_path, capsys, CONFIG.format(rule=RULE, user=DBSUPERUSER_ID))
    assert {d["destination"]: d["action"] for d in deliveries} == {
        "dry": "dry-run",
        "enforce": "invoke",
        "excepted": "blocked:excepted-resource",
        "elsewhere": "blocked:rule-not-allowed",
        "hook": "send",
    }


def test_check_config_reports_a_guard_rail_the_schema_cannot_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "routes.yml"
    path.write_text(
        "destinations:\n"
        "  fix: {type: lambda, function: remediate-iam, mode: enforce, allow_rules: ['[unclosed']}\n"
        "routes:\n  - {name: r, match: {rule: '*'}, destinations: [fix]}\n"
    )
    assert main(["check-config", str(path)]) == 1
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "destinations.fix" in errors[0]
