"""Unresolvable secret references fail check-config --resolve-secrets and the cold start, naming the
reference and never the value; SSM and Secrets Manager through moto."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from notifier import handler
from notifier.cli import main
from notifier.errors import ConfigError

CONFIG = """
destinations:
  mail:
    type: email
    via: smtp
    host: 127.0.0.1
    username: bot
    password: {password}
    from: a@example.com
    to: [b@example.com]
  tickets:
    type: jira
    flavor: datacenter
    url: https://jira.example.com
    project: SEC
    token: {token}
routes:
  - {{name: all, match: {{rule: '*'}}, destinations: [mail, tickets]}}
"""


@pytest.fixture
def aws(aws_credentials: None) -> object:
    with mock_aws():
        boto3.client("ssm").put_parameter(Name="/notifier/smtp", Value="smtp-Secret-Value-1", Type="SecureString")
        boto3.client("secretsmanager").create_secret(Name="notifier/jira", SecretString='{"token": "jira-Secret-2"}')
        yield None


def write(tmp_path: Path, password: str, token: str) -> Path:
    path = tmp_path / "routes.yml"
    path.write_text(CONFIG.format(password=password, token=token))
    return path


def test_resolvable_references_pass(aws: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "ssm:/notifier/smtp", "secretsmanager:notifier/jira#token")
    assert main(["check-config", str(path), "--resolve-secrets"]) == 0
    out = capsys.readouterr()
    assert "smtp-Secret-Value-1" not in out.out + out.err and "jira-Secret-2" not in out.out + out.err


def test_unresolvable_references_are_named_values_never_shown(
    aws: object, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MISSING_TOKEN", raising=False)
    path = write(tmp_path, "ssm:/notifier/nope", "secretsmanager:notifier/jira#missing-key")
    assert main(["check-config", str(path)]) == 0  # without the flag nothing is resolved
    assert main(["check-config", str(path), "--resolve-secrets"]) == 1
    out = capsys.readouterr().out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert "destinations.mail.password" in errors[0] and "ssm:/notifier/nope" in errors[0]
    assert "destinations.tickets.token" in errors[1] and "secretsmanager:notifier/jira#missing-key" in errors[1]
    assert "jira-Secret-2" not in out  # the JSON document the key was looked up in is never quoted


def test_cold_start_fails_naming_the_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_credentials: None
) -> None:
    monkeypatch.setenv("NOTIFIER_CONFIG", str(write(tmp_path, "env:SMTP_PASSWORD_MISSING", "env:JIRA_TOKEN_X")))
    monkeypatch.setenv("NOTIFIER_STATE", "memory://")
    monkeypatch.setenv("JIRA_TOKEN_X", "present-value-7")
    monkeypatch.delenv("SMTP_PASSWORD_MISSING", raising=False)
    handler.set_pipeline(None)
    with pytest.raises(ConfigError) as raised:
        handler.lambda_handler({"Records": []}, None)
    text = str(raised.value)
    assert "env:SMTP_PASSWORD_MISSING" in text and "destinations.mail.password" in text
    assert "JIRA_TOKEN_X" not in text and "present-value-7" not in text
    handler.set_pipeline(None)
