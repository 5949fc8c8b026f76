"""Every destination fails at once, and not one secret value appears anywhere we write: logs (every
logger, DEBUG and up, urllib3 included), stdout/stderr (EMF metrics, Powertools logs), the outcome
records explain/run print, or the text of the exception the handler raises for Lambda to retry."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from notifier import handler
from notifier.app import build_pipeline
from notifier.envelopes import decode
from notifier.routing.config import parse_config
from notifier.state import MemoryState
from tests.conftest import compliance_message, sns_event
from tests.functional.smtp_server import closed_port

SECRETS = {
    "SMTP_PASSWORD": "smtp-Pass-Q9v7Zt",
    "JIRA_TOKEN": "jira-Token-ABC123xyz",
    "SN_PASSWORD": "sn-Password-XYZ789q",
    "WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"webhook-signing-key-0123456789").decode(),
    "SLACK_URL_PATH": "/services/T0SECRET/B0SECRET/slackSecretPath42",
}

CONFIG = """
destinations:
  mail:
    type: email
    via: smtp
    host: 127.0.0.1
    port: {smtp_port}
    tls: starttls
    username: bot
    password: env:SMTP_PASSWORD
    from: alerts@example.com
    to: [team@example.com]
  jira:
    type: jira
    flavor: cloud
    url: {base}/jira
    project: SEC
    email: bot@example.com
    token: env:JIRA_TOKEN
  snow:
    type: servicenow
    url: {base}/snow
    username: integration
    password: env:SN_PASSWORD
  hook:
    type: webhook
    url: {base}/hook
    secrets: [env:WEBHOOK_SECRET]
    headers: {{X-Api-Key: env:JIRA_TOKEN}}
  slack:
    type: slack
    webhook_url: env:SLACK_URL
  fix:
    type: lambda
    function: remediate-iam-does-not-exist
    region: us-east-1
    mode: enforce
    allow_rules: ['*']
routes:
  - name: everything
    match: {{rule: '*'}}
    destinations: [mail, jira, snow, hook, slack, fix]
"""


def failing(request: Request) -> Response:
    """Each vendor fails in its own way; some echo the request back, as careless servers do."""
    path = request.path
    if path.startswith("/jira"):
        return Response(json.dumps({"errorMessages": [f"bad auth {request.headers.get('Authorization')}"]}), 401,
                        content_type="application/json")  # fmt: skip
    if path.startswith("/snow"):
        return Response("<html>instance hibernating</html>", 200, content_type="text/html")
    if path.startswith("/services"):
        return Response("no_service", 404, content_type="text/plain")
    return Response(json.dumps({"error": "boom", "headers": dict(request.headers)}), 500,
                    content_type="application/json")  # fmt: skip


@pytest.fixture
def everything_down(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, aws_credentials: None, tmp_path: Path
) -> Iterator[None]:
    httpserver.expect_request(re.compile(".*")).respond_with_handler(failing)
    base = httpserver.url_for("").rstrip("/")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLACK_URL", base + SECRETS["SLACK_URL_PATH"])
    config = parse_config(CONFIG.format(smtp_port=closed_port(), base=base), "routes.yml", tmp_path)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        handler.set_pipeline(build_pipeline(config, state=MemoryState()))
        yield
        handler.set_pipeline(None)


def secret_forms() -> list[str]:
    values = list(SECRETS.values())
    basic = base64.b64encode(f"bot@example.com:{SECRETS['JIRA_TOKEN']}".encode()).decode()
    sn_basic = base64.b64encode(f"integration:{SECRETS['SN_PASSWORD']}".encode()).decode()
    signing_key = SECRETS["WEBHOOK_SECRET"].removeprefix("whsec_")
    return [*values, basic, sn_basic, signing_key, "slackSecretPath42"]


def test_no_secret_value_anywhere_while_every_destination_fails(
    everything_down: None, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's request lines included
    event = sns_event(compliance_message("ComplianceChangeNotification__02_"))
    with pytest.raises(handler.DeliveryFailed) as raised:
        handler.lambda_handler(event, None)
    [message] = decode(event)
    captured = capsys.readouterr()
    outcome_logs = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    failed = {
        d["destination"]
        for log in outcome_logs
        for d in log.get("outcome", {}).get("deliveries", [])
        if d["action"] == "failed"
    }
    # every secret-bearing destination really failed (moto accepts an async invoke of any function name,
    # so the remediation, which holds no secret, goes through)
    assert failed == {"mail", "jira", "snow", "hook", "slack"}, outcome_logs
    # Every log record but the fake vendors' own access log (werkzeug serving them logs their request lines).
    ours = "\n".join(caplog.handler.format(r) for r in caplog.records if not r.name.startswith("werkzeug"))
    everything = "\n".join([ours, captured.out, captured.err, str(raised.value), repr(raised.value)])
    leaks = [form for form in secret_forms() if form in everything]
    for form in leaks:  # say where, so a failure is quick to fix
        at = everything.index(form)
        print("LEAK:", form, "in:", everything[max(0, at - 300) : at + 80].replace("\n", " | "))
    assert leaks == [], f"secret values found in the output: {leaks}"
    assert message.location in everything  # the logs did record the failing notification
