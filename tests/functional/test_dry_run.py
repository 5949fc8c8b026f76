"""`dry_run: true` on every destination type: the exact request the real code builds is recorded (secrets
masked) in the `dry_run_outbox` file and the log, and nothing is sent. Every socket connection is refused
while destinations rehearse, so "nothing is sent" is enforced, not assumed; AWS calls go to moto, whose
SES keeps what it was sent (nothing, here).

What is checked on the recorded requests: Jira bodies against the vendor's OpenAPI contract and ADF schema
(and the dry-run answers against the contract's response schemas), ServiceNow's against its Table API docs,
the webhook's signature with the `standardwebhooks` package over the exact recorded bytes, the remediation
payload against its schema, the MIME messages by parsing them.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import logging
import socket
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import jsonschema
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from standardwebhooks.webhooks import Webhook

from notifier.app import build_pipeline
from notifier.cli import main
from notifier.destinations.base import DestinationSpec
from notifier.destinations.jira_dry_run import JiraDryRunAnswers
from notifier.destinations.jira_settings import JiraSettings
from notifier.destinations.recording import RequestMask
from notifier.envelopes import InboundMessage, decode
from notifier.pipeline import Pipeline
from notifier.remediation.guard import breaker_bucket, rule_bucket
from notifier.remediation.payload import SCHEMA_FILE
from notifier.resources import load_schema_file
from notifier.routing.config import parse_config
from notifier.secrets import SecretResolver
from notifier.state import MemoryState
from notifier.state.base import ResourceKey, StateStore
from tests.conftest import compliance_message, sns_event
from tests.functional import servicenow_contract
from tests.functional.jira_contract import Contract, adf_problems, cloud_contract, dc_contract
from tests.functional.smtp_server import closed_port

SES_REGION = "eu-west-1"
SLACK_PATH = "/services/T0DRYRUN/B0DRYRUN/slackDryRunSecretPath42"
SECRETS = {
    "JIRA_TOKEN": "jira-Token-dryRUN-7f3a9c",
    "JIRA_PAT": "jira-PAT-dryRUN-41b2c8d0",
    "SN_PASSWORD": "sn-Password-dryRUN-9q8w",
    "SN_CLIENT_SECRET": "sn-ClientSecret-dryRUN-5t6y",
    "WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"dry-run-signing-key-0123456789abcd").decode(),
    "HOOK_TOKEN": "hook-ApiKey-dryRUN-3e4r",
    "SLACK_URL": "https://hooks.slack.com" + SLACK_PATH,
    "SMTP_PASSWORD": "smtp-Pass-dryRUN-Q9v7",
}
ALL = ["ses-mail", "smtp-mail", "jira-cloud", "jira-dc", "snow", "snow-oauth", "hook", "slack", "fix", "audit"]
CONFIG = """
dry_run_outbox: outbox
destinations:
  outbox: {{type: file, path: outbox.jsonl}}
  ses-mail: {{type: email, via: ses, region: eu-west-1, from: alerts@example.com, to: [sec@example.com],
              cc: [audit@example.com], dry_run: true}}
  smtp-mail: {{type: email, via: smtp, host: 127.0.0.1, port: {smtp_port}, tls: starttls, username: bot,
               password: env:SMTP_PASSWORD, from: alerts@example.com, to: [sec@example.com], dry_run: true}}
  jira-cloud: {{type: jira, flavor: cloud, url: "https://acme.atlassian.net", project: SEC, email: bot@example.com,
                token: env:JIRA_TOKEN, labels: [compliance], dry_run: true}}
  jira-dc: {{type: jira, flavor: datacenter, url: "https://jira.acme.example", project: OPS, token: env:JIRA_PAT,
             dry_run: true}}
  snow: {{type: servicenow, url: "https://acme.service-now.com", username: integration, password: env:SN_PASSWORD,
          assignment_group: Cloud Security, dry_run: true}}
  snow-oauth: {{type: servicenow, url: "https://acme.service-now.com", client_id: notifier-client,
                client_secret: env:SN_CLIENT_SECRET, dry_run: true}}
  hook: {{type: webhook, url: "https://hooks.acme.example/compliance?tenant=sec", secrets: [env:WEBHOOK_SECRET],
          headers: {{X-Api-Key: env:HOOK_TOKEN, X-Team: security}}, dry_run: true}}
  slack: {{type: slack, webhook_url: env:SLACK_URL, dry_run: true}}
  fix: {{type: lambda, function: iam-fixer, region: us-east-1, mode: enforce, allow_rules: ['*'], dry_run: true}}
  audit: {{type: file, path: audit.jsonl, dry_run: true}}
