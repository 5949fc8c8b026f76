"""`compliance-notifier report` on a SQLite state written by real notifications through `run`.

The history is made the way production makes it: Config messages (the AWS fixture, varied) in SNS
envelopes, through the whole pipeline, into a SQLite file; then a redelivery (REPEAT) and a late,
older message (STALE), which the report must ignore.

    cw-loggroup (AWS::Logs::LogGroup, account 746869318262)
      dev1  C→NC  05-01 00:00, NC→C  05-01 06:00 (resolved in 6 h); its violation redelivered late: STALE
      dev2  NONE→NC 05-02 00:00 (open); delivered twice: one REPEAT
      dev3  C→NC  05-01 12:00, NC→NA 05-03 00:00 (retired)
    s3-encryption (AWS::S3::Bucket, account 111122223333)
      logs-bucket  C→NC 05-02 12:00 (open)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from notifier.cli import main
from tests.conftest import compliance_message, sns_event

LOG_RULE = "cw-loggroup-retention-period-check-conformance-pack-qayjyopmd"  # the fixture's own rule
NOW = "2024-05-04T00:00:00Z"

CONFIG = """
destinations:
  audit: {type: file, path: audit.jsonl}
routes:
  - name: changes
    match: {transition: [first_violation, violated, resolved, retired]}
    destinations: [audit]
