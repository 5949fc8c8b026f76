"""Every envelope shape a Config message reaches us in, from the real AWS fixtures."""

from __future__ import annotations

import json

from notifier.envelopes import MAX_MESSAGE_BYTES, decode, decode_text
from tests.conftest import AWS, compliance_message, eventbridge_event, load_json, sns_event, sns_json, sqs_record

ENVELOPES = AWS / "envelopes"


def test_sns_lambda_event_message_is_a_json_string() -> None:
    [message] = decode(
        load_json(
            AWS / "derived/DERIVED__sns-lambda__compliance-change__awsdoc-01-envelope-restated-as-Lambda-record.json"
        )
    )
    assert message.source == "sns"
    assert message.location == "$.Records[0].Sns.Message"
    assert message.body is not None and message.body["messageType"] == "ComplianceChangeNotification"
    assert message.message_id


def test_both_signing_cert_spellings_and_null_subject_decode() -> None:
    for name in ("sns-lambda__01a_", "sns-lambda__01b_"):
        [path] = ENVELOPES.glob(f"sns-lambda/{name}*.json")
        [message] = decode(load_json(path))
        # "Hello from SNS!" is not JSON: unreadable, with the place it was found
        assert message.source == "sns"
        assert message.error is not None and message.error.startswith("$.Records[0].Sns.Message is not valid JSON")


def test_many_records_in_one_event_keep_their_order() -> None:
    first, second = (
        compliance_message("ComplianceChangeNotification__01_"),
        compliance_message("ComplianceChangeNotification__02_"),
    )
    messages = decode(sns_event(first, "not json", second))
    assert [m.location for m in messages] == [f"$.Records[{i}].Sns.Message" for i in range(3)]
    assert messages[0].body == first and messages[2].body == second
    assert messages[1].error is not None and messages[0].error is None


def test_sqs_non_raw_body_is_sns_json_with_the_message_double_encoded() -> None:
    body = json.dumps(sns_json(compliance_message()), indent=2, separators=(",", " : "))
    [message] = decode({"Records": [sqs_record(body, message_id="sqs-1")]})
    assert (message.source, message.record_id) == ("sqs", "sqs-1")
    assert message.location == "$.Records[0].body.Message"
    assert message.body == compliance_message()
    assert message.message_id is not None  # the SNS MessageId, stable across SNS retries


def test_sqs_raw_delivery_body_is_the_message_itself() -> None:
    [message] = decode({"Records": [sqs_record(json.dumps(compliance_message()))]})
    assert message.source == "sqs" and message.location == "$.Records[0].body"
    assert message.body == compliance_message()


def test_sqs_fixture_derived_from_the_aws_doc() -> None:
    [message] = decode(
        load_json(
            AWS / "derived/DERIVED__sns-sqs-lambda__compliance-change__awsdoc-01-envelope-restated-as-SQS-record.json"
        )
    )
    assert message.source == "sqs" and message.body is not None
    assert message.body["configRuleName"] == "cloudtrail-enabled"


def test_eventbridge_event_detail_is_the_message() -> None:
    [path] = ENVELOPES.glob("eventbridge/eventbridge__01_*.json")
    [message] = decode(load_json(path))
    assert message.source == "eventbridge" and message.location == "$.detail"
    assert message.body is not None and message.body["resourceType"] == "AWS::Logs::LogGroup"


def test_eventbridge_event_forwarded_through_sns() -> None:
    [path] = ENVELOPES.glob("sns-lambda/sns-lambda__05_*.json")
    [message] = decode(load_json(path))
    assert message.source == "sns"
    assert message.location == "$.Records[0].Sns.Message.detail"
    assert message.body is not None and message.body["messageType"] == "ComplianceChangeNotification"


def test_eventbridge_event_from_another_service_is_skipped() -> None:
    [path] = ENVELOPES.glob("eventbridge/eventbridge__06_*.json")
    [message] = decode(load_json(path))
    assert message.body is None and message.skip_reason and "aws.ec2" in message.skip_reason


def test_sns_http_delivery_body() -> None:
    [message] = decode_text(json.dumps(sns_json(compliance_message())))
    assert message.source == "sns-http" and message.location == "$.Message"
    assert message.body == compliance_message()


def test_sns_http_subscription_confirmation_is_skipped_not_invalid() -> None:
    request = load_json(next(ENVELOPES.glob("sns-http/sns-http__02_*.json")))
    [message] = decode_text(request["body"])
    assert message.source == "sns-http" and message.skip_reason == "SNS SubscriptionConfirmation message"


def test_bare_message_and_a_json_array_of_shapes() -> None:
    bare = compliance_message()
    messages = decode([bare, eventbridge_event(bare), sns_event(bare, bare)])
    assert [m.source for m in messages] == ["config", "eventbridge", "sns", "sns"]
    assert [m.location for m in messages] == [
        "$[0]",
        "$[1].detail",
        "$[2].Records[0].Sns.Message",
        "$[2].Records[1].Sns.Message",
    ]
    assert all(m.body == bare for m in messages)


def test_unreadable_inputs_name_their_place() -> None:
    assert (
        decode_text(b"{not json")[0].error
        == "$ is not valid JSON: unexpected character, expected a string key: line 1 column 2 (char 1)"
    )
    assert decode([42])[0].error == "$[0] must be a JSON object, not a number"
    assert decode({"Records": [{"foo": 1}]})[0].error == (
        "$.Records[0] is neither an SNS record (Sns) nor an SQS record (body, eventSource)"
    )
    sns = sns_event("x")
    sns["Records"][0]["Sns"]["Message"] = 7
    assert decode(sns)[0].error == "$.Records[0].Sns.Message must be a string, not a number"


def test_a_message_over_the_sns_limit_is_refused_before_parsing() -> None:
    huge = json.dumps({"messageType": "ComplianceChangeNotification", "pad": "x" * MAX_MESSAGE_BYTES})
    [message] = decode(sns_event(huge))
    assert message.error is not None and "over the SNS maximum of 262144" in message.error
