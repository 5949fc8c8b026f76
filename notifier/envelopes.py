"""Every shape a Config message reaches us in, reduced to `InboundMessage`s.

Shapes (DESIGN.md, "The data's path"):
  * SNS → Lambda event: ``Records[].Sns`` with ``Message`` as a JSON string
  * SQS → Lambda event: ``Records[].body`` holding the SNS JSON (non-raw) or the bare message (raw)
  * EventBridge "Config Rules Compliance Change" event: ``detail`` is the message, as an object
  * an EventBridge event forwarded through SNS: ``Message`` holds the whole event, ``detail`` inside
  * an SNS HTTP(S) delivery body: ``{"Type": "Notification", "Message": "...", ...}``
  * a bare Config message (``messageType`` at top level)
  * a JSON array of any of the above (CLI inputs)

Nothing here validates the Config message itself: that is `notification.py`'s job. What this module
guarantees is that every record of the input yields exactly one `InboundMessage`, in input order,
and that an unreadable one carries an error naming where it was.
"""

from __future__ import annotations

import re
from typing import Any, Literal, NamedTuple

import orjson

from .message_types import OTHER_CONFIG_MESSAGE_TYPES

Source = Literal["sns", "sqs", "eventbridge", "sns-http", "config"]

# SNS refuses messages above 256 KiB; a larger "Config message" did not come from Config.
MAX_MESSAGE_BYTES = 262_144

# Below this size parsing is as cheap as peeking, and compliance changes (~1.2 KB) stay under it.
PEEK_ABOVE_CHARACTERS = 2048
_MESSAGE_TYPE_KEY = '"messageType"'
_MESSAGE_TYPE_VALUE = re.compile(r'[ \t\r\n]*:[ \t\r\n]*"([A-Za-z]{1,64})"')

_SNS_HTTP_SKIPPED_TYPES = ("SubscriptionConfirmation", "UnsubscribeConfirmation")


class InboundMessage(NamedTuple):
    """One record of the input, located. A NamedTuple like every record on the hot path: as immutable as a
    frozen dataclass, and several times cheaper to build on CPython 3.11 (see README, "Speed")."""

    source: Source
    location: str  # JSON path of the Config message inside the input, e.g. "$.Records[0].Sns.Message"
    body: dict[str, Any] | None = None  # the Config message; None when unreadable or skipped
    message_id: str | None = None  # SNS MessageId / EventBridge id: stable across redeliveries
    record_id: str | None = None  # SQS messageId, the key of batchItemFailures
    error: str | None = None  # why the record could not be read (it is then `invalid`)
    skip_reason: str | None = None  # why the record is not a Config message (it is then `skipped`)
    skipped_type: str | None = None  # the messageType of a message skipped without parsing it
    # What could not be read, as received (the text, or the offending value as JSON), so a dead letter
    # keeps it for someone to look at; at most MAX_MESSAGE_BYTES.
    raw: str | None = None


