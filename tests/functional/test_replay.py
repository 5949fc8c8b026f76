"""`compliance-notifier replay` against a moto SQS dead-letter queue and real local destinations.

The destinations are a `file` destination (made to fail for real: its directory is blocked by a plain
file, then unblocked) and a signed webhook on a real HTTP server on 127.0.0.1. The state store is
SQLite in tmp_path, so the duplicate and ordering guards are the production ones.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pytest_httpserver import HTTPServer

from notifier.cli import main
from notifier.errors import NotifierError
from notifier.replay_sources import QueueAddress, parse_queue_reference
from tests.conftest import EVENTS, compliance_message, load_json, sns_event, sns_json, sqs_record

CONFIG = """
destinations:
  audit: {{type: file, path: {audit}}}
  hook: {{type: webhook, url: "{hook}", secrets: ["env:REPLAY_HOOK_SECRET"]}}
  rejects: {{type: file, path: {rejects}}}
invalid_messages: rejects
routes:
  - name: changes
    match: {{transition: [first_violation, violated, resolved]}}
    destinations: [audit, hook]
"""

VIOLATED = compliance_message("ComplianceChangeNotification__02_")  # resource dev1
# Not a first evaluation (those may go to a baseline digest instead): an IAM user that became non-compliant.
IAM_USER = load_json(next(EVENTS.glob("ComplianceChangeNotification__iam-user_DBSuperUser_*.json")))
USER_ID = IAM_USER["resourceId"]
RESOLVED = compliance_message("ComplianceChangeNotification__01_")  # resource 123456789012
INVALID = {key: value for key, value in VIOLATED.items() if key != "newEvaluationResult"}


class Setup:
    """One config, one SQLite state, and the paths and server to look at afterwards."""

    def __init__(self, tmp_path: Path, hook: HTTPServer) -> None:
        self.tmp = tmp_path
        self.audit = tmp_path / "audit" / "audit.jsonl"
        self.rejects = tmp_path / "rejects.jsonl"
        self.hook = hook
        self.config = tmp_path / "routes.yml"
        url = hook.url_for("/hook")
        self.config.write_text(CONFIG.format(audit=self.audit, hook=url, rejects=self.rejects))
        self.state = f"sqlite://{tmp_path / 'state.sqlite'}"

    def replay(self, source: str, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
        code = main(["replay", "--from", source, "--config", str(self.config), "--state", self.state, *args])
        output = capsys.readouterr().out
        return code, json.loads(output) if "--format" in args else {"text": output}

    def block_audit(self) -> None:
        """A plain file where the audit directory belongs: the write fails (EEXIST), permanently, at once."""
        self.audit.parent.rename(self.tmp / "audit-aside")
        self.audit.parent.write_text("in the way")

    def unblock_audit(self) -> None:
        self.audit.parent.unlink()
        (self.tmp / "audit-aside").rename(self.audit.parent)

    def audited(self) -> list[str]:
        if not self.audit.exists():
            return []
        return [json.loads(line)["notification"]["resource_id"] for line in self.audit.read_text().splitlines()]

    def hooked(self) -> list[str]:
        return [json.loads(request.get_data())["notification"]["resource_id"] for request, _ in self.hook.log]


@pytest.fixture
def setup(tmp_path: Path, httpserver_ipv4: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Setup:
    monkeypatch.setenv("REPLAY_HOOK_SECRET", "whsec_" + base64.b64encode(os.urandom(32)).decode())
    httpserver_ipv4.expect_request("/hook", method="POST").respond_with_data("", status=204)
    return Setup(tmp_path, httpserver_ipv4)


@pytest.fixture
def dlq(aws_credentials: None) -> Iterator[tuple[Any, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        yield sqs, sqs.create_queue(QueueName="config-dlq")["QueueUrl"]


def send(sqs: Any, url: str, body: Any, *, reason: str | None = None) -> None:
    attributes = {"reason": {"DataType": "String", "StringValue": reason}} if reason else {}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body), MessageAttributes=attributes)


def queue_depth(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def by_resource(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Records by resource id; the invalid message (which still names dev1) as "invalid"."""
    return {"invalid" if r["status"] == "invalid" else r["resource_id"]: r for r in report["records"]}


def summary(report: dict[str, Any], *keys: str) -> tuple[int, ...]:
    return tuple(report["summary"][key] for key in keys)


