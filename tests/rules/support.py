"""What the rule tests share: the invoking events, real IAM (moto), and a Config stand-in.

moto's Config takes PutEvaluations only in TestMode, so the Config client gets a stand-in hooked at
botocore's `before-call` event: botocore has already validated and serialized the request (the body
the stand-in reads is what would go on the wire), and the answer goes back through botocore's own JSON
parser. The stand-in checks what the real service checks (at most 100 evaluations, a ResultToken,
annotations of 1-256 characters, no INSUFFICIENT_DATA), remembers the verdicts it was given, and
answers GetComplianceDetailsByConfigRule from them, page by page, as Config would on the next run.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser
from moto import mock_aws

from notifier.rules import AwsClients

EVENTS = Path(__file__).resolve().parent.parent / "events" / "config-rule"
ACCOUNT = "123456789012"
REGION = "us-east-1"
_SESSION = boto3.Session(region_name=REGION)
_CLIENTS: dict[str, Any] = {}  # made once, inside the first mock (moto's credentials), and reused: each costs ~50 ms


def event(prefix: str, *, parameters: dict[str, Any] | None = None, rule_name: str | None = None) -> dict[str, Any]:
    """The event file whose name starts with `prefix`, e.g. "ConfigurationItemChangeNotification__11"."""
    (path,) = [p for p in EVENTS.glob(f"{prefix}*.json")]
    loaded: dict[str, Any] = json.loads(path.read_text())
    if parameters is not None:
        loaded["ruleParameters"] = json.dumps(parameters)
    if rule_name is not None:
        loaded["configRuleName"] = rule_name
    return loaded


def edit_item(loaded: dict[str, Any], **configuration: Any) -> dict[str, Any]:
    """A copy of a change event whose configuration item has these configuration fields replaced."""
    changed = copy.deepcopy(loaded)
    invoking = json.loads(changed["invokingEvent"])
    invoking["configurationItem"]["configuration"].update(configuration)
    if "userName" in configuration:
        invoking["configurationItem"]["resourceName"] = configuration["userName"]
    changed["invokingEvent"] = json.dumps(invoking)
    return changed


class _Body:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


@dataclass
class ConfigStandIn:
    """The Config API as the evaluator uses it, at the botocore layer of a real client."""

    history: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # wire JSON by (type, id)
    verdicts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # what Config holds now
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (operation, wire body)
    reject: set[str] = field(default_factory=set)  # resource ids to answer as FailedEvaluations

    def attach(self, client: Any) -> None:
        client.meta.events.register_first("before-call.config-service", self._answer, unique_id="config-stand-in")

    @staticmethod
    def detach(client: Any) -> None:
        client.meta.events.unregister("before-call.config-service", unique_id="config-stand-in")

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [body for name, body in self.requests if name == operation]

    @property
    def put_calls(self) -> list[dict[str, Any]]:
        return self.calls("PutEvaluations")

    @property
    def evaluations(self) -> list[dict[str, Any]]:
        return [entry for call in self.put_calls for entry in call["Evaluations"]]

    def verdict(self, resource_id: str) -> tuple[str, str]:
        (entry,) = [v for (_, rid), v in self.verdicts.items() if rid == resource_id]
        return entry["ComplianceType"], entry.get("Annotation", "")

    def seed(self, rule_name: str, resource_type: str, resource_id: str, compliance: str) -> None:
        """A verdict Config holds from an earlier run."""
        self.verdicts[(resource_type, resource_id)] = {
            "ComplianceResourceType": resource_type,
            "ComplianceResourceId": resource_id,
            "ComplianceType": compliance,
            "rule": rule_name,
        }

    def _answer(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = json.loads(params["body"] or b"{}")
        self.requests.append((model.name, body))
        handler = getattr(self, f"_on_{model.name}", None)
        if handler is None:
            raise AssertionError(f"the Config stand-in does not serve {model.name}")
        status, payload = handler(body)
        wire = json.dumps(payload).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "stand-in"}
        response = {"body": wire, "headers": headers, "status_code": status}
        parsed = create_parser("json").parse(response, model.output_shape)
        return AWSResponse("https://config.us-east-1.amazonaws.com/", status, headers, _Body(wire)), parsed

    def _on_PutEvaluations(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        entries = body.get("Evaluations", [])
        too_long = [e for e in entries if "Annotation" in e and not 1 <= len(e["Annotation"]) <= 256]
        problem = (
            "ResultToken is missing" if not body.get("ResultToken") else
            f"{len(entries)} evaluations, at most 100" if len(entries) > 100 else
            f"Annotation of {len(too_long[0]['Annotation'])} characters" if too_long else
            "INSUFFICIENT_DATA is not accepted" if any(e["ComplianceType"] == "INSUFFICIENT_DATA" for e in entries) else
            None
        )  # fmt: skip
        if problem:
            return 400, {"__type": "InvalidParameterValueException", "message": problem}
        failed = [e for e in entries if e["ComplianceResourceId"] in self.reject]
        for entry in entries:
            if entry not in failed:
                self.verdicts[(entry["ComplianceResourceType"], entry["ComplianceResourceId"])] = entry
        return 200, {"FailedEvaluations": failed}

    def _on_GetResourceConfigHistory(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        found = self.history.get((body["resourceType"], body["resourceId"]))
        if found is None:
            return 400, {"__type": "ResourceNotDiscoveredException", "message": "no such resource"}
        return 200, found

    def _on_GetComplianceDetailsByConfigRule(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        wanted = set(body.get("ComplianceTypes") or ["COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"])
        held = [v for v in self.verdicts.values() if v["ComplianceType"] in wanted]
        start = int(body.get("NextToken") or 0)
        limit = min(int(body.get("Limit") or 100), 100)
        page = held[start : start + limit]
        results = [
            {
                "EvaluationResultIdentifier": {
                    "EvaluationResultQualifier": {
                        "ConfigRuleName": body["ConfigRuleName"],
                        "ResourceType": v["ComplianceResourceType"],
                        "ResourceId": v["ComplianceResourceId"],
                    },
                    "OrderingTimestamp": 1763633732.418,
                },
                "ComplianceType": v["ComplianceType"],
                "ResultRecordedTime": 1763633740.0,
                "ConfigRuleInvokedTime": 1763633735.0,
            }
            for v in page
        ]
        answer: dict[str, Any] = {"EvaluationResults": results}
        if start + limit < len(held):
            answer["NextToken"] = str(start + limit)
        return 200, answer


@dataclass
class World:
    iam: Any
    config: ConfigStandIn
    clients: AwsClients


@contextmanager
def aws_world() -> Iterator[World]:
    """moto's IAM and the Config stand-in, behind the AwsClients a rule is given."""
    with mock_aws():  # a fresh, empty IAM for every world
        if not _CLIENTS:
            _CLIENTS.update(iam=_SESSION.client("iam"), config=_SESSION.client("config"))
        iam, config_client = _CLIENTS["iam"], _CLIENTS["config"]
        stand_in = ConfigStandIn()
        stand_in.attach(config_client)

        def no_other_service(service: str) -> Any:
            raise AssertionError(f"a rule asked for a {service} client")

        try:
            yield World(iam, stand_in, AwsClients(no_other_service, iam=iam, config=config_client))
        finally:
            stand_in.detach(config_client)


def load_history(stand_in: ConfigStandIn) -> None:
    """Serve the oversized event's item (history/ holds it in wire form)."""
    for path in (EVENTS / "history").glob("*.json"):
        answer = json.loads(path.read_text())
        item = answer["configurationItems"][0]
        stand_in.history[(item["resourceType"], item["resourceId"])] = answer


@contextmanager
def rule_world(monkeypatch: Any) -> Iterator[World]:
    """`aws_world`, with every rule Lambda's default clients pointed at it."""
    from notifier.rules import evaluator

    with aws_world() as created:
        monkeypatch.setattr(evaluator, "default_clients", lambda: created.clients)
        yield created


def last_verdict(
    world: World, handler: Any, rule_name: str, loaded: dict[str, Any], parameters: dict[str, str] | None = None
) -> tuple[str, str]:
    """Run the rule's Lambda handler on an invoking event; the one verdict it sent to Config (PutEvaluations,
    read at the botocore layer) as (compliance, annotation)."""
    handler({**loaded, "configRuleName": rule_name, "ruleParameters": json.dumps(parameters or {})}, None)
    (entry,) = world.config.put_calls[-1]["Evaluations"]
    return entry["ComplianceType"], entry.get("Annotation", "")
