"""The CLI's public contract (DESIGN.md): validate, explain --format json, check-config, run, demo."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path
from typing import Any

import pytest

from notifier.cli import main
from tests.conftest import AWS, compliance_message, eventbridge_event, sns_event

CONFIGS = Path(__file__).parent.parent / "configs"

CONFIG = """
destinations:
  audit:
    type: file
    path: {audit}
  mail:
    type: email
    via: ses
    from: alerts@example.com
    to: [team@example.com]
routes:
  - name: all-violations
    match: {{transition: [first_violation, violated]}}
    destinations: [audit, mail]
  - name: fixes
    match: {{transition: resolved}}
    destinations: [audit]
"""

RECORD_KEYS = {
    "source", "message_type", "status", "account", "region", "rule", "resource_type",
    "resource_id", "from", "to", "transition", "routes", "deliveries",
}  # fmt: skip


def write(path: Path, document: Any) -> str:
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def explain_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["explain", *args, "--format", "json"]) == 0
    records: list[dict[str, Any]] = json.loads(capsys.readouterr().out)["records"]
    return records


@pytest.fixture
def config(tmp_path: Path) -> str:
    return write(tmp_path / "routes.yml", CONFIG.format(audit=tmp_path / "audit.jsonl"))


def test_explain_json_has_one_record_per_message_in_input_order(
    tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    violation = compliance_message("ComplianceChangeNotification__02_")
    batch = write(tmp_path / "batch.json", [sns_event(violation, "oops"), eventbridge_event(violation)])
    skipped = str(next((AWS / "config-sns").glob("ConfigurationItemChangeNotification__02_*.json")))
    records = explain_json(capsys, batch, skipped, str(tmp_path / "missing.json"), "--config", config)
    assert [r["status"] for r in records] == ["routed", "invalid", "routed", "skipped", "invalid"]
    assert [r["source"] for r in records] == ["sns", "sns", "eventbridge", "config", "config"]
    assert all(set(r) >= RECORD_KEYS for r in records)
    routed = records[0]
    assert (routed["from"], routed["to"], routed["transition"]) == ("COMPLIANT", "NON_COMPLIANT", "violated")
    assert routed["routes"] == ["all-violations"]
    assert routed["deliveries"] == [
        {"destination": "audit", "type": "file", "action": "send"},
        {"destination": "mail", "type": "email", "action": "send"},
    ]
    assert records[1]["error"].startswith("$[0].Records[1].Sns.Message is not valid JSON")
    assert records[3]["message_type"] == "ConfigurationItemChangeNotification"
    assert records[4]["error"].startswith("cannot read") and "missing.json" in records[4]["error"]
    assert "error" not in routed
    assert not (tmp_path / "audit.jsonl").exists()  # explain has no side effects


def test_explain_without_config_and_an_unrouted_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "m.json", compliance_message("ComplianceChangeNotification__04_"))
    [record] = explain_json(capsys, path)
    assert (record["status"], record["transition"], record["routes"]) == ("unrouted", "benign", [])


def test_explain_reads_state_but_never_writes_it(
    tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event = write(tmp_path / "e.json", sns_event(compliance_message("ComplianceChangeNotification__01_")))
    state = f"sqlite://{tmp_path / 'state.sqlite'}"
    [before] = explain_json(capsys, event, "--config", config, "--state", state)
    assert not (tmp_path / "state.sqlite").exists()
    assert main(["run", event, "--config", config, "--state", state]) == 0
    capsys.readouterr()
    [after] = explain_json(capsys, event, "--config", config, "--state", state)
    assert before["deliveries"] == [{"destination": "audit", "type": "file", "action": "send"}]
    assert (after["status"], after["deliveries"][0]["action"]) == ("duplicate", "already_sent")


def test_explain_text_shows_what_the_email_would_say(
    tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event = write(tmp_path / "e.json", compliance_message("ComplianceChangeNotification__02_"))
    assert main(["explain", event, "--config", config]) == 0
    out = capsys.readouterr().out
    assert "ROUTED" in out and "mail [email]: send" in out
    assert "Subject:" in out and "retentionInDays is less than MinRetentionTime" in out


def test_validate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path / "good.json", sns_event(compliance_message()))
    bad = write(tmp_path / "bad.json", {**compliance_message(), "awsRegion": 7})
    assert main(["validate", good]) == 0
    assert main(["validate", good, bad]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("INVALID") and "$.awsRegion must be of type string" in out[-1]
    assert main(["validate", str(tmp_path / "nope.json")]) == 1


def test_check_config_reports_every_problem(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(CONFIGS / "routes.yml")]) == 0
    assert main(["check-config", str(CONFIGS / "ten-mistakes.yml")]) == 1
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("error:")]
    assert len(errors) == 10 and all("ten-mistakes.yml:" in line for line in errors)


def test_run_delivers_and_records(tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    event = write(tmp_path / "e.json", sns_event(compliance_message("ComplianceChangeNotification__01_")))
    state = f"sqlite://{tmp_path / 'state.sqlite'}"
    assert main(["run", event, "--config", config, "--state", state, "--format", "json"]) == 0
    [record] = json.loads(capsys.readouterr().out)["records"]
    assert record["deliveries"] == [{"destination": "audit", "type": "file", "action": "sent"}]
    assert main(["run", event, "--config", config, "--state", state]) == 0
    assert "audit [file]: already_sent" in capsys.readouterr().out
    assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 1


def test_a_config_error_is_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "bad.yml", "destinations: {}\nroutes: []\n")
    event = write(tmp_path / "e.json", compliance_message())
    assert main(["explain", event, "--config", bad]) == 2
    assert "problem(s) in the routing config" in capsys.readouterr().err


def test_demo_runs_the_blog_scenario_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "DBSuperUser  NON_COMPLIANT" in out and "DBSuperUser  COMPLIANT" in out
    subjects = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["Subject"]
        for path in sorted((tmp_path / "emails").glob("*.eml"))
    ]
    assert len(subjects) == 2
    assert subjects[0].startswith("[VIOLATION]") and "non-compliant" in subjects[0]
    assert subjects[1].startswith("[RESOLVED]") and "compliant again" in subjects[1]
    audit = [json.loads(line) for line in (tmp_path / "deliveries.jsonl").read_text().splitlines()]
    assert [a["transition"]["kind"] for a in audit] == ["first_violation", "resolved"]
    assert main(["check-config", str(tmp_path / "routes.yml")]) == 0


def test_invalid_messages_go_to_their_dead_letter_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_dead_letter = CONFIG.format(audit="audit.jsonl").replace(
        "destinations:\n", "destinations:\n  rejected:\n    type: file\n    path: rejected.jsonl\n", 1
    )
    config = write(tmp_path / "routes.yml", with_dead_letter + "invalid_messages: rejected\n")
    broken = {**compliance_message(), "awsRegion": "Mars"}
    event = write(tmp_path / "e.json", sns_event(broken, compliance_message("ComplianceChangeNotification__01_")))
    assert main(["run", event, "--config", config, "--state", "memory://", "--format", "json"]) == 1
    records = json.loads(capsys.readouterr().out)["records"]
    assert records[0]["deliveries"] == [{"destination": "rejected", "type": "file", "action": "sent"}]
    assert records[1]["status"] == "routed"  # the valid sibling went through
    [dead] = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert dead["error"].startswith('$.Records[0].Sns.Message.awsRegion is "Mars"')
    assert dead["message"] == broken
    # relative file paths are anchored at the config file's folder
    assert (tmp_path / "audit.jsonl").exists()


def test_an_unreadable_envelope_is_dead_lettered_with_what_arrived(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not JSON at all, an SNS Message that is not JSON, a record of the wrong shape: nothing to parse,
    so the dead letter keeps the text as received (`raw`) beside the reason."""
    with_dead_letter = CONFIG.format(audit="audit.jsonl").replace(
        "destinations:\n", "destinations:\n  rejected:\n    type: file\n    path: rejected.jsonl\n", 1
    )
    config = write(tmp_path / "routes.yml", with_dead_letter + "invalid_messages: rejected\n")
    not_json = tmp_path / "garbage.txt"
    not_json.write_text("{'Records': [truncated")
    event = sns_event(compliance_message())
    event["Records"][0]["Sns"]["Message"] = "<html>502 Bad Gateway</html>"
    event["Records"].append(42)
    sns = write(tmp_path / "sns.json", event)
    assert main(["run", str(not_json), sns, "--config", config, "--state", "memory://", "--format", "json"]) == 1
    statuses = [r["status"] for r in json.loads(capsys.readouterr().out)["records"]]
    assert statuses == ["invalid", "invalid", "invalid"]
    lines = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    dead = {d["raw"]: d for d in lines}  # a batch is processed concurrently: the lines come in any order
    assert len(lines) == 3 and {d["message"] for d in lines} == {None}
    assert set(dead) == {"{'Records': [truncated", "<html>502 Bad Gateway</html>", "42"}
    html = dead["<html>502 Bad Gateway</html>"]
    assert "is not valid JSON" in html["error"] and html["location"] == "$.Records[0].Sns.Message"


def test_invalid_messages_must_name_a_file_destination(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "r.yml", CONFIG.format(audit="a.jsonl") + "invalid_messages: mail\n")
    assert main(["check-config", config]) == 1
    assert "destination 'mail' must be of type file" in capsys.readouterr().out
