"""Where `replay` reads dead letters from: a file, or an SQS dead-letter queue.

Every dead letter becomes a `Letter`: the `InboundMessage` the normal envelopes decode from it, plus
where it came from (`origin`) and, for SQS, the receipt handle that deletes it.

A file is read as ONE JSON document when the whole of it parses (any input `run` accepts: an SNS or
SQS Lambda event, an SNS HTTP body, an EventBridge event, a bare message, or an array of them);
otherwise as JSON lines, one document per non-blank line. Wherever a document is read (the whole
file, one line, or an SQS message body), an object holding `message` and a string `error` and no
`messageType` is a dead-letter record, as the `invalid_messages` file destination writes them:
its `message` is replayed, with the original `source` and `message_id` when the record kept them.
No Config message or envelope has that shape (SNS spells its field `Message`).

Queue references (`--from sqs://...`):
    sqs://https://sqs.us-east-1.amazonaws.com/123456789012/config-dlq   a queue URL (region from the host)
    sqs://sqs.us-east-1.amazonaws.com/123456789012/config-dlq           the same, https implied
    sqs://config-dlq                                                    a name: GetQueueUrl, default region
A URL whose host is not AWS's (LocalStack, a moto server) is also used as the endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, get_args
from urllib.parse import urlsplit

import orjson

from .envelopes import InboundMessage, Source, decode
from .errors import NotifierError

QUEUE_SCHEME = "sqs://"
SQS_BATCH_LIMIT = 10  # ReceiveMessage, DeleteMessageBatch and ChangeMessageVisibilityBatch all cap at 10

_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}(\.fifo)?")
# sqs.REGION.amazonaws.com (also -fips and China's .com.cn), and the legacy REGION.queue.amazonaws.com.
_AWS_QUEUE_HOST = re.compile(
    r"(?:sqs(?:-fips)?\.(?P<region>[a-z0-9-]+)|(?P<legacy>[a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?"
)


class Letter(NamedTuple):
    origin: str  # "dlq.jsonl:3", "dlq.json", or "sqs:<MessageId>"
    message: InboundMessage
    receipt: str | None = None  # the SQS receipt handle: what deletes or releases it
    first_failure: str | None = None  # why it became a dead letter, when it says (record `error`, SQS `reason`)


def is_dead_letter_record(document: Any) -> bool:
    return (
        isinstance(document, dict)
        and "message" in document
        and isinstance(document.get("error"), str)
        and "messageType" not in document
    )


def messages_of(document: Any, location: str = "$") -> list[InboundMessage]:
    """A dead-letter record's message, or whatever the normal envelopes find in the document."""
    if not is_dead_letter_record(document):
        return decode(document, location)
    location = f"{location}.message"
    body = document["message"]
    if body is None:  # the envelope itself was unreadable, so the record kept no message to retry
        error = f"the dead letter kept no message (the original could not be read: {document['error']})"
        return [InboundMessage("config", location, error=error)]
    source = document.get("source")
    message_id = document.get("message_id")
    return [
        message._replace(
            source=source if source in get_args(Source) else message.source,
            message_id=message_id if isinstance(message_id, str) else message.message_id,
        )
        for message in decode(body, location)
    ]


def _recorded_error(document: Any) -> str | None:
    return str(document["error"]) if is_dead_letter_record(document) else None


def letters_from_file(path: Path) -> list[Letter]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NotifierError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return list(_json_lines(path, data))
    return [Letter(str(path), message, None, _recorded_error(document)) for message in messages_of(document)]


def _json_lines(path: Path, data: bytes) -> Iterator[Letter]:
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        origin = f"{path}:{number}"
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield Letter(origin, InboundMessage("config", "$", error=f"line {number} is not valid JSON: {exc}"))
            continue
        yield from (Letter(origin, message, None, _recorded_error(document)) for message in messages_of(document))


@dataclass(frozen=True, slots=True)
class QueueAddress:
    url: str | None  # None: look the queue up by `name`
    name: str | None
    region: str | None  # None: boto3's default (AWS_REGION, the profile)
    endpoint: str | None  # only for a host that is not AWS's own


