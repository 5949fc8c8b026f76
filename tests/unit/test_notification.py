"""Validation of ComplianceChangeNotifications: strict where it matters, tolerant where AWS varies."""

from __future__ import annotations

from typing import Any

import pytest

from notifier.envelopes import InboundMessage, decode
from notifier.notification import ComplianceNotification, Invalid, Skipped, parse
from notifier.transition import Compliance
from tests.conftest import CONFIG_SNS, compliance_message, load_json, sns_event, valid_compliance_messages


def parse_body(body: Any, location: str = "$") -> Any:
    return parse(InboundMessage("config", location, body=body))


@pytest.mark.parametrize(
    "message", valid_compliance_messages(), ids=lambda m: f"{m['configRuleName']}:{m['resourceId']}"
)
def test_every_real_compliance_message_is_valid(message: dict[str, Any]) -> None:
    result = parse_body(message)
    assert isinstance(result, ComplianceNotification), result
    assert result.rule == message["configRuleName"] and result.resource_id == message["resourceId"]


def test_fields_of_the_aws_documented_message() -> None:
    n = parse_body(compliance_message("ComplianceChangeNotification__01_"))
    assert isinstance(n, ComplianceNotification)
    assert (n.account, n.region, n.resource_type) == ("123456789012", "us-east-2", "AWS::::Account")
    assert (n.old_compliance, n.new.compliance) == (Compliance.NON_COMPLIANT, Compliance.COMPLIANT)
    assert n.new.ordering_timestamp == "2016-09-27T19:48:40.619Z" and n.new.annotation is None


def test_first_evaluation_without_old_result_is_from_none() -> None:
    n = parse_body(compliance_message("ComplianceChangeNotification__03_"))
    assert isinstance(n, ComplianceNotification) and n.old is None and n.old_compliance is Compliance.NONE


def test_tolerant_of_what_aws_varies() -> None:
    message = compliance_message()
    message["oldEvaluationResult"] = None
    del message["newEvaluationResult"]["annotation"], message["newEvaluationResult"]["resultToken"]
    message["newEvaluationResult"]["evaluationResultIdentifier"]["orderingTimestamp"] = "2016-09-27T19:48:40Z"
    message["newEvaluationResult"]["evaluationResultIdentifier"]["evaluationResultQualifier"]["evaluationMode"] = (
        "DETECTIVE"
    )
    message["someFutureKey"] = {"anything": True}
    assert isinstance(parse_body(message), ComplianceNotification)


def mutated(path: list[Any], value: Any) -> dict[str, Any]:
    message = compliance_message()
    target = message
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return message


_DELETE = object()
NEW = ["newEvaluationResult"]
QUALIFIER = [*NEW, "evaluationResultIdentifier", "evaluationResultQualifier"]


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (["awsRegion"], _DELETE, "$ is missing the required key 'awsRegion'"),
        (["awsAccountId"], 123456789012, "$.awsAccountId must be of type string, not 123456789012"),
        (["awsAccountId"], "12345", '$.awsAccountId is "12345", which is not a 12-digit AWS account ID'),
        (
            [*NEW, "complianceType"],
            "BROKEN",
            '$.newEvaluationResult.complianceType is "BROKEN", not one of '
            "COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE, INSUFFICIENT_DATA",
        ),
        (
            [*NEW, "evaluationResultIdentifier", "orderingTimestamp"],
            "yesterday",
            '$.newEvaluationResult.evaluationResultIdentifier.orderingTimestamp is "yesterday", which is not an '
            "ISO-8601 UTC timestamp",
        ),
        (["resourceId"], "", "$.resourceId must not be empty (at least 1 character)"),
        (
            [*NEW, "annotation"],
            "x" * 300,
            "$.newEvaluationResult.annotation is 300 characters long, over the maximum of 256",
        ),
        (
            ["oldEvaluationResult"],
            "COMPLIANT",
            '$.oldEvaluationResult must be null or a valid evaluation result, not "COMPLIANT"',
        ),
        (
            [*QUALIFIER, "resourceId"],
            "other",
            '$.newEvaluationResult.evaluationResultIdentifier.evaluationResultQualifier.resourceId is "other" but the '
            'message\'s resourceId is "123456789012"',
        ),
        (
            ["messageType"],
            "SomethingNew",
            '$.messageType is "SomethingNew", which is not a message type AWS Config publishes',
        ),
        (["messageType"], _DELETE, "$.messageType is missing: a compliance change must say messageType"),
    ],
)
def test_invalid_messages_get_one_sentence_naming_the_path(path: list[Any], value: Any, error: str) -> None:
    result = parse_body(mutated(path, value))
    assert result == Invalid(error)


def test_error_path_includes_where_the_message_was_found_in_the_envelope() -> None:
    [message] = decode(sns_event(mutated(["awsRegion"], "Mars")))
    result = parse(message)
    assert isinstance(result, Invalid)
    assert result.error.startswith('$.Records[0].Sns.Message.awsRegion is "Mars"')


def test_offending_values_are_quoted_back_bounded_and_escaped() -> None:
    result = parse_body(mutated(["awsRegion"], "<script>\r\n" + "y" * 5000))
    assert isinstance(result, Invalid)
    assert "\r" not in result.error and "\n" not in result.error and len(result.error) < 300


@pytest.mark.parametrize("path", sorted(CONFIG_SNS.glob("*.json")), ids=lambda p: p.name[:50])
def test_other_config_message_types_are_skipped_not_errors(path: Any) -> None:
    if path.name.startswith("ComplianceChangeNotification"):
        return
    result = parse_body(load_json(path))
    assert isinstance(result, Skipped) and result.message_type == load_json(path)["messageType"]


def test_a_json_object_that_is_not_a_config_message_is_skipped() -> None:
    assert parse_body({"message": "hello world", "username": "lessa"}) == Skipped(
        None, "not an AWS Config message (no messageType)"
    )


def test_hand_edited_inconsistent_fixture_is_invalid() -> None:
    result = parse_body(compliance_message("ComplianceChangeNotification__05_"))
    assert isinstance(result, Invalid) and "evaluationResultQualifier.resourceType" in result.error


def test_content_key_identifies_the_change_not_the_delivery() -> None:
    first = parse_body(compliance_message())
    again = parse_body(compliance_message())
    assert isinstance(first, ComplianceNotification) and isinstance(again, ComplianceNotification)
    assert first.content_key == again.content_key
    later = mutated([*NEW, "evaluationResultIdentifier", "orderingTimestamp"], "2016-09-28T00:00:00.000Z")
    assert isinstance(other := parse_body(later), ComplianceNotification) and other.content_key != first.content_key