def decode_text(text: str | bytes, location: str = "$") -> list[InboundMessage]:
    """Decode one input document (a file's or a request's contents)."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        error = f"{location} is not valid JSON: {exc}"
        return [InboundMessage("config", location, error=error, raw=_raw_text(text))]
    return decode(document, location)


def decode(document: Any, location: str = "$") -> list[InboundMessage]:
    """Decode an already-parsed input document: a Lambda event, an envelope, a message, or a list."""
    if isinstance(document, list):
        out: list[InboundMessage] = []
        for index, item in enumerate(document):
            item_location = f"{location}[{index}]"
            if isinstance(item, list):  # no envelope is an array in an array; recursing could hit Python's limit
                error = f"{item_location} must be a JSON object, not an array"
                out.append(InboundMessage("config", item_location, error=error, raw=_raw_value(item)))
            else:
                out.extend(decode(item, item_location))
        return out
    if not isinstance(document, dict):
        error = f"{location} must be a JSON object, not {_kind(document)}"
        return [InboundMessage("config", location, error=error, raw=_raw_value(document))]
    records = document.get("Records")
    if isinstance(records, list):
        return [_lambda_record(record, f"{location}.Records[{i}]") for i, record in enumerate(records)]
    if "detail-type" in document:
        return [_eventbridge(document, "eventbridge", location, None)]
    if "Type" in document and "TopicArn" in document:
        return [_sns_http(document, location)]
    return [_config_message(document, "config", location)]


def _lambda_record(record: Any, location: str) -> InboundMessage:
    if not isinstance(record, dict):
        error = f"{location} must be a JSON object, not {_kind(record)}"
        return InboundMessage("config", location, error=error, raw=_raw_value(record))
    sns = record.get("Sns")
    if isinstance(sns, dict):
        return _sns_notification(sns, "sns", f"{location}.Sns", None)
    if "body" in record and (record.get("eventSource") == "aws:sqs" or "receiptHandle" in record):
        return _sqs_record(record, location)
    error = f"{location} is neither an SNS record (Sns) nor an SQS record (body, eventSource)"
    return InboundMessage("config", location, error=error, raw=_raw_value(record))


def _sqs_record(record: dict[str, Any], location: str) -> InboundMessage:
    record_id = record.get("messageId") if isinstance(record.get("messageId"), str) else None
    body_location = f"{location}.body"
    body = record["body"]
    if not isinstance(body, str):
        wrong = f"{body_location} must be a string"
        return InboundMessage("sqs", body_location, record_id=record_id, error=wrong, raw=_raw_value(body))
    skippable = peek_skippable_type(body) if len(body) > PEEK_ABOVE_CHARACTERS else None
    if skippable is not None:  # raw delivery of a non-compliance message
        return _skipped_unparsed(skippable, "sqs", body_location, None, record_id)
    parsed, error = _parse_json_string(body, body_location)
    if error is not None:
        return InboundMessage("sqs", body_location, record_id=record_id, error=error, raw=_raw_text(body))
    if isinstance(parsed, dict) and parsed.get("Type") == "Notification" and "TopicArn" in parsed:
        return _sns_notification(parsed, "sqs", body_location, record_id)  # non-raw: SNS JSON in the body
    if isinstance(parsed, dict) and "detail-type" in parsed:  # EventBridge → SQS target
        return _eventbridge(parsed, "sqs", body_location, record_id)
    return _config_message(parsed, "sqs", body_location, record_id=record_id)  # raw delivery


def _sns_http(document: dict[str, Any], location: str) -> InboundMessage:
    kind = document.get("Type")
    if kind in _SNS_HTTP_SKIPPED_TYPES:
        return InboundMessage(
            "sns-http", location, message_id=_str(document.get("MessageId")), skip_reason=f"SNS {kind} message"
        )
    return _sns_notification(document, "sns-http", location, None)


def _sns_notification(sns: dict[str, Any], source: Source, location: str, record_id: str | None) -> InboundMessage:
    message_id = _str(sns.get("MessageId"))
    message_location = f"{location}.Message"
    message = sns.get("Message")
    if isinstance(message, dict):  # as the AWS docs print it; real deliveries carry a string
        parsed: Any = message
    elif isinstance(message, str):
        skippable = peek_skippable_type(message) if len(message) > PEEK_ABOVE_CHARACTERS else None
        if skippable is not None:
            return _skipped_unparsed(skippable, source, message_location, message_id, record_id)
        parsed, error = _parse_json_string(message, message_location)
        if error is not None:
            return InboundMessage(
                source, message_location, message_id=message_id, record_id=record_id,
                error=error, raw=_raw_text(message),
            )  # fmt: skip
    else:
        reason = "is missing" if message is None else f"must be a string, not {_kind(message)}"
        return InboundMessage(
            source, message_location, message_id=message_id, record_id=record_id,
            error=f"{message_location} {reason}", raw=_raw_value(sns),
        )  # fmt: skip
    if isinstance(parsed, dict) and "detail-type" in parsed:  # EventBridge → SNS: the whole event
        return _eventbridge(parsed, source, message_location, record_id, message_id)
    return _config_message(parsed, source, message_location, message_id=message_id, record_id=record_id)


def _eventbridge(
    event: dict[str, Any], source: Source, location: str, record_id: str | None, message_id: str | None = None
) -> InboundMessage:
    message_id = message_id or _str(event.get("id"))
    if event.get("source") != "aws.config":
        return InboundMessage(
            source,
            location,
            message_id=message_id,
            record_id=record_id,
            skip_reason=f"EventBridge event from {event.get('source')!r}, not aws.config",
        )
    return _config_message(
        event.get("detail"), source, f"{location}.detail", message_id=message_id, record_id=record_id
    )


def _config_message(
    message: Any, source: Source, location: str, *, message_id: str | None = None, record_id: str | None = None
) -> InboundMessage:
    if not isinstance(message, dict):
        return InboundMessage(
            source,
            location,
            message_id=message_id,
            record_id=record_id,
            error=f"{location} must be a JSON object, not {_kind(message)}",
            raw=_raw_value(message),
        )
    return InboundMessage(source, location, message, message_id, record_id)  # positional: the hot path


def peek_skippable_type(text: str) -> str | None:
    """The messageType of a message we can skip without parsing it, else None.

    Most of what the Config topic carries is configuration items, several KB each; parsing one costs
    more than everything else we do with a compliance change. A Config message has exactly one
    `"messageType"` key. Inside a JSON string value the text would read `\\"messageType\\"`, so a
    single unescaped occurrence followed by a known non-compliance type is the message's own. Anything
    less clear-cut (no key, two keys, another value) is parsed in full as usual.
    """
    first = text.find(_MESSAGE_TYPE_KEY)
    if first < 0 or text.find(_MESSAGE_TYPE_KEY, first + 1) >= 0:
        return None
    value = _MESSAGE_TYPE_VALUE.match(text, first + len(_MESSAGE_TYPE_KEY))
    if value is None or value.group(1) not in OTHER_CONFIG_MESSAGE_TYPES:
        return None
    return value.group(1)


def _skipped_unparsed(
    message_type: str, source: Source, location: str, message_id: str | None, record_id: str | None
) -> InboundMessage:
    return InboundMessage(
        source,
        location,
        message_id=message_id,
        record_id=record_id,
        skip_reason=f"{message_type} is not a compliance change",
        skipped_type=message_type,
    )


def _parse_json_string(text: str, location: str) -> tuple[Any, str | None]:
    """(the parsed value, None), or (None, an error sentence) when the text is too large or not JSON.

    Not "the value or an error string": a Message holding a JSON string ('"hi"') parses to a str too.
    """
    if len(text) > MAX_MESSAGE_BYTES // 4:
        # "surrogatepass": an event parsed by the json module may hold lone surrogates; .encode() would raise.
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_MESSAGE_BYTES:
            return None, f"{location} is {size} bytes, over the SNS maximum of {MAX_MESSAGE_BYTES}"
    try:
        return orjson.loads(text), None
    except orjson.JSONDecodeError as exc:
        return None, f"{location} is not valid JSON: {exc}"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _raw_text(text: str | bytes) -> str:
    """Unreadable input as received, cut to the SNS maximum (a dead letter must stay a sane size)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text[:MAX_MESSAGE_BYTES]


def _raw_value(value: Any) -> str:
    """A value that is valid JSON but the wrong shape, written back out as JSON."""
    try:
        return _raw_text(orjson.dumps(value, default=str))
    except (TypeError, orjson.JSONEncodeError):  # nested past orjson's depth limit: repr() would recurse too
        return f"<a {_kind(value)} nested too deeply to write out>"