def parse_queue_reference(reference: str) -> QueueAddress:
    rest = reference.removeprefix(QUEUE_SCHEME)
    if "/" not in rest:
        if not _QUEUE_NAME.fullmatch(rest):
            raise NotifierError(f"{reference!r}: expected sqs://QUEUE_URL or sqs://queue-name")
        return QueueAddress(None, rest, None, None)
    url = rest if rest.startswith(("https://", "http://")) else f"https://{rest}"
    parts = urlsplit(url)
    if not parts.hostname or len(parts.path.strip("/").split("/")) != 2:
        raise NotifierError(f"{reference!r}: a queue URL looks like https://sqs.REGION.amazonaws.com/ACCOUNT/NAME")
    host = _AWS_QUEUE_HOST.fullmatch(parts.hostname)
    if host is None:
        return QueueAddress(url, None, None, f"{parts.scheme}://{parts.netloc}")
    return QueueAddress(url, None, host.group("region") or host.group("legacy"), None)


class DeadLetterQueue:
    """Receive, delete and release messages of one SQS queue; botocore errors become NotifierErrors."""

    def __init__(self, reference: str, *, client: Any = None) -> None:
        address = parse_queue_reference(reference)
        self.reference = reference
        self.client = client if client is not None else self._call("connect", lambda: _sqs_client(address))
        if address.url is not None:
            self.url = address.url
        else:
            self.url = self._call("find the queue", lambda: self.client.get_queue_url(QueueName=address.name))[
                "QueueUrl"
            ]

    def receive(self, limit: int, *, visibility_timeout: int) -> list[Letter]:
        """Up to `limit` (≤ 10) messages, hidden from other readers for `visibility_timeout` seconds.
        Short polling (WaitTimeSeconds=0): an empty answer ends the replay at once."""
        answer = self._call(
            "receive messages",
            lambda: self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=min(limit, SQS_BATCH_LIMIT),
                WaitTimeSeconds=0,
                VisibilityTimeout=visibility_timeout,
                MessageAttributeNames=["All"],  # the notifier's dead letters say why, in a `reason` attribute
            ),
        )
        return [_letter_from_sqs(message) for message in answer.get("Messages", [])]

    def delete(self, letters: Sequence[Letter]) -> dict[str, str]:
        """Delete these messages; returns origin -> reason for each one SQS did not delete."""
        not_deleted: dict[str, str] = {}
        for batch in _batches(letters):
            entries = [{"Id": str(i), "ReceiptHandle": letter.receipt} for i, letter in enumerate(batch)]
            answer = self._call(
                "delete messages", lambda e=entries: self.client.delete_message_batch(QueueUrl=self.url, Entries=e)
            )
            for failure in answer.get("Failed", []):
                not_deleted[batch[int(failure["Id"])].origin] = str(failure.get("Message") or failure.get("Code"))
        return not_deleted

    def release(self, letters: Sequence[Letter]) -> None:
        """Make kept messages visible again now, so the next replay need not wait out the timeout. Best
        effort: a message this fails for reappears anyway when its visibility timeout expires."""
        for batch in _batches(letters):
            entries = [{"Id": str(i), "ReceiptHandle": m.receipt, "VisibilityTimeout": 0} for i, m in enumerate(batch)]
            self._call(
                "release messages",
                lambda e=entries: self.client.change_message_visibility_batch(QueueUrl=self.url, Entries=e),
            )

    def _call(self, what: str, call: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reason = f"{error.get('Code')}: {error.get('Message')}"
            raise NotifierError(f"{self.reference}: cannot {what}: {reason}") from None
        except BotoCoreError as exc:
            raise NotifierError(f"{self.reference}: cannot {what}: {exc}") from None


def _letter_from_sqs(message: dict[str, Any]) -> Letter:
    message_id, receipt, body = message["MessageId"], message["ReceiptHandle"], message.get("Body", "")
    origin = f"sqs:{message_id}"
    reason = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None  # the envelope decoder below reports it, located
    if is_dead_letter_record(parsed):
        [inbound] = messages_of(parsed, "$.body")
        return Letter(origin, inbound._replace(record_id=message_id), receipt, reason or _recorded_error(parsed))
    # Presented as a one-record Lambda SQS event, so the handler's own decoding applies (an SNS JSON body
    # from a non-raw subscription, an EventBridge event, or a raw Config message); located from the message.
    record = {"messageId": message_id, "receiptHandle": receipt, "body": body, "eventSource": "aws:sqs"}
    [inbound] = decode({"Records": [record]})
    located = inbound._replace(location="$" + inbound.location.removeprefix("$.Records[0]"))
    return Letter(origin, located, receipt, reason if isinstance(reason, str) else None)


def _batches(letters: Sequence[Letter]) -> Iterator[Sequence[Letter]]:
    for start in range(0, len(letters), SQS_BATCH_LIMIT):
        yield letters[start : start + SQS_BATCH_LIMIT]


def _sqs_client(address: QueueAddress) -> Any:
    import boto3

    return boto3.client("sqs", region_name=address.region, endpoint_url=address.endpoint)