routes:
  - name: everything
    match: {{rule: '*'}}
    destinations: [{destinations}]
"""


def write_config(folder: Path, destinations: list[str], smtp_port: int = 25) -> Path:
    path = folder / "routes.yml"
    path.write_text(CONFIG.format(smtp_port=smtp_port, destinations=", ".join(destinations)), encoding="utf-8")
    return path


def message() -> InboundMessage:
    [inbound] = decode(sns_event(compliance_message("ComplianceChangeNotification__02_")))  # COMPLIANT -> NON_COMPLIANT
    return inbound


def outbox(folder: Path) -> list[dict[str, Any]]:
    path = folder / "outbox.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def secret_forms() -> list[str]:
    """Every form a secret could leak in: the values, the URL path, basic-auth blobs, the signing key."""
    basic = [
        base64.b64encode(f"{user}:{SECRETS[name]}".encode()).decode()
        for user, name in (("bot@example.com", "JIRA_TOKEN"), ("integration", "SN_PASSWORD"))
    ]
    return [*SECRETS.values(), SLACK_PATH, "slackDryRunSecretPath42", *basic, SECRETS["WEBHOOK_SECRET"][6:]]


def refuse_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dry run must not open a single connection: any attempt fails the delivery loudly."""

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"a dry run tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def nothing_listens(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class Rehearsal:
    folder: Path
    deliveries: list[dict[str, str]]
    records: dict[str, dict[str, Any]]  # destination -> its one outbox record
    smtp_port: int
    ses_sent: int
    logged: str  # stderr (Powertools JSON) and every stdlib log record

    def requests(self, destination: str) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = self.records[destination]["requests"]
        return requests


def aws_clients(service: str, region: str | None) -> Any:
    return boto3.client(service, region_name=region or "us-east-1")


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    """One notification through a pipeline where every destination type is `dry_run: true`."""
    folder = tmp_path_factory.mktemp("dry-run")
    port = closed_port()
    assert nothing_listens(port)  # so an SMTP "send" could not have gone anywhere either
    records = logging.getLogger()
    captured, logs = StringIO(), StringIO()
    handler = logging.StreamHandler(logs)
    records.addHandler(handler)
    level = records.level
    records.setLevel(logging.DEBUG)  # urllib3's request lines included
    with pytest.MonkeyPatch.context() as patch, mock_aws(), redirect_stderr(captured), redirect_stdout(captured):
        for name, value in SECRETS.items():
            patch.setenv(name, value)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.setenv(name, "testing")
        config = parse_config(write_config(folder, ALL, port).read_text(), "routes.yml", folder)
        pipeline = build_pipeline(config, state=MemoryState(), client_factory=aws_clients, dry_run_updates_state=False)
        refuse_connections(patch)
        outcome = pipeline.process(message())
        ses_sent = len(ses_backends[DEFAULT_ACCOUNT_ID][SES_REGION].sent_messages)
    records.removeHandler(handler)
    records.setLevel(level)
    by_destination = {record["destination"]: record for record in outbox(folder)}
    yield Rehearsal(folder, outcome.to_json()["deliveries"], by_destination, port, ses_sent,
                    captured.getvalue() + logs.getvalue())  # fmt: skip


def test_every_destination_reports_dry_run_and_records_one_request_set(rehearsal: Rehearsal) -> None:
    assert {d["destination"]: d["action"] for d in rehearsal.deliveries} == dict.fromkeys(ALL, "dry-run")
    assert [d for d in rehearsal.deliveries if "error" in d] == []
    assert sorted(rehearsal.records) == sorted(ALL)  # one record per delivery, none for the outbox itself
    for name, record in rehearsal.records.items():
        assert record["dry_run"] is True and record["state_updated"] is False and "error" not in record, name
        assert record["change"] == {
            "account": "746869318262", "region": "ap-southeast-2",
            "rule": "cw-loggroup-retention-period-check-conformance-pack-qayjyopmd",
            "resource_type": "AWS::Logs::LogGroup", "resource_id": "dev1",
            "from": "COMPLIANT", "to": "NON_COMPLIANT", "transition": "violated",
        }  # fmt: skip
        assert record["requests"], name
        assert f'"message":"dry run: {name} would {record["action"]}"' in rehearsal.logged  # one log line each
    assert not (rehearsal.folder / "audit.jsonl").exists()  # the file destination wrote nothing either


