"""Hostile input never breaks intake: real payloads, mutated, in every envelope, mixed in batches.

The promises under test (envelopes.py and notification.py docstrings, DESIGN.md):
  * decode / decode_text / parse / Pipeline.process never raise for bad input;
  * every record of the input yields exactly one result, in input order, found where it was;
  * one bad record never costs a good one: each record's outcome in a mixed batch is its outcome
    alone, and a genuinely valid message stays valid whatever its neighbours;
  * an Invalid error is one line that starts with the JSON path of the record it is about.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.envelopes import InboundMessage, decode, decode_text
from notifier.notification import ComplianceNotification, Invalid, parse
from notifier.pipeline import Outcome, Pipeline
from tests.conftest import eventbridge_event, sns_json, sns_record, sqs_record, valid_compliance_messages
from tests.unit.test_validator_agreement import CONTROL_CHARS, JSON_VALUES, MARKUP, TEXT, mutated_messages

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXPLAIN_ONLY = Pipeline(None, {})  # no route tree, no destinations: a valid message ends "unrouted"
VALID = valid_compliance_messages()


@dataclass(frozen=True)
class Payload:
    """The text a Config message travels as (an SNS Message, an SQS body, a file)."""

    text: str
    known_valid: bool  # a real, valid compliance change (perhaps with hostile strings in it)

    @property
    def value(self) -> Any:
        """As a JSON value, for shapes that carry the message as an object (EventBridge, arrays)."""
        try:
            return orjson.loads(self.text)
        except orjson.JSONDecodeError:
            return self.text  # still garbage, now as a JSON string


# ---------------------------------------------------------------------------------------------
# Payloads: real messages, then everything that can go wrong with one
# ---------------------------------------------------------------------------------------------


@st.composite
def hostile_but_valid(draw: st.DrawFn) -> Payload:
    """A valid message whose resourceId and annotation hold control characters, markup, odd Unicode."""
    message = copy.deepcopy(draw(st.sampled_from(VALID)))
    hostile = st.lists(CONTROL_CHARS | MARKUP | st.text(min_size=1, max_size=20), min_size=1, max_size=10).map("".join)
    resource_id = draw(hostile.filter(lambda s: 0 < len(s) <= 768))
    message["resourceId"] = resource_id
    for side in ("newEvaluationResult", "oldEvaluationResult"):
        if message.get(side):
            message[side]["evaluationResultIdentifier"]["evaluationResultQualifier"]["resourceId"] = resource_id
    message["newEvaluationResult"]["annotation"] = draw(st.none() | hostile.filter(lambda s: len(s) <= 256))
    return Payload(json.dumps(message, ensure_ascii=draw(st.booleans())), known_valid=True)


@st.composite
def truncated(draw: st.DrawFn) -> Payload:
    text = json.dumps(draw(st.sampled_from(VALID)))
    return Payload(text[: draw(st.integers(0, len(text) - 1))], known_valid=False)


def oversized(message: dict[str, Any]) -> Payload:
    """300 KB: over the SNS limit (refused there), legal JSON otherwise (extra keys are tolerated)."""
    return Payload(json.dumps({**message, "padding": "x" * 300_000}), known_valid=False)


# A payload that is itself a JSON array would be a batch, not one record, when sent bare: left out here.
PAYLOADS = st.one_of(
    st.sampled_from(VALID).map(lambda m: Payload(json.dumps(m), known_valid=True)),
    hostile_but_valid(),
    mutated_messages().map(lambda m: Payload(json.dumps(m), known_valid=False)),
    truncated(),
    st.binary(max_size=64).map(lambda raw: Payload(raw.decode("latin-1"), known_valid=False)),
    TEXT.map(lambda text: Payload(text, known_valid=False)),
    JSON_VALUES.map(lambda value: Payload(json.dumps(value), known_valid=False)),  # wrong top-level types
    st.sampled_from(VALID).map(oversized),
).filter(lambda payload: not isinstance(payload.value, list))

# ---------------------------------------------------------------------------------------------
# Envelopes: each turns payloads into one input document and says where each record must be found
# ---------------------------------------------------------------------------------------------

Envelope = Callable[[list[Payload]], list[Any]]  # payloads -> one document per payload, or one for all


def sns_lambda_event(payloads: list[Payload]) -> dict[str, Any]:
    return {"Records": [sns_record(p.text) for p in payloads]}


def sqs_event_non_raw(payloads: list[Payload]) -> dict[str, Any]:
    return {"Records": [sqs_record(json.dumps(sns_json(p.text))) for p in payloads]}


def sqs_event_raw(payloads: list[Payload]) -> dict[str, Any]:
    return {"Records": [sqs_record(p.text) for p in payloads]}


BATCH_ENVELOPES = {"sns": sns_lambda_event, "sqs-non-raw": sqs_event_non_raw, "sqs-raw": sqs_event_raw}
SINGLE_ENVELOPES: dict[str, Callable[[Payload], Any]] = {  # one message per document
    "eventbridge": lambda p: {**eventbridge_event({}), "detail": p.value},
    "sns-http": lambda p: sns_json(p.text),
    "bare": lambda p: p.value,
}


def record_prefix(envelope: str, index: int, at: str = "$") -> str:
    return f"{at}.Records[{index}]" if envelope in BATCH_ENVELOPES else at


def decode_input(envelope: str, payloads: list[Payload]) -> tuple[list[InboundMessage], list[str]]:
    """Decode `payloads` sent in `envelope` as one input; the messages and their expected places."""
    if envelope in BATCH_ENVELOPES:
        document = BATCH_ENVELOPES[envelope](payloads)
        return decode_text(orjson.dumps(document)), [record_prefix(envelope, i) for i in range(len(payloads))]
    # A single-message shape carries a batch as a JSON array of documents (a CLI input).
    if len(payloads) == 1 and envelope == "bare":
        return decode_text(payloads[0].text), ["$"]  # the raw text: garbage bytes, truncation and all
    documents = [SINGLE_ENVELOPES[envelope](p) for p in payloads]
    return decode_text(orjson.dumps(documents)), [f"$[{i}]" for i in range(len(payloads))]


def is_at(message: InboundMessage, prefix: str) -> bool:
    return message.location == prefix or message.location.startswith((f"{prefix}.", f"{prefix}["))


def assert_well_formed(outcome: Outcome, prefix: str) -> None:
    assert is_at(outcome.message, prefix), (outcome.message.location, prefix)
    if outcome.status == "invalid":
        error = outcome.error or ""
        assert error.startswith(prefix), f"error does not name where the record is ({prefix}): {error!r:.300}"
        assert len(error.splitlines()) == 1, f"error is not one line: {error!r:.300}"


def process_all(messages: list[InboundMessage]) -> list[Outcome]:
    return [EXPLAIN_ONLY.process(message, send=False) for message in messages]


ENVELOPE_NAMES = st.sampled_from([*BATCH_ENVELOPES, *SINGLE_ENVELOPES])

# ---------------------------------------------------------------------------------------------
# The properties
# ---------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(ENVELOPE_NAMES, st.lists(PAYLOADS, min_size=1, max_size=5))
def test_every_record_yields_one_well_formed_result_in_order(envelope: str, payloads: list[Payload]) -> None:
    messages, prefixes = decode_input(envelope, payloads)
    assert len(messages) == len(payloads)
    for outcome, prefix, payload in zip(process_all(messages), prefixes, payloads, strict=True):
        assert_well_formed(outcome, prefix)
        if payload.known_valid:
            assert outcome.status == "unrouted", (outcome.status, outcome.error)
            assert outcome.notification is not None
            assert outcome.notification.resource_id == orjson.loads(payload.text)["resourceId"]


@PROPERTY_SETTINGS
@given(ENVELOPE_NAMES, st.lists(PAYLOADS, min_size=2, max_size=5))
def test_a_record_fares_the_same_in_a_mixed_batch_as_alone(envelope: str, payloads: list[Payload]) -> None:
    batch, _ = decode_input(envelope, payloads)
    for payload, in_batch in zip(payloads, process_all(batch), strict=True):
        [alone] = process_all(decode_input(envelope, [payload])[0])
        assert (in_batch.status, in_batch.notification) == (alone.status, alone.notification)


@PROPERTY_SETTINGS
@given(st.lists(st.tuples(ENVELOPE_NAMES, st.lists(PAYLOADS, min_size=1, max_size=3)), min_size=1, max_size=4))
def test_a_json_array_of_mixed_envelopes_keeps_every_record_in_order(parts: list[tuple[str, list[Payload]]]) -> None:
    documents: list[Any] = []
    prefixes: list[str] = []
    payloads: list[Payload] = []
    for envelope, group in parts:
        if envelope in BATCH_ENVELOPES:
            at = f"$[{len(documents)}]"
            documents.append(BATCH_ENVELOPES[envelope](group))
            prefixes += [record_prefix(envelope, i, at) for i in range(len(group))]
        else:
            prefixes += [f"$[{len(documents) + i}]" for i in range(len(group))]
            documents += [SINGLE_ENVELOPES[envelope](p) for p in group]
        payloads += group
    outcomes = process_all(decode(documents))
    assert len(outcomes) == len(payloads)
    for outcome, prefix, payload in zip(outcomes, prefixes, payloads, strict=True):
        assert_well_formed(outcome, prefix)
        if payload.known_valid:
            assert outcome.status == "unrouted", (outcome.status, outcome.error)


@PROPERTY_SETTINGS
@given(st.binary(max_size=512))
def test_garbage_bytes_never_raise(raw: bytes) -> None:
    messages = decode_text(raw)
    try:
        parsed_as_array = isinstance(orjson.loads(raw), list)
    except orjson.JSONDecodeError:
        parsed_as_array = False
    assert parsed_as_array or len(messages) == 1
    for message in messages:
        result = parse(message)
        if isinstance(result, Invalid):
            assert result.error.startswith("$") and len(result.error.splitlines()) == 1


@PROPERTY_SETTINGS
@given(mutated_messages(), st.sampled_from(["$", "$.Records[0].Sns.Message", "$[3].detail"]))
def test_parse_of_any_mutated_body_never_raises_and_names_the_path(body: Any, location: str) -> None:
    result = parse(InboundMessage("config", location, body=body))
    if isinstance(result, Invalid):
        assert result.error.startswith(location) and len(result.error.splitlines()) == 1, result.error
    if isinstance(result, ComplianceNotification):
        assert result.resource_id == body["resourceId"]


@PROPERTY_SETTINGS
@given(st.sampled_from(VALID), st.sampled_from(["messageType", "awsRegion", "resourceId"]), JSON_VALUES)
def test_any_json_value_in_a_key_field_is_classified_never_raised(
    message: dict[str, Any], key: str, value: Any
) -> None:
    body = {**message, key: value}  # unhashable values (arrays, objects) included
    result = parse(InboundMessage("config", "$", body=body))
    if isinstance(result, Invalid):
        assert result.error.startswith("$.") and key in result.error, result.error


def test_an_array_where_one_message_belongs_is_one_invalid_record() -> None:
    [message] = decode(sns_lambda_event([Payload(json.dumps(VALID[:2]), known_valid=False)]))
    assert parse(message) == Invalid("$.Records[0].Sns.Message must be a JSON object, not an array")


def test_deeply_nested_json_is_refused_not_a_crash() -> None:
    # orjson accepts nesting up to 1024 levels; the decoder and explainer must not recurse past Python's limit.
    deep = "[" * 1000 + "]" * 1000
    compliance_with_deep_value = f'{{"messageType": "ComplianceChangeNotification", "awsRegion": {deep}}}'
    for text in (deep, compliance_with_deep_value, f'{{"messageType": {deep}}}'):
        for message in decode_text(text):
            result = parse(message)
            assert not isinstance(result, Invalid) or result.error.startswith("$")


def test_a_huge_message_with_unencodable_text_is_refused_not_a_crash() -> None:
    # A Lambda runtime parses events with the json module, which lets lone surrogates ("\ud800") through.
    event = {"Records": [sns_record("\ud800" * 70_000)]}
    [message] = decode(event)
    assert message.error is not None and message.error.startswith("$.Records[0].Sns.Message")
