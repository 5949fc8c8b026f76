"""The one place that knows the Config rule API: from a Lambda event to PutEvaluations.

`run_rule(rule, event, clients)` does, in order:

1. Reads the event: `invokingEvent` and `ruleParameters` are JSON strings (objects are accepted too,
   for hand-written tests); `evaluationMode` and `eventLeftScope` are kept on the `Invocation`.
2. Parses the parameters through the rule. A missing or malformed parameter is logged as one JSON line
   naming it and raised as `RuleParameterError`; nothing is put. The invocation fails visibly (the
   Lambda's Errors metric, its log), and the verdicts Config already holds stay as they are. Reporting
   NOT_APPLICABLE instead would tell the notifier that every violation was "retired" — closing tickets
   because of a typo in a parameter — and Config refuses INSUFFICIENT_DATA from a rule.
3. By `messageType`:
   - ConfigurationItemChangeNotification: the item from the event;
   - OversizedConfigurationItemChangeNotification: the summary first (deleted or out of scope needs no
     fetch), else the item from GetResourceConfigHistory (limit 1, laterTime = the capture time);
   - ScheduledNotification: the rule's periodic evaluations, then every resource of the rule's
     `periodic_resource_types` that Config still holds as COMPLIANT or NON_COMPLIANT for this rule
     (GetComplianceDetailsByConfigRule) but the run did not report: NOT_APPLICABLE, it is gone.
     That API, not ListDiscoveredResources, because it lists exactly what this rule reported, and it
     works when the resource type is not recorded (periodic rules do not need recording).
   A deleted item (ResourceDeleted, ResourceDeletedNotRecorded), `eventLeftScope: true`, or an item whose
   type the rule does not evaluate gets NOT_APPLICABLE without asking the rule.
4. Puts the evaluations in batches of 100 with the event's ResultToken (TestMode for the "TESTMODE"
   token of `rdk test-local`), annotations cut to 256 characters, OrderingTimestamp = the item's capture
   time, or the notification time for a periodic run. A run with nothing to report still puts an empty
   list: Config then records that the run finished. Evaluations Config rejects raise
   `EvaluationsRejected` after every batch was sent.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..transition import Compliance
from .base import AwsClients, ConfigRule, Evaluation, Invocation, RuleEventError, Verdict
from .config_items import ConfigurationItem, parse_time
from .parameters import RuleParameterError, RuleParameters

BATCH_SIZE = 100  # PutEvaluations takes at most 100 evaluations per call
CHANGE = "ConfigurationItemChangeNotification"
OVERSIZED = "OversizedConfigurationItemChangeNotification"
SCHEDULED = "ScheduledNotification"
TEST_MODE_TOKEN = "TESTMODE"

P = TypeVar("P")
LogLine = Callable[[dict[str, Any]], None]


class EvaluationsRejected(RuntimeError):
    def __init__(self, failed: list[dict[str, Any]]):
        self.failed = failed
        super().__init__(f"Config rejected {len(failed)} evaluation(s), e.g. {failed[0]}")


@dataclass(frozen=True, slots=True)
class RunResult:
    invocation: Invocation
    evaluations: tuple[Evaluation, ...]
    put_calls: int

    def as_dict(self) -> dict[str, Any]:
        counts = Counter(evaluation.compliance.value for evaluation in self.evaluations)
        return {
            "rule": self.invocation.rule_name,
            "message_type": self.invocation.message_type,
            "evaluations": len(self.evaluations),
            "compliance": dict(sorted(counts.items())),
            "put_calls": self.put_calls,
        }


def run_rule(
    rule: ConfigRule[P], event: Mapping[str, Any], clients: AwsClients, *, log: LogLine | None = None
) -> RunResult:
    emit = log or log_line
    invoking = _json_object(event.get("invokingEvent"), "invokingEvent")
    invocation = read_invocation(event, invoking)
    try:
        parameters = rule.parse_parameters(RuleParameters.from_event(event.get("ruleParameters")))
    except RuleParameterError as error:
        emit({"event": "rule.parameter_error", "rule": invocation.rule_name, "parameter": error.name,
              "error": str(error)})  # fmt: skip
        raise
    if invocation.message_type == SCHEDULED:
        evaluations = list(rule.evaluate_periodic(parameters, clients, invocation))
        evaluations += retire_vanished(rule, evaluations, invocation.rule_name, clients)
    elif invocation.message_type in (CHANGE, OVERSIZED):
        evaluations = list(_evaluate_change(rule, invoking, parameters, clients, invocation))
    else:
        raise RuleEventError(f"invokingEvent.messageType {invocation.message_type!r} is not one this rule handles")
    evaluations = _last_per_resource(evaluations)
    put_calls = put_evaluations(clients.config, evaluations, invocation)
    result = RunResult(invocation, tuple(evaluations), put_calls)
    emit({"event": "rule.evaluated", **result.as_dict()})
    return result


def read_invocation(event: Mapping[str, Any], invoking: Mapping[str, Any]) -> Invocation:
    token = event.get("resultToken")
    if not isinstance(token, str) or not token:
        raise RuleEventError("the event has no resultToken (is it a Config rule invocation?)")
    message_type = invoking.get("messageType")
    if not isinstance(message_type, str):
        raise RuleEventError("invokingEvent has no messageType")
    sent = parse_time(invoking.get("notificationCreationTime")) or datetime.now(UTC)  # the doc example omits it
    return Invocation(
        rule_name=str(event.get("configRuleName") or ""),
        account_id=str(event.get("accountId") or invoking.get("awsAccountId") or ""),
        message_type=message_type,
        notification_time=sent,
        result_token=token,
        evaluation_mode=event.get("evaluationMode"),
        event_left_scope=event.get("eventLeftScope") is True,
    )


def _evaluate_change(
    rule: ConfigRule[P], invoking: Mapping[str, Any], parameters: P, clients: AwsClients, invocation: Invocation
) -> Iterable[Evaluation]:
    key = "configurationItemSummary" if invocation.message_type == OVERSIZED else "configurationItem"
    item = ConfigurationItem.from_notification(_json_object(invoking.get(key), f"invokingEvent.{key}"))
    reason = _not_applicable_reason(rule, item, invocation)
    if reason:
        return [Evaluation.of(item, Verdict(Compliance.NOT_APPLICABLE, reason))]
    if invocation.message_type == OVERSIZED:
        item = fetch_configuration_item(clients.config, item)
    outcome = rule.evaluate_change(item, parameters, clients)
    if isinstance(outcome, Verdict):
        return [Evaluation.of(item, outcome)]
    # Evaluations a change produced happened when the item was captured, whatever resource they name.
    return [e if e.ordering_timestamp else replace(e, ordering_timestamp=item.capture_time) for e in outcome]


def _not_applicable_reason(rule: ConfigRule[Any], item: ConfigurationItem, invocation: Invocation) -> str:
    if item.is_deleted:
        return f"{item.resource_type} {item.resource_name or item.resource_id} was deleted ({item.status})"
    if invocation.event_left_scope:
        return "the resource left the rule's scope"
    if item.resource_type not in rule.resource_types:
        return f"{rule.name} does not evaluate {item.resource_type}"
    return ""


def fetch_configuration_item(config: Any, summary: ConfigurationItem) -> ConfigurationItem:
    """The full item behind an oversized notification: the latest one at its capture time."""
    request: dict[str, Any] = {"resourceType": summary.resource_type, "resourceId": summary.resource_id, "limit": 1}
    if summary.capture_time is not None:
        request["laterTime"] = summary.capture_time
    items = config.get_resource_config_history(**request).get("configurationItems") or []
    if not items:
        raise RuleEventError(f"Config has no configuration history for {summary.resource_type} {summary.resource_id}")
    return ConfigurationItem.from_history(items[0])


def retire_vanished(
    rule: ConfigRule[Any], reported: list[Evaluation], rule_name: str, clients: AwsClients
) -> list[Evaluation]:
    """NOT_APPLICABLE for resources Config still holds a verdict on that this periodic run did not see."""
    if not rule.periodic_resource_types:
        return []
    seen = {(evaluation.resource_type, evaluation.resource_id) for evaluation in reported}
    vanished: list[Evaluation] = []
    pages = clients.config.get_paginator("get_compliance_details_by_config_rule").paginate(
        ConfigRuleName=rule_name, ComplianceTypes=["COMPLIANT", "NON_COMPLIANT"]
    )
    for page in pages:
        for result in page.get("EvaluationResults", []):
            qualifier = result["EvaluationResultIdentifier"]["EvaluationResultQualifier"]
            key = (qualifier["ResourceType"], qualifier["ResourceId"])
            if key[0] in rule.periodic_resource_types and key not in seen:
                seen.add(key)
                annotation = "no longer present: the periodic run did not find it"
                vanished.append(Evaluation(key[0], key[1], Compliance.NOT_APPLICABLE, annotation))
    return vanished


def put_evaluations(config: Any, evaluations: list[Evaluation], invocation: Invocation) -> int:
    """Send the evaluations, at most 100 per call; returns the number of calls made."""
    entries = [evaluation.as_request(invocation.notification_time) for evaluation in evaluations]
    test_mode = {"TestMode": True} if invocation.result_token == TEST_MODE_TOKEN else {}
    failed: list[dict[str, Any]] = []
    batches = [entries[start : start + BATCH_SIZE] for start in range(0, len(entries), BATCH_SIZE)] or [[]]
    for batch in batches:
        response = config.put_evaluations(Evaluations=batch, ResultToken=invocation.result_token, **test_mode)
        failed.extend(response.get("FailedEvaluations") or [])
    if failed:
        raise EvaluationsRejected(failed)
    return len(batches)


def _last_per_resource(evaluations: list[Evaluation]) -> list[Evaluation]:
    """One evaluation per resource (the last said wins): Config keeps one verdict per resource anyway."""
    latest = {(evaluation.resource_type, evaluation.resource_id): evaluation for evaluation in evaluations}
    return list(latest.values())


def _json_object(value: Any, where: str) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise RuleEventError(f"{where} is not JSON ({error})") from None
    if not isinstance(value, Mapping):
        raise RuleEventError(f"{where} is missing or not a JSON object")
    return value


def log_line(record: dict[str, Any]) -> None:
    """One JSON line on stdout: CloudWatch Logs keeps it as it is, and Logs Insights reads its fields."""
    print(json.dumps(record, default=str, separators=(",", ":")), flush=True)


@functools.cache
def default_clients() -> AwsClients:
    """The clients of this Lambda container, made once (on first use, so a cold start stays cheap)."""
    return AwsClients()


def lambda_handler_for(rule: ConfigRule[Any]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The `lambda_handler(event, context)` of one rule module."""

    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return run_rule(rule, event, default_clients()).as_dict()

    lambda_handler.__doc__ = f"AWS Lambda entry point of the {rule.name} Config rule."
    return lambda_handler