"""


def change(
    resource_id: str,
    old: str | None,
    new: str,
    at: str,
    *,
    rule: str = LOG_RULE,
    resource_type: str = "AWS::Logs::LogGroup",
    account: str = "746869318262",
) -> dict[str, Any]:
    """The fixture's ComplianceChangeNotification for another resource, states and time (`at` is
    'MM-DD HH:MM' in 2024, UTC), with its qualifiers kept consistent with the top-level fields."""
    message = compliance_message("ComplianceChangeNotification__02_")
    stamp = f"2024-{at.replace(' ', 'T')}:00.000Z"
    message.update(resourceId=resource_id, configRuleName=rule, resourceType=resource_type, awsAccountId=account)
    message["notificationCreationTime"] = stamp.replace(":00.000Z", ":20.000Z")
    for result in (message["newEvaluationResult"], message["oldEvaluationResult"]):
        result["evaluationResultIdentifier"]["evaluationResultQualifier"].update(
            configRuleName=rule, resourceType=resource_type, resourceId=resource_id
        )
    new_result = message["newEvaluationResult"]
    new_result["complianceType"] = new
    new_result["evaluationResultIdentifier"]["orderingTimestamp"] = stamp
    new_result["resultRecordedTime"] = new_result["configRuleInvokedTime"] = stamp.replace(":00.000Z", ":10.000Z")
    if old is None:
        message["oldEvaluationResult"] = None  # a first evaluation
    else:
        message["oldEvaluationResult"]["complianceType"] = old
    return message


DEV1_VIOLATED = change("dev1", "COMPLIANT", "NON_COMPLIANT", "05-01 00:00")
DEV2_FIRST = change("dev2", None, "NON_COMPLIANT", "05-02 00:00")
FIRST_RUN = [
    DEV1_VIOLATED,
    change("dev1", "NON_COMPLIANT", "COMPLIANT", "05-01 06:00"),
    change("dev3", "COMPLIANT", "NON_COMPLIANT", "05-01 12:00"),
    DEV2_FIRST,
    change("logs-bucket", "COMPLIANT", "NON_COMPLIANT", "05-02 12:00",
           rule="s3-encryption", resource_type="AWS::S3::Bucket", account="111122223333"),
    change("dev3", "NON_COMPLIANT", "NOT_APPLICABLE", "05-03 00:00"),
]  # fmt: skip
LATE_RUN = [DEV2_FIRST, DEV1_VIOLATED]  # a redelivery (REPEAT), then an old message arriving late (STALE)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("report-state")
    (folder / "routes.yml").write_text(CONFIG)
    url = f"sqlite://{folder / 'state.sqlite'}"
    for number, messages in enumerate((FIRST_RUN, LATE_RUN)):
        inputs = folder / f"run-{number}.json"
        inputs.write_text(json.dumps(sns_event(*messages)))
        assert main(["run", str(inputs), "--config", str(folder / "routes.yml"), "--state", url]) == 0
    return url


def report_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["report", *args, "--format", "json", "--now", NOW]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def test_json_figures_from_a_history_made_by_the_pipeline(state: str, capsys: pytest.CaptureFixture[str]) -> None:
    report = report_json(capsys, "--state", state)
    assert report["entries"] == {"read": 8, "fresh": 6, "repeat": 1, "stale": 1, "after_now": 0}
    assert report["open_total"] == 2
    assert report["open_by_rule"] == [{"rule": LOG_RULE, "open": 1}, {"rule": "s3-encryption", "open": 1}]
    assert report["open_by_account"] == [{"account": "111122223333", "open": 1}, {"account": "746869318262", "open": 1}]
    assert report["open_by_resource_type"] == [
        {"resource_type": "AWS::Logs::LogGroup", "open": 1},
        {"resource_type": "AWS::S3::Bucket", "open": 1},
    ]
    assert [(v["resource_id"], v["opened_at"], v["age_seconds"]) for v in report["oldest_open"]] == [
        ("dev2", "2024-05-02T00:00:00.000Z", 2 * 86400.0),
        ("logs-bucket", "2024-05-02T12:00:00.000Z", 1.5 * 86400),
    ]
    logs, s3 = report["rules"]
    assert logs == {
        "rule": LOG_RULE, "open": 1, "opened": 3, "resolved": 1, "retired": 1, "data_gap": 0,
        "mean_seconds_to_resolve": 6 * 3600.0, "p90_seconds_to_resolve": 6 * 3600.0,
    }  # fmt: skip
    assert (s3["rule"], s3["open"], s3["resolved"], s3["mean_seconds_to_resolve"]) == ("s3-encryption", 1, 0, None)
    assert [(p["at"][5:16], p["open"]) for p in report["open_over_time"]] == [
        ("05-01T00:00", 1), ("05-01T06:00", 0), ("05-01T12:00", 1), ("05-02T00:00", 2),
        ("05-02T12:00", 3), ("05-03T00:00", 2), ("05-04T00:00", 2),
    ]  # fmt: skip


def test_since_and_top(state: str, capsys: pytest.CaptureFixture[str]) -> None:
    report = report_json(capsys, "--state", state, "--since", "2024-05-02", "--top", "1")
    assert (report["since"], report["window_start"]) == ("2024-05-02T00:00:00.000Z", "2024-05-02T00:00:00.000Z")
    assert [v["resource_id"] for v in report["oldest_open"]] == ["dev2"]
    assert [(r["opened"], r["resolved"], r["retired"]) for r in report["rules"]] == [(1, 0, 1), (1, 0, 0)]
    assert report["open_over_time"][0] == {"at": "2024-05-02T00:00:00.000Z", "open": 2}


def test_html_report_to_a_file_leaves_the_store_untouched(
    state: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Path(state.removeprefix("sqlite://"))
    before = store.read_bytes()
    output = tmp_path / "report.html"
    assert main(["report", "--state", state, "--now", NOW, "--output", str(output)]) == 0
    assert capsys.readouterr().err == f"wrote {output}: 2 open violation(s)\n"
    page = output.read_text()
    assert page.startswith("<!DOCTYPE html>") and '<svg id="open-over-time"' in page
    assert '<td class="id">logs-bucket</td>' in page and '<td class="name">s3-encryption</td>' in page
    assert "http://" not in page and "https://" not in page
    assert store.read_bytes() == before  # the report opens the store read-only


def test_html_goes_to_compliance_report_html_by_default(
    state: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--state", state, "--now", NOW]) == 0
    assert capsys.readouterr().out == ""
    assert "<h1>Compliance report</h1>" in (tmp_path / "compliance-report.html").read_text()


def test_mistakes_are_reported_not_raised(state: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--state", state, "--since", "last tuesday"]) == 2
    assert "--since 'last tuesday' is not an ISO-8601 time" in capsys.readouterr().err
    assert main(["report", "--state", state, "--now", "2024-05-01", "--since", "2024-05-02"]) == 2
    assert "is later than the report time" in capsys.readouterr().err
    missing = f"sqlite://{tmp_path / 'nothing-here.sqlite'}"
    assert main(["report", "--state", missing, "--format", "json", "--now", NOW]) == 0
    captured = capsys.readouterr()
    assert "has no history" in captured.err and json.loads(captured.out)["open_total"] == 0
    assert not (tmp_path / "nothing-here.sqlite").exists()
