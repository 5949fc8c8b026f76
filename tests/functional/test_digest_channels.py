"""Digests to every channel that takes one, each against a real server on 127.0.0.1: a signed webhook
(checked with the `standardwebhooks` package and the digest schema), Slack Block Kit, Jira Cloud and
Data Center (every request checked against Atlassian's OpenAPI and ADF schema by the fake), and a
ServiceNow umbrella incident (checked against ServiceNow's docs by the fake). And through the pipeline:
a rule's first-evaluation storm routed to Jira opens one umbrella ticket, not one per resource."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook

from notifier.app import build_pipeline
from notifier.destinations.jira_markup import escape_wiki
from notifier.digests.flush import flush_due
from notifier.digests.formats import digest_label
from notifier.digests.hold import group_key
from notifier.digests.message import Digest
from notifier.digests.policy import Grouping
from notifier.envelopes import InboundMessage
from notifier.notification import load_schema_file
from notifier.routing.config import parse_config
from notifier.state import MemoryState
from notifier.state.digest_buffer import DigestBatch
from tests.conftest import compliance_message
from tests.functional.jira_contract import adf_problems
from tests.functional.jira_fake import EMAIL, TOKEN, FakeJira
from tests.functional.jira_fake_model import Workflow
from tests.functional.servicenow_fake import ServiceNowFake
from tests.functional.servicenow_helpers import build as build_servicenow
from tests.functional.servicenow_helpers import serving
from tests.functional.test_slack import HOOK_PATH, block_kit_problems, texts_of
from tests.functional.test_slack import build as build_slack
from tests.functional.test_webhook import OLD
from tests.functional.test_webhook import build as build_webhook

RULE = "standardized-iam-policies"
HOSTILE = "<script>x</script> *bold* [x|http://evil] `tick` &amp;"
DIGEST_SCHEMA = jsonschema.Draft7Validator(load_schema_file("webhook-digest.v1.schema.json"))
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def digest(count: int = 30, *, destination: str = "dest", hostile: bool = False) -> Digest:
    group = group_key("iam", destination, Grouping("baseline", (("rule", RULE),), timedelta(minutes=5)))
    opened, closed = "2024-05-01T12:00:00.000Z", "2024-05-01T12:05:00.000Z"
    batch = DigestBatch(f"{group}@{opened}", group, opened, closed)
    items = [
        {
            "account": f"11112222{n % 3:04d}",
            "region": "eu-west-1",
            "rule": RULE,
            "resource_type": "AWS::IAM::User",
            "resource_id": HOSTILE if hostile and n == 0 else f"AIDA{n:016d}",
            "from": "NONE",
            "to": "NON_COMPLIANT",
            "transition": "first_violation",
            "annotation": "extra managed: DBAdmin",
            "ordering_timestamp": f"2024-05-01T12:00:{n % 60:02d}.000Z",
            "message_id": f"m-{n}",
        }
        for n in range(count)
    ]
    return Digest.of(batch, items)


def test_a_webhook_digest_is_signed_schema_valid_and_keeps_its_id_on_a_retry(httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request("/hook", method="POST").respond_with_data("", status=204)
    destination = build_webhook(httpserver_ipv4.url_for("/hook"))
    window = digest(30, hostile=True)
    destination.send_digest(window)
    destination.send_digest(window)  # the flush retried after a lost answer

    (first, headers), (second, again) = [(r.get_data(), dict(r.headers)) for r, _ in httpserver_ipv4.log]
    payload = Webhook(OLD).verify(first, headers)
    assert list(DIGEST_SCHEMA.iter_errors(payload)) == []
    assert payload["type"] == "compliance.digest" and payload["total"] == 30 and len(payload["resources"]) == 20
    assert payload["counts"]["account"] == {"111122220000": 10, "111122220001": 10, "111122220002": 10}
    assert HOSTILE in [r["resource_id"] for r in payload["resources"]]  # data, verbatim, inside a JSON string
    assert again["Webhook-Id"] == headers["Webhook-Id"] == payload["id"]  # a receiver drops the retry
    assert json.loads(second) == payload


def test_a_slack_digest_is_valid_block_kit_with_everything_escaped(httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request(HOOK_PATH, method="POST").respond_with_data("ok", content_type="text/plain")
    build_slack(httpserver_ipv4.url_for(HOOK_PATH)).send_digest(digest(30, hostile=True))

    [(request, _)] = httpserver_ipv4.log
    message = json.loads(request.get_data())
    assert block_kit_problems(message) == []
    shown = "\n".join(texts_of(message))
    assert "30 first evaluations" in shown and "First 20 of 30" in shown
    assert "<script>" not in shown and "&lt;script&gt;" in shown  # Slack's escaping, not markup
    assert "https://" in shown  # the rule's console link


@pytest.fixture(scope="module")
def jira_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.stop()


def jira(server: HTTPServer, flavor: str) -> tuple[FakeJira, dict[str, Any]]:
    server.clear()
    fake = FakeJira(server, flavor=flavor, workflow=Workflow())
    options: dict[str, Any] = {"type": "jira", "flavor": flavor, "url": fake.url, "project": "SEC",
                               "token": "env:JIRA_TOKEN", "labels": ["aws-config"]}  # fmt: skip
    if flavor == "cloud":
        options["email"] = EMAIL
    return fake, options


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_a_jira_digest_opens_one_umbrella_ticket_even_when_the_flush_is_retried(
    jira_server: HTTPServer, flavor: str
) -> None:
    from notifier.destinations.base import DestinationSpec
    from notifier.destinations.jira import JiraDestination
    from notifier.destinations.registry import BuildContext, build_destination
    from notifier.render import Renderer
    from notifier.secrets import SecretResolver

    fake, options = jira(jira_server, flavor)
    spec = DestinationSpec("sec-jira", "jira", {k: v for k, v in options.items() if k != "type"})
    destination = build_destination(spec, BuildContext(Renderer(), SecretResolver(environ={"JIRA_TOKEN": TOKEN})))
    assert isinstance(destination, JiraDestination)
    window = digest(30, hostile=True)

    first = destination.send_digest(window)
    second = destination.send_digest(window)  # the flush lost its answer and ran again

    assert first == second == "SEC-1"
    [issue] = fake.issues.values()
    assert issue.fields["labels"] == [digest_label(window), "aws-config"]
    assert "30 first evaluations" in issue.fields["summary"]
    description = issue.fields["description"]
    if flavor == "cloud":
        assert adf_problems("description", description) == []
        assert HOSTILE in json.dumps(description, ensure_ascii=False).replace('\\"', '"')
    else:
        assert escape_wiki(HOSTILE) in description and "[x|http://evil]" not in description
    assert fake.violations == [], "\n".join(fake.violations)


def test_a_servicenow_digest_opens_one_umbrella_incident_even_when_the_flush_is_retried() -> None:
    with serving(ServiceNowFake()) as fake:
        destination = build_servicenow(fake, assignment_group="8a4dde73c6112278017a6a4baf547aa7")
        window = digest(30)
        first = destination.send_digest(window)
        second = destination.send_digest(window)
        [incident] = fake.incidents.values()
        assert first == second == incident["number"]
        assert incident["correlation_id"] == digest_label(window)
        assert "30 first evaluations" in incident["short_description"]
        assert "First 20 of 30 resources" in incident["description"]


STORM_CONFIG = """
destinations:
  sec-jira: {jira}
  audit: {{type: file, path: {audit}}}