def test_kept_while_down_then_delivered_exactly_once_and_deleted(
    setup: Setup, dlq: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, url = dlq
    already = setup.tmp / "resolved.json"
    already.write_text(json.dumps(sns_event(RESOLVED)))
    assert main(["run", str(already), "--config", str(setup.config), "--state", setup.state]) == 0
    capsys.readouterr()
    send(sqs, url, sns_json(VIOLATED), reason="audit: cannot append")  # non-raw subscription: SNS JSON
    send(sqs, url, IAM_USER)  # raw delivery: the bare Config message
    send(sqs, url, INVALID, reason="invalid: $ is missing the required key 'newEvaluationResult'")
    send(sqs, url, sns_json(RESOLVED))  # a change every destination already has
    setup.block_audit()

    code, first = setup.replay(f"sqs://{url}", "--format", "json", capsys=capsys)

    assert code == 1
    records = by_resource(first)
    assert {r: (v["action"], v["result"]) for r, v in records.items()} == {
        "dev1": ("kept", "failed"),
        USER_ID: ("kept", "failed"),
        "invalid": ("deleted", "invalid"),  # moved to the invalid_messages file: no retry can fix it
        "123456789012": ("deleted", "succeeded"),
    }
    assert records["dev1"]["first_failure"] == "audit: cannot append"
    assert [d["action"] for d in records["dev1"]["deliveries"]] == ["failed", "sent"]  # hook was up
    assert records["123456789012"]["status"] == "duplicate"
    assert summary(first, "received", "succeeded", "failed", "invalid") == (4, 1, 2, 1)
    assert queue_depth(sqs, url) == (2, 0)  # kept, and visible again for the next replay at once
    assert json.loads(setup.rejects.read_text())["error"] == "$.body is missing the required key 'newEvaluationResult'"

    setup.unblock_audit()
    code, second = setup.replay(f"sqs://{url}", "--format", "json", capsys=capsys)

    assert code == 0
    records = by_resource(second)
    assert {r: v["action"] for r, v in records.items()} == {"dev1": "deleted", USER_ID: "deleted"}
    assert [d["action"] for d in records["dev1"]["deliveries"]] == ["sent", "already_sent"]
    assert queue_depth(sqs, url) == (0, 0)

    code, third = setup.replay(f"sqs://{url}", "--format", "json", capsys=capsys)

    assert (code, third["records"], summary(third, "received")) == (0, [], (0,))
    assert sorted(setup.audited()) == sorted(setup.hooked()) == sorted(["123456789012", USER_ID, "dev1"])
    assert len(setup.rejects.read_text().splitlines()) == 1


def test_destination_limits_deliveries_and_keeps_what_others_still_need(
    setup: Setup, dlq: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, url = dlq
    send(sqs, url, sns_json(VIOLATED))
    send(sqs, url, IAM_USER)
    send(sqs, url, INVALID)

    code, to_hook = setup.replay(f"sqs://{url}", "--destination", "hook", "--format", "json", capsys=capsys)

    assert code == 1  # the invalid one
    records = by_resource(to_hook)
    assert {r: (v["action"], v["result"]) for r, v in records.items()} == {
        "dev1": ("kept", "pending"),
        USER_ID: ("kept", "pending"),
        "invalid": ("kept", "invalid"),  # --destination hook: not moved to the invalid_messages file either
    }
    assert "still owed to audit" in records["dev1"]["reason"]
    assert sorted(setup.hooked()) == sorted([USER_ID, "dev1"]) and setup.audited() == []
    assert not setup.rejects.exists()

    code, to_audit = setup.replay(f"sqs://{url}", "--destination", "audit", "--format", "json", capsys=capsys)

    records = by_resource(to_audit)
    expected = {"dev1": "deleted", USER_ID: "deleted", "invalid": "kept"}
    assert {r: v["action"] for r, v in records.items()} == expected
    assert sorted(setup.audited()) == sorted([USER_ID, "dev1"])
    assert len(setup.hook.log) == 2  # hook was left out, and had them anyway

    code, everything = setup.replay(f"sqs://{url}", "--format", "json", capsys=capsys)

    assert (code, [r["action"] for r in everything["records"]]) == (1, ["deleted"])  # moved, then deleted
    assert queue_depth(sqs, url) == (0, 0)


def test_unknown_destination_exits_2_naming_the_defined_ones(
    setup: Setup, dlq: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, url = dlq
    send(sqs, url, IAM_USER)

    assert main(["replay", "--from", f"sqs://{url}", "--config", str(setup.config), "--destination", "jira"]) == 2

    error = capsys.readouterr().err
    assert "--destination 'jira' is not defined" in error and "audit, hook, rejects" in error
    assert queue_depth(sqs, url) == (1, 0)  # refused before receiving anything


def test_dry_run_sends_records_and_deletes_nothing(
    setup: Setup, dlq: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, url = dlq
    send(sqs, url, sns_json(VIOLATED))
    send(sqs, url, IAM_USER)

    code, report = setup.replay("sqs://config-dlq", "--dry-run", "--format", "json", capsys=capsys)  # by name

    assert code == 0 and report["summary"]["dry_run"] is True
    assert [r["action"] for r in report["records"]] == ["would-delete", "would-delete"]
    assert {d["action"] for r in report["records"] for d in r["deliveries"]} == {"send"}
    assert setup.audited() == [] and setup.hooked() == []
    assert not (setup.tmp / "state.sqlite").exists()
    assert queue_depth(sqs, url) == (2, 0)

    code, report = setup.replay(f"sqs://{url}", "--max", "1", "--format", "json", capsys=capsys)

    assert (code, len(report["records"]), queue_depth(sqs, url)) == (0, 1, (1, 0))


def test_file_of_dead_letter_records_revalidates_each_message(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    bad = setup.tmp / "bad.json"
    bad.write_text(json.dumps(sns_event(INVALID)))
    assert main(["run", str(bad), "--config", str(setup.config), "--state", setup.state]) == 1
    capsys.readouterr()
    with setup.rejects.open("a") as rejects:  # as if the schema had refused it before an upgrade
        old = {"status": "invalid", "error": "an older schema", "source": "sqs", "message_id": "m-1"}
        rejects.write(json.dumps({**old, "message": VIOLATED}) + "\n")
        rejects.write(json.dumps({**old, "error": "$.Records[0].Sns.Message is not valid JSON", "message": None}))
    lines_before = setup.rejects.read_text()

    code, report = setup.replay(str(setup.rejects), "--format", "json", capsys=capsys)

    assert code == 1
    assert [(r["input"].rsplit(":", 1)[1], r["action"], r["result"]) for r in report["records"]] == [
        ("1", "kept", "invalid"),
        ("2", "replayed", "succeeded"),
        ("3", "kept", "invalid"),
    ]
    valid = report["records"][1]
    assert (valid["source"], valid["message_id"], valid["first_failure"]) == ("sqs", "m-1", "an older schema")
    assert "kept no message" in report["records"][2]["reason"]
    assert setup.rejects.read_text() == lines_before  # a file is the record: never rewritten nor re-appended
    assert setup.audited() == setup.hooked() == ["dev1"]


def test_file_of_cli_inputs_replays_events_and_json_lines(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    event = setup.tmp / "event.json"
    bodies = [json.dumps(sns_json(VIOLATED)), json.dumps(IAM_USER)]  # non-raw and raw SQS records
    event.write_text(json.dumps({"Records": [sqs_record(body) for body in bodies]}))
    lines = setup.tmp / "messages.jsonl"
    lines.write_text(f"{json.dumps(RESOLVED)}\n\n{json.dumps(VIOLATED)}\n")

    code, report = setup.replay(str(event), "--format", "json", capsys=capsys)

    assert code == 0 and [r["action"] for r in report["records"]] == ["replayed", "replayed"]

    code, text = setup.replay(str(lines), capsys=capsys)

    assert code == 0
    out = text["text"].splitlines()
    assert out[0].startswith(f"replayed     {lines}:1 cloudtrail-enabled") and "audit sent, hook sent" in out[0]
    assert out[1].startswith(f"replayed     {lines}:3") and "duplicate: every destination already had it" in out[1]
    counts = "2 received, 2 succeeded, 0 failed (kept), 0 pending another destination (kept), 0 invalid"
    assert out[2] == f"{lines}: {counts}"
    assert sorted(setup.audited()) == sorted(setup.hooked()) == sorted(["123456789012", USER_ID, "dev1"])


def test_a_missing_file_exits_2(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--from", str(setup.tmp / "nope.jsonl"), "--config", str(setup.config)]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (
            "sqs://https://sqs.us-east-1.amazonaws.com/123456789012/config-dlq",
            QueueAddress("https://sqs.us-east-1.amazonaws.com/123456789012/config-dlq", None, "us-east-1", None),
        ),
        (
            "sqs://sqs.eu-west-1.amazonaws.com/123456789012/dlq.fifo",
            QueueAddress("https://sqs.eu-west-1.amazonaws.com/123456789012/dlq.fifo", None, "eu-west-1", None),
        ),
        (
            "sqs://https://ap-southeast-2.queue.amazonaws.com/123456789012/dlq",
            QueueAddress("https://ap-southeast-2.queue.amazonaws.com/123456789012/dlq", None, "ap-southeast-2", None),
        ),
        (
            "sqs://http://localhost:4566/000000000000/dlq",
            QueueAddress("http://localhost:4566/000000000000/dlq", None, None, "http://localhost:4566"),
        ),
        ("sqs://config-dlq", QueueAddress(None, "config-dlq", None, None)),
    ],
)
def test_queue_references(reference: str, expected: QueueAddress) -> None:
    assert parse_queue_reference(reference) == expected


@pytest.mark.parametrize("reference", ["sqs://", "sqs://bad name", "sqs://https://sqs.us-east-1.amazonaws.com/dlq"])
def test_bad_queue_references_are_refused(reference: str) -> None:
    with pytest.raises(NotifierError, match="sqs://"):
        parse_queue_reference(reference)
