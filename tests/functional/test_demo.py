"""`compliance-notifier demo`: the whole system on an embedded AWS (moto's server), end to end.

The blog and storm scenarios run in this process (the demo restores the environment, the handler's
pipeline and the rule's clients afterwards); `--keep` runs as a subprocess, interrupted with SIGINT.
Each assertion reads an artefact the demo left (the .eml files SES accepted, the webhook receiver's log,
the dry-run outbox, the audit file, the report) or a line of its narration."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

import boto3
import pytest
from standardwebhooks.webhooks import Webhook

from notifier.cli import main
from notifier.demo import run_demo
from notifier.demo.receiver import new_secret, verify
from notifier.routing.config import check_config, load_config

ROOT = Path(__file__).resolve().parents[2]


def json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def count(output: str, label: str) -> int:
    """The count column of a row of the summary's first table."""
    [found] = [line.split(label, 1)[1].split()[0] for line in output.splitlines() if line.strip().startswith(label)]
    return int(found)


def table(output: str, header_start: str) -> dict[str, dict[str, str]]:
    """A narrated table as {first cell: {column: cell}}: the header row, a dashes row, then the rows."""
    lines = [line.strip() for line in output.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    header = lines[start].split()
    rows: dict[str, dict[str, str]] = {}
    for line in lines[start + 2 :]:
        cells = line.split()
        if len(cells) != len(header):
            break
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


@pytest.fixture(scope="module")
def blog(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    import contextlib
    import io

    out = tmp_path_factory.mktemp("demo-blog")
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        code = run_demo(out)
    return code, said.getvalue(), out


def test_the_blog_scenario_evaluates_the_three_users_with_the_real_rule(blog: tuple[int, str, Path]) -> None:
    code, output, _ = blog
    assert code == 0, output
    verdicts = [
        line.split(None, 2)
        for line in output.splitlines()
        if line.strip().startswith(("admin ", "teststadion ", "DBSuperUser "))
    ]
    assert ["admin", "NOT_APPLICABLE", "admin is in the exception list"] in verdicts
    assert ["teststadion", "COMPLIANT", "only MyIAMUserPolicy is attached"] in verdicts
    extra = "missing MyIAMUserPolicy; extra managed: DBBackupOperatorPolicy, DatabaseAdminPolicy"
    assert ["DBSuperUser", "NON_COMPLIANT", extra] in verdicts
    assert ["DBSuperUser", "COMPLIANT", "only MyIAMUserPolicy is attached"] in verdicts  # after the fix


def test_the_subscription_filter_keeps_other_config_messages_out_of_the_queue(blog: tuple[int, str, Path]) -> None:
    _, output, _ = blog
    assert "SQS queue compliance-notifier-intake subscribed with MessageBody filter" in output
    assert "the subscription's body filter dropped 1 ConfigRulesEvaluationStarted" in output
    assert count(output, "published by Config") == 5  # 4 compliance changes + ConfigRulesEvaluationStarted
    assert count(output, "kept out by the filter") == 1
    assert count(output, "handed to the handler") == 4
    assert count(output, "batchItemFailures") == 0


def test_ses_accepted_the_violation_then_the_resolved_email(blog: tuple[int, str, Path]) -> None:
    _, _, out = blog
    emails = [message_from_bytes(path.read_bytes()) for path in sorted((out / "emails").glob("*.eml"))]
    assert [e["X-Compliance-Transition"] for e in emails] == ["first_violation", "resolved"]
    assert emails[0]["Subject"].startswith("[VIOLATION] AWS::IAM::User")
    assert emails[1]["Subject"].startswith("[RESOLVED] AWS::IAM::User")
    assert {e["To"] for e in emails} == {"platform-security@example.com"}


def test_the_webhook_receiver_got_two_verified_signed_requests(blog: tuple[int, str, Path]) -> None:
    _, _, out = blog
    requests = json_lines(out / "webhook-requests.jsonl")
    assert [r["verified"] for r in requests] == [True, True]
    assert [r["body"]["transition"]["kind"] for r in requests] == ["first_violation", "resolved"]
    assert all(r["headers"]["webhook-signature"].startswith("v1,") for r in requests)


def test_the_dry_run_outbox_holds_the_ticket_opening_and_its_resolution(blog: tuple[int, str, Path]) -> None:
    _, _, out = blog
    records = json_lines(out / "dry-run-requests.jsonl")
    jira = [(r["action"], [(q["method"], q["url"]) for q in r["requests"]]) for r in records if r["type"] == "jira"]
    assert [action for action, _ in jira] == ["open", "resolve"]
    assert ("POST", "https://example.atlassian.net/rest/api/3/issue") in jira[0][1]
    assert any(method == "POST" and url.endswith("/transitions") for method, url in jira[1][1])
    servicenow = [(r["action"], [q["method"] for q in r["requests"]]) for r in records if r["type"] == "servicenow"]
    assert [(action, "POST" in methods or "PATCH" in methods) for action, methods in servicenow] == [
        ("open", True),
        ("resolve", True),
    ]
    assert all(r["dry_run"] is True for r in records)


def test_the_summary_counts_each_destination_and_the_report_is_written(blog: tuple[int, str, Path]) -> None:
    _, output, out = blog
    destinations = table(output, "destination ")
    assert destinations["security-email"]["sent"] == "2"
    assert destinations["siem-webhook"]["sent"] == "2"
    assert destinations["audit-log"]["sent"] == "2"
    assert destinations["security-jira"]["dry-run"] == "2"
    assert destinations["security-servicenow"]["dry-run"] == "2"
    assert destinations["fix-iam-users"]["dry-run"] == "1"  # the guard decided; nothing was invoked
    assert len(json_lines(out / "deliveries.jsonl")) == 2
    assert "<html" in (out / "compliance-report.html").read_text()
    assert "compliance-report.html (0 open violation(s))" in output


def test_the_routing_config_loads_checks_clean_and_explains_the_saved_events(
    blog: tuple[int, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, out = blog
    routes = out / "routes.yml"
    load_config(routes)
    check = check_config(routes.read_text(), str(routes), out)
    assert not check.problems and not check.warnings
    events = sorted(str(p) for p in (out / "events").glob("*.json"))
    assert len(events) == 2  # one SQS batch per step
    assert main(["explain", *events, "--config", str(routes), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)["records"]
    assert sorted(r["transition"] for r in records if r["status"] == "routed") == ["first_violation", "resolved"]


def test_the_receivers_check_agrees_with_the_standard_webhooks_reference() -> None:
    secret, body = new_secret(), '{"type": "compliance.change"}'
    now = datetime.now(UTC)
    signature = Webhook(secret).sign("msg_1", now, body)
    stamp = str(int(now.timestamp()))
    assert verify(secret, "msg_1", stamp, body.encode(), f"v1,bogus {signature}", now.timestamp()) is None
    assert verify(secret, "msg_1", stamp, body.encode() + b" ", signature, now.timestamp()) is not None
    assert verify(new_secret(), "msg_1", stamp, body.encode(), signature, now.timestamp()) is not None
    assert verify(secret, "msg_1", stamp, body.encode(), signature, now.timestamp() + 600) is not None


def test_a_rule_deployment_storm_becomes_one_digest_per_destination(tmp_path: Path) -> None:
    import contextlib
    import io

    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        code = run_demo(tmp_path, scenario="storm", size=40)
    output = said.getvalue()
    assert code == 0, output
    assert "40 notifications → 1 digest per destination" in output
    assert "emails sent per resource: 0" in output
    [email] = [message_from_bytes(path.read_bytes()) for path in (tmp_path / "emails").glob("*.eml")]
    assert email["X-Compliance-Digest"] == "40"
    [hook] = json_lines(tmp_path / "webhook-requests.jsonl")
    assert hook["verified"] and hook["body"]["type"] == "compliance.digest"
    [audit] = json_lines(tmp_path / "deliveries.jsonl")
    assert audit["digest"] is True and audit["total"] == 40
    destinations = table(output, "destination ")
    for name in ("security-email", "siem-webhook", "audit-log", "security-jira", "security-servicenow"):
        assert destinations[name]["digested"] == "40", name
    for name in ("security-email", "siem-webhook", "audit-log"):
        assert destinations[name]["digest:sent"] == "1", name
    assert count(output, "digest flushes") == 1
    outbox = json_lines(tmp_path / "dry-run-requests.jsonl")
    umbrellas = {r["destination"]: r for r in outbox if r["action"] == "digest"}
    assert set(umbrellas) == {"security-jira", "security-servicenow"}  # each rehearsed its umbrella ticket
    assert all(r["digest"]["items"] == 40 and r["requests"][-1]["method"] == "POST" for r in umbrellas.values())


def test_keep_leaves_the_embedded_aws_up_until_sigint(tmp_path: Path) -> None:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier.cli", "demo", "--keep", "--out", str(tmp_path)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(120, process.kill)  # a hung demo fails the test instead of hanging it
    watchdog.start()
    try:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:
            lines.append(line)
            if "Press Ctrl-C to stop." in line:
                break
        output = "".join(lines)
        [endpoint] = [line.split("=", 1)[1].strip() for line in lines if "export AWS_ENDPOINT_URL=" in line]
        assert endpoint.startswith("http://127.0.0.1:")
        sns = boto3.client(
            "sns", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )  # fmt: skip
        topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
        assert topics == ["arn:aws:sns:us-east-1:123456789012:config-topic"], output
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=30)[0]
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output + rest
    assert "stopping the embedded AWS" in rest