routes:
  - name: iam
    match: {{rule: {rule}}}
    baseline_tickets: {tickets}
    destinations: [sec-jira, audit]
"""


def first_violation(n: int) -> InboundMessage:
    body = compliance_message("ComplianceChangeNotification__02_")
    body["configRuleName"] = RULE
    body["resourceId"] = f"log-group-{n}"
    body["oldEvaluationResult"] = None
    qualifier = body["newEvaluationResult"]["evaluationResultIdentifier"]["evaluationResultQualifier"]
    qualifier["resourceId"], qualifier["configRuleName"] = f"log-group-{n}", RULE
    return InboundMessage("config", f"$[{n}]", body, message_id=f"m-{n}")


@pytest.mark.parametrize(("tickets", "expected_issues"), [("per_rule", 1), ("none", 0), ("per_resource", 40)])
def test_a_first_evaluation_storm_to_jira_follows_baseline_tickets(
    jira_server: HTTPServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, tickets: str, expected_issues: int
) -> None:
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    fake, options = jira(jira_server, "cloud")
    text = STORM_CONFIG.format(jira=json.dumps(options), audit=tmp_path / "audit.jsonl", rule=RULE, tickets=tickets)
    pipeline = build_pipeline(parse_config(text, "routes.yml", tmp_path), state=MemoryState())
    pipeline.clock = lambda: T0

    jira_deliveries = [pipeline.process(first_violation(n)).deliveries[0] for n in range(40)]
    actions = {(d.action, d.ticket_action) for d in jira_deliveries}
    flushed = flush_due(pipeline, T0 + timedelta(minutes=6))

    assert len(fake.issues) == expected_issues
    if tickets == "per_rule":
        assert actions == {("digested", None)}
        assert sorted((f.destination, f.items, f.action) for f in flushed) == [("audit", 40, "sent"),
                                                                              ("sec-jira", 40, "sent")]  # fmt: skip
        [issue] = fake.issues.values()
        assert "40 first evaluations" in issue.fields["summary"]
    elif tickets == "none":
        assert actions == {("baseline:none", None)}
    else:
        assert actions == {("sent", "open")}
    assert fake.violations == [], "\n".join(fake.violations)


DRY_RUN_CONFIG = """
destinations:
  sec-jira: {{type: jira, flavor: cloud, url: "https://example.atlassian.net", email: bot@example.com,
             token: "env:JIRA_TOKEN", project: SEC, dry_run: true}}
  outbox: {{type: file, path: {outbox}}}
routes:
  - name: iam
    match: {{rule: {rule}}}
    destinations: [sec-jira]
dry_run_outbox: outbox
"""


def test_a_dry_run_ticket_destination_rehearses_its_umbrella_ticket(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The storm's digest to a dry_run Jira: the umbrella ticket's search and create are recorded in the
    outbox, exactly as built (ADF included), and nothing is sent (the URL does not even resolve)."""
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    outbox = tmp_path / "outbox.jsonl"
    text = DRY_RUN_CONFIG.format(outbox=outbox, rule=RULE)
    pipeline = build_pipeline(parse_config(text, "routes.yml", tmp_path), state=MemoryState())
    pipeline.clock = lambda: T0
    assert {pipeline.process(first_violation(n)).deliveries[0].action for n in range(25)} == {"digested"}

    [flushed] = flush_due(pipeline, T0 + timedelta(minutes=6))

    assert (flushed.destination, flushed.items, flushed.action) == ("sec-jira", 25, "dry-run")
    [record] = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert record["action"] == "digest" and record["digest"]["items"] == 25
    assert [(r["method"], r["url"]) for r in record["requests"]] == [
        ("POST", "https://example.atlassian.net/rest/api/3/search/jql"),
        ("POST", "https://example.atlassian.net/rest/api/3/issue"),
    ]
    fields = record["requests"][1]["body"]["fields"]
    assert "25 first evaluations" in fields["summary"] and fields["labels"][0].startswith("cn-digest-")
    assert adf_problems("description", fields["description"]) == []
    assert TOKEN not in outbox.read_text()