def contract_problems(contract: Contract, request: dict[str, Any]) -> list[str]:
    url = urlsplit(request["url"])
    body = request["body"]
    raw = json.dumps(body).encode() if body is not None else b""
    return contract.check(request["method"], url.path, parse_qs(url.query), body, raw)


@pytest.mark.parametrize(
    ("name", "contract", "api", "auth"),
    [("jira-cloud", cloud_contract, "/rest/api/3", "Basic ***"), ("jira-dc", dc_contract, "/rest/api/2", "Bearer ***")],
)
def test_jira_records_search_and_create_as_the_contract_allows(
    rehearsal: Rehearsal, name: str, contract: Any, api: str, auth: str
) -> None:
    record = rehearsal.records[name]
    search, create = rehearsal.requests(name)
    searched = f"{api}/search/jql" if name == "jira-cloud" else f"{api}/search"
    assert (search["method"], urlsplit(search["url"]).path) == ("POST", searched)
    assert (create["method"], urlsplit(create["url"]).path) == ("POST", f"{api}/issue")
    for request in (search, create):
        assert contract_problems(contract(), request) == []
        assert request["headers"]["Authorization"] == auth
    fields = create["body"]["fields"]
    project = "SEC" if name == "jira-cloud" else "OPS"
    assert fields["project"] == {"key": project} and fields["labels"][0].startswith("cn-")
    if name == "jira-cloud":
        assert "compliance" in fields["labels"]
        assert adf_problems("description", fields["description"]) == []
    else:
        assert isinstance(fields["description"], str)  # wiki markup on Data Center
    assert (record["action"], record["ticket"]) == ("open", f"{project}-DRYRUN")


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_the_jira_dry_run_answers_are_shaped_like_jira_s(flavor: str) -> None:
    """The synthetic answers the destination's code reads hold to the contract's response schemas."""
    settings = JiraSettings("j", flavor, "https://jira.example", "SEC", "env:T", email="a@example.com",
                            resolve_path=("Start", "Done"))  # fmt: skip
    answers, contract = JiraDryRunAnswers(settings), cloud_contract() if flavor == "cloud" else dc_contract()
    api = "/rest/api/3" if flavor == "cloud" else "/rest/api/2"
    calls = [
        ("POST", f"{api}/search/jql" if flavor == "cloud" else f"{api}/search", None),
        ("POST", f"{api}/issue", None), ("GET", f"{api}/issue/0", None), ("GET", f"{api}/issue/0/comment", None),
        ("POST", f"{api}/issue/0/comment", {"body": "hello"}), ("GET", f"{api}/issue/0/transitions", None),
        ("POST", f"{api}/issue/0/transitions", None),
    ]  # fmt: skip
    for method, path, body in calls:
        status, answer = answers(method, path, body)
        assert contract.check_answer(method, path, status, answer) == [], (method, path)
    assert [t["name"] for t in answers("GET", f"{api}/issue/0/transitions", None)[1]["transitions"]] == [
        "Start", "Done", "Reopen"
    ]  # fmt: skip


def test_servicenow_records_the_table_api_calls_the_docs_allow(rehearsal: Rehearsal) -> None:
    *searches, create = rehearsal.requests("snow")
    assert searches and all(r["method"] == "GET" for r in searches)  # find_open, before opening
    for request in rehearsal.requests("snow"):
        url = urlsplit(request["url"])
        route = servicenow_contract.TABLE_PATH.match(url.path)
        assert route is not None and route["version"] == "v2" and route["table"] == "incident"
        method, has_body = request["method"], request["body"] is not None
        assert servicenow_contract.check_headers(method, request["headers"], has_body) == []
        assert servicenow_contract.check_query_parameters(method, False, list(parse_qs(url.query))) == []
        assert request["headers"]["Authorization"] == "Basic ***"
    query = parse_qs(urlsplit(searches[0]["url"]).query)["sysparm_query"][0]
    assert query.startswith("correlation_id=cn-") and "stateIN1,2,3" in query
    assert servicenow_contract.check_body("POST", create["body"], None) == []
    assert create["body"]["assignment_group"] == "Cloud Security"
    assert create["body"]["correlation_id"] == query.split("^")[0].removeprefix("correlation_id=")
    assert create["body"]["short_description"].startswith("Non-compliant: AWS::Logs::LogGroup dev1")
    assert (rehearsal.records["snow"]["action"], rehearsal.records["snow"]["ticket"]) == ("open", "DRYRUN0000001")


