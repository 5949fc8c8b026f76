"""One resource's life through the whole pipeline, ending with exactly the tickets a person expects.

violated → the same notification again → re-sent unchanged → resolved → a stale one (older than the
resolution, arriving after it) → violated again → retired. Run against the Jira Cloud and ServiceNow
fakes (which check every request against the vendors' contracts) on SQLite and on DynamoDB (moto).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pytest_httpserver import HTTPServer

from notifier.app import build_pipeline
from notifier.envelopes import decode
from notifier.pipeline import Pipeline
from notifier.routing.config import parse_config
from notifier.state import DynamoDbState, SqliteState, create_table
from notifier.state.base import StateStore
from tests.conftest import compliance_message, sns_record
from tests.functional.jira_fake import EMAIL, PROJECT, TOKEN, FakeJira
from tests.functional.servicenow_fake import ServiceNowFake

CONFIG = """
destinations:
  sec-jira:
    type: jira
    flavor: cloud
    url: {jira}
    project: {project}
    email: {email}
    token: env:JIRA_TOKEN
    reopen_within: 7d
  sec-snow:
    type: servicenow
    url: {snow}
    username: integration
    password: env:SN_PASSWORD
    reopen_within: 7d
routes:
  - name: log-group-problems
    match:
      resource_type: AWS::Logs::LogGroup
      transition: [first_violation, violated, resolved, retired]
    destinations: [sec-jira, sec-snow]
"""

C, NC, NA = "COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"


def change(old: str, new: str, at: str) -> dict[str, Any]:
    """The real log-group notification, moved to old → new at the given orderingTimestamp."""
    message = compliance_message("ComplianceChangeNotification__02_")
    message["oldEvaluationResult"]["complianceType"] = old
    message["newEvaluationResult"]["complianceType"] = new
    message["newEvaluationResult"]["evaluationResultIdentifier"]["orderingTimestamp"] = at
    message["newEvaluationResult"]["resultRecordedTime"] = at
    return message


# (what happens, the Config message, the SNS MessageId)
STORY = [
    ("violated", change(C, NC, "2026-11-01T10:00:00.000Z"), "m1"),
    ("the same notification again", change(C, NC, "2026-11-01T10:00:00.000Z"), "m1"),
    ("re-sent unchanged", change(NC, NC, "2026-11-01T11:00:00.000Z"), "m2"),
    ("resolved", change(NC, C, "2026-11-01T12:00:00.000Z"), "m3"),
    ("stale: older than the resolution", change(C, NC, "2026-11-01T11:30:00.000Z"), "m4"),
    ("violated again", change(C, NC, "2026-11-01T13:00:00.000Z"), "m5"),
    ("retired", change(NC, NA, "2026-11-01T14:00:00.000Z"), "m6"),
]
EXPECTED_STATUSES = ["routed", "duplicate", "unrouted", "routed", "stale", "routed", "routed"]
EXPECTED_TICKET_ACTIONS = [["open"], ["already_sent"], [], ["resolve"], [], ["reopen"], ["close"]]


@pytest.fixture
def jira(httpserver: HTTPServer) -> Iterator[FakeJira]:
    fake = FakeJira(httpserver, flavor="cloud")
    yield fake
    assert fake.violations == [], "\n".join(fake.violations)


@pytest.fixture
def snow() -> Iterator[ServiceNowFake]:
    fake = ServiceNowFake().start()
    yield fake
    fake.go_down()
    assert fake.violations == [], "\n".join(fake.violations)


@pytest.fixture(params=["sqlite", "dynamodb"])
def state(request: pytest.FixtureRequest, tmp_path: Path, aws_credentials: None) -> Iterator[StateStore]:
    if request.param == "sqlite":
        store: StateStore = SqliteState(tmp_path / "state.sqlite")
        yield store
        store.close()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "compliance-notifier")
        yield DynamoDbState("compliance-notifier", client=client)


def pipeline(jira: FakeJira, snow: ServiceNowFake, state: StateStore, tmp_path: Path) -> Pipeline:
    text = CONFIG.format(jira=jira.url, project=PROJECT, email=EMAIL, snow=snow.url)
    return build_pipeline(parse_config(text, "routes.yml", tmp_path), state=state)


def test_one_resource_one_ticket_each_following_the_resource(
    jira: FakeJira, snow: ServiceNowFake, state: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    monkeypatch.setenv("SN_PASSWORD", "s3cret-basic")
    run = pipeline(jira, snow, state, tmp_path)
    statuses, actions = [], []
    for _, message, message_id in STORY:
        [inbound] = decode({"Records": [sns_record(message, message_id=message_id)]})
        outcome = run.process(inbound)
        statuses.append(outcome.status)
        actions.append(sorted({d.ticket_action or d.action for d in outcome.deliveries}))
        assert not outcome.failed_deliveries, outcome.failed_deliveries
    assert statuses == EXPECTED_STATUSES
    assert actions == EXPECTED_TICKET_ACTIONS

    [issue] = jira.issues.values()  # exactly one Jira issue, never a second
    assert issue.transitions == ["Done", "Reopen", "Done"]
    assert (issue.status, issue.resolution) == ("Done", "Won't Do")
    assert len(issue.comments) == 3  # resolved, reopened, retired

    [incident] = snow.incidents.values()  # exactly one incident
    assert incident["state"] == "6"  # resolved, never closed (7) by the integration
    states = [body.get("state") for method, _, _, body in snow.seen if method == "PATCH" and isinstance(body, dict)]
    assert [s for s in states if s] == ["6", "2", "6"]  # resolve, reopen, close-as-retired

    history = state.history()
    assert [entry.observation.value for entry in history].count("stale") == 1
    assert len(history) == len(STORY)


def test_explain_shows_the_planned_ticket_action_from_the_store(
    jira: FakeJira, snow: ServiceNowFake, state: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    monkeypatch.setenv("SN_PASSWORD", "s3cret-basic")
    run = pipeline(jira, snow, state, tmp_path)

    def planned(message: dict[str, Any], message_id: str) -> list[str]:
        [inbound] = decode({"Records": [sns_record(message, message_id=message_id)]})
        return [d.action for d in run.process(inbound, send=False).deliveries]

    violated, resolved = STORY[0][1], STORY[3][1]
    assert planned(violated, "m1") == ["open", "open"]
    [inbound] = decode({"Records": [sns_record(violated, message_id="m1")]})
    run.process(inbound)
    requests_before = len(jira.requests), len(snow.seen)
    assert planned(resolved, "m3") == ["resolve", "resolve"]
    assert planned(violated, "m1") == ["already_sent", "already_sent"]
    assert planned(change(C, NC, "2026-10-01T00:00:00.000Z"), "old") == []  # stale: nothing planned
    assert (len(jira.requests), len(snow.seen)) == requests_before  # explain called no one
    assert len(state.history()) == 1  # only the run left history; explain wrote nothing