def test_servicenow_oauth_records_the_token_request_with_the_client_secret_masked(rehearsal: Rehearsal) -> None:
    token, *table_calls = rehearsal.requests("snow-oauth")
    assert (token["method"], token["url"]) == ("POST", "https://acme.service-now.com/oauth_token.do")
    assert token["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert token["body"] == "grant_type=client_credentials&client_id=notifier-client&client_secret=***"
    assert table_calls and all(r["headers"]["Authorization"] == "Bearer ***" for r in table_calls)


def test_the_webhook_record_verifies_with_standardwebhooks(rehearsal: Rehearsal) -> None:
    [request] = rehearsal.requests("hook")
    assert (request["method"], request["url"]) == ("POST", "https://hooks.acme.example/compliance?tenant=sec")
    headers = request["headers"]
    payload = Webhook(SECRETS["WEBHOOK_SECRET"]).verify(request["body_text"], headers)  # the exact bytes signed
    assert payload == request["body"] and payload["type"] == "compliance.change"
    assert headers["X-Api-Key"] == "***" and headers["X-Team"] == "security"  # a referenced value is masked
    assert headers["webhook-signature"].startswith("v1,")  # a signature is not a secret: kept


def test_the_slack_record_masks_the_webhook_path(rehearsal: Rehearsal) -> None:
    [request] = rehearsal.requests("slack")
    assert (request["method"], request["url"]) == ("POST", "https://hooks.slack.com/***")
    assert request["body"]["text"].startswith(":rotating_light: Compliance violation")
    assert request["body"]["attachments"][0]["blocks"]


def mime(text: str) -> EmailMessage:
    parsed = email.message_from_string(text, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_ses_records_the_send_email_request_and_sends_nothing(rehearsal: Rehearsal) -> None:
    [request] = rehearsal.requests("ses-mail")
    assert request["operation"] == "sesv2:SendEmail"
    assert (request["method"], request["url"]) == ("POST", f"https://email.{SES_REGION}.amazonaws.com/v2/email/outbound-emails")
    body = request["body"]
    assert body["FromEmailAddress"] == "alerts@example.com"
    assert body["Destination"] == {"ToAddresses": ["sec@example.com"], "CcAddresses": ["audit@example.com"]}
    sent = mime(body["Content"]["Raw"]["Data"])
    assert sent["Subject"].startswith("[VIOLATION] AWS::Logs::LogGroup dev1")
    assert sent["X-Compliance-Transition"] == "violated"
    assert rehearsal.ses_sent == 0  # moto's SES received nothing


def test_smtp_records_the_session_without_connecting(rehearsal: Rehearsal) -> None:
    assert nothing_listens(rehearsal.smtp_port)
    [request] = rehearsal.requests("smtp-mail")
    assert (request["method"], request["url"]) == ("SMTP", f"smtp://127.0.0.1:{rehearsal.smtp_port}")
    body = request["body"]
    assert (body["tls"], body["username"], body["mail_from"], body["rcpt_to"]) == (
        "starttls", "bot", "alerts@example.com", ["sec@example.com"]
    )  # fmt: skip
    assert "password" not in body
    assert mime(body["message"]).get_body(("plain",)) is not None


def test_lambda_records_the_invoke_it_would_make(rehearsal: Rehearsal) -> None:
    [request] = rehearsal.requests("fix")
    assert request["operation"] == "lambda:Invoke"
    assert request["url"] == "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/iam-fixer/invocations"
    assert (request["body"]["FunctionName"], request["body"]["InvocationType"]) == ("iam-fixer", "Event")
    jsonschema.validate(request["body"]["Payload"], load_schema_file(SCHEMA_FILE))
    assert rehearsal.records["fix"]["action"] == "invoke"  # what the guard rails decided


def test_the_file_destination_records_the_line_it_would_append(rehearsal: Rehearsal) -> None:
    [request] = rehearsal.requests("audit")
    assert (request["method"], request["url"]) == ("APPEND", (rehearsal.folder / "audit.jsonl").as_uri())
    assert request["body"]["destination"] == "audit" and request["body"]["notification"]["resource_id"] == "dev1"


def test_no_secret_value_reaches_the_outbox_the_logs_or_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_credentials: None,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    config = parse_config(write_config(tmp_path, ALL, closed_port()).read_text(), "routes.yml", tmp_path)
    with mock_aws():
        pipeline = build_pipeline(config, state=MemoryState(), client_factory=aws_clients, dry_run_updates_state=False)
        refuse_connections(monkeypatch)
        outcome = pipeline.process(message())
    captured = capsys.readouterr()
    assert all(d.action == "dry-run" and d.error is None for d in outcome.deliveries)
    written = (tmp_path / "outbox.jsonl").read_text()
    everything = "\n".join([written, caplog.text, captured.out, captured.err, json.dumps(outcome.to_json())])
    assert len(outbox(tmp_path)) == len(ALL) and '"dry_run":' in captured.err
    assert [form for form in secret_forms() if form in everything] == []


# --- state -------------------------------------------------------------------------------------------------

STATEFUL = ["jira-cloud", "hook", "fix", "audit"]


def stateful_pipeline(folder: Path, state: StateStore, *, updates_state: bool) -> Pipeline:
    config = parse_config(write_config(folder, STATEFUL).read_text(), "routes.yml", folder)
    return build_pipeline(config, state=state, client_factory=aws_clients, dry_run_updates_state=updates_state)


@pytest.fixture
def secrets_set(monkeypatch: pytest.MonkeyPatch, aws_credentials: None) -> Iterator[None]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        refuse_connections(monkeypatch)
        yield


def test_by_default_a_dry_run_changes_no_state(tmp_path: Path, secrets_set: None) -> None:
    state, inbound = MemoryState(), message()
    pipeline = stateful_pipeline(tmp_path, state, updates_state=False)

    first, second = pipeline.process(inbound), pipeline.process(inbound)

    n = first.notification
    assert n is not None and second.status == "routed"  # not "duplicate": nothing was claimed
    assert [d.action for d in second.deliveries] == ["dry-run"] * len(STATEFUL)
    assert not any(state.was_delivered(n.content_key, name) for name in STATEFUL)
    record = state.get(ResourceKey.of(n))
    assert record is not None and record.tickets == {}  # the dry-run ticket was not stored
    since = datetime(2000, 1, 1, tzinfo=UTC)
    assert state.count_events(breaker_bucket("fix"), since=since) == 0  # no guard count either
    assert state.count_events(rule_bucket("fix", n.rule), since=since) == 0
    assert len(outbox(tmp_path)) == 2 * len(STATEFUL)  # each run rehearsed again
    assert all(r["state_updated"] is False for r in outbox(tmp_path))


def test_with_updates_state_a_dry_run_counts_as_sent(tmp_path: Path, secrets_set: None) -> None:
    state, inbound = MemoryState(), message()
    pipeline = stateful_pipeline(tmp_path, state, updates_state=True)

    first = pipeline.process(inbound)
    second = pipeline.process(inbound)

    n = first.notification
    assert n is not None and [d.action for d in first.deliveries] == ["dry-run"] * len(STATEFUL)
    assert all(state.was_delivered(n.content_key, name) for name in STATEFUL)
    record = state.get(ResourceKey.of(n))
    assert record is not None and record.tickets["jira-cloud"].key == "SEC-DRYRUN"
    assert second.status == "duplicate" and {d.action for d in second.deliveries} == {"already_sent"}
    assert len(outbox(tmp_path)) == len(STATEFUL)  # the second run rehearsed nothing
    assert all(r["state_updated"] is True for r in outbox(tmp_path))


def test_a_failed_rehearsal_is_reported_not_failed(
    tmp_path: Path, secrets_set: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JIRA_TOKEN")  # the secret reference does not resolve
    state = MemoryState()
    outcome = stateful_pipeline(tmp_path, state, updates_state=True).process(message())

    [jira] = [d for d in outcome.deliveries if d.destination == "jira-cloud"]
    assert jira.action == "dry-run" and jira.error is not None and "env:JIRA_TOKEN" in jira.error
    assert outcome.failed_deliveries == ()  # a rehearsal never makes SQS redeliver the message
    [record] = [r for r in outbox(tmp_path) if r["destination"] == "jira-cloud"]
    assert record["error"] == jira.error and record["state_updated"] is False
    assert outcome.notification is not None and not state.was_delivered(outcome.notification.content_key, "jira-cloud")


# --- CLI -----------------------------------------------------------------------------------------------------


def test_cli_run_with_dry_run_updates_state_then_already_sent(
    tmp_path: Path, secrets_set: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, ["jira-cloud", "hook", "audit"])
    event = tmp_path / "event.json"
    event.write_text(json.dumps(sns_event(compliance_message("ComplianceChangeNotification__02_"))))
    store = f"sqlite:///{tmp_path / 'state.sqlite'}"
    run = ["run", str(event), "--config", str(config), "--state", store, "--format", "json"]

    assert main([*run, "--dry-run-updates-state"]) == 0
    [first] = json.loads(capsys.readouterr().out)["records"]
    assert main(run) == 0
    [second] = json.loads(capsys.readouterr().out)["records"]

    assert {d["action"] for d in first["deliveries"]} == {"dry-run"}
    assert second["status"] == "duplicate" and {d["action"] for d in second["deliveries"]} == {"already_sent"}
    # `run` delivers to a notification's destinations from threads at once: each record still holds its own requests
    records = {r["destination"]: r for r in outbox(tmp_path)}
    assert len(outbox(tmp_path)) == 3 and sorted(records) == ["audit", "hook", "jira-cloud"]
    jira_paths = [urlsplit(r["url"]).path for r in records["jira-cloud"]["requests"]]
    assert jira_paths == ["/rest/api/3/search/jql", "/rest/api/3/issue"]
    assert all(r["state_updated"] for r in records.values())


def test_explain_shows_dry_run_and_records_nothing(
    tmp_path: Path, secrets_set: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, ["jira-cloud", "hook", "slack", "fix", "audit"])
    event = tmp_path / "event.json"
    event.write_text(json.dumps(sns_event(compliance_message("ComplianceChangeNotification__02_"))))

    assert main(["explain", str(event), "--config", str(config), "--format", "json"]) == 0

    captured = capsys.readouterr()
    [record] = json.loads(captured.out)["records"]
    assert {d["action"] for d in record["deliveries"]} == {"dry-run"}
    assert not (tmp_path / "outbox.jsonl").exists() and '"dry_run":' not in captured.err


@pytest.mark.parametrize(
    ("outbox_line", "error"),
    [
        ("dry_run_outbox: hook", "destination 'hook' must be of type file to hold dry-run records (it is 'webhook')"),
        ("dry_run_outbox: nowhere", "names the destination 'nowhere', which is not defined"),
    ],
)
def test_check_config_refuses_an_outbox_that_is_not_a_file_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], outbox_line: str, error: str
) -> None:
    config = write_config(tmp_path, ["hook", "audit"])
    config.write_text(config.read_text().replace("dry_run_outbox: outbox", outbox_line))

    assert main(["check-config", str(config)]) == 1

    assert f"error: {config}:2: dry_run_outbox: {error}" in capsys.readouterr().out


def test_replay_to_one_destination_rehearses_it_and_leaves_the_others_untouched(
    tmp_path: Path, secrets_set: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, ["hook", "audit"])  # both dry_run: true
    letters = tmp_path / "letters.json"
    letters.write_text(json.dumps(sns_event(compliance_message("ComplianceChangeNotification__02_"))))
    store = f"sqlite:///{tmp_path / 'state.sqlite'}"
    replay = ["replay", "--from", str(letters), "--config", str(config), "--state", store, "--destination", "hook"]

    assert main([*replay, "--dry-run-updates-state"]) == 0

    assert "audit left out" in capsys.readouterr().out
    [record] = outbox(tmp_path)  # --destination leaves audit out entirely: no dry-run record for it
    assert record["destination"] == "hook" and record["state_updated"] is True


def test_the_mask_hides_every_form_a_secret_takes_and_keeps_the_rest() -> None:
    secret = "s3cr3t-value-42"
    options = {"url": "https://x.example", "secrets": ["env:S"], "headers": {"X-A": "env:S"}}
    spec = DestinationSpec("h", "webhook", options)
    mask = RequestMask.of(spec, SecretResolver(environ={"S": secret}))
    url = f"https://x.example/in?tenant=sec&access_token={secret}&api_key=abc&note=has-{secret}"
    headers = {"Authorization": f"Bearer {secret}", "X-A": secret, "X-Echo": f"v={secret}", "X-Team": "sec",
               "Cookie": "session=1", "webhook-signature": "v1,abc="}  # fmt: skip
    body = json.dumps({"text": f"hello {secret}", "password": "p", "nested": [secret]}).encode()

    shown = mask.http("POST", url, headers, body)

    assert shown["url"] == "https://x.example/in?tenant=sec&access_token=***&api_key=***&note=has-***"
    assert shown["headers"] == {"Authorization": "Bearer ***", "X-A": "***", "X-Echo": "v=***", "X-Team": "sec",
                                "Cookie": "***", "webhook-signature": "v1,abc="}  # fmt: skip
    assert shown["body"] == {"text": "hello ***", "password": "***", "nested": ["***"]}
    assert secret not in json.dumps(shown)
