"""The DynamoDB table behind `DynamoDbState`: its layout, its creation, and what its errors mean.

One table, string keys `pk` (partition) and `sk` (sort), TTL on `expires_at` (history and events):

    pk                     sk                                          item
    RES#<ResourceKey.id>   STATE                                       resource record, `tickets` a map
    RES#<ResourceKey.id>   HIST#<ordering_key>#<recorded_at>#<uuid4>   history entry, expires_at = now + TTL
    DLV#<change_key>       <destination>                               delivery claim: claimed | done
    EVT#<bucket>           <utc_text(at)>#<uuid4>                      counted event, expires_at = at + EVENT_RETENTION

A resource's record and its history share a partition, so one Query returns its history in order; a
bucket's events share one, so counting them is one Query on a range of `sk` (TTL deletes lazily, up to
days late, so the range, not the TTL, is what keeps old events out of a count).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..errors import NotifierError
from ..transition import Compliance
from .base import EVENT_RETENTION, HistoryEntry, Observation, ResourceKey, ResourceRecord
from .shared import ticket_from_plain, utc_text

TTL_ATTRIBUTE = "expires_at"
KEY_ATTRIBUTES = ("account", "region", "rule", "resource_type", "resource_id")
HISTORY_PREFIX = "HIST#"
_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


def record_key(key: ResourceKey) -> dict[str, Any]:
    return {"pk": text(resource_pk(key)), "sk": text("STATE")}


def claim_key(change_key: str, destination: str) -> dict[str, Any]:
    return {"pk": text(f"DLV#{change_key}"), "sk": text(destination)}


def resource_pk(key: ResourceKey) -> str:
    return f"RES#{key.id}"


def event_pk(bucket: str) -> str:
    return f"EVT#{bucket}"


def event_item(bucket: str, at: datetime) -> dict[str, Any]:
    # The uuid keeps two events of the same instant apart (two resources remediated in one microsecond).
    return {
        "pk": text(event_pk(bucket)),
        "sk": text(f"{utc_text(at)}#{uuid.uuid4()}"),
        TTL_ATTRIBUTE: {"N": str(int((at + EVENT_RETENTION).timestamp()))},
    }


def record_update(after: ResourceRecord, *, expected: ResourceRecord | None) -> dict[str, Any]:
    """UpdateItem parameters storing `after` only if the stored record is still `expected` (compare-and-
    swap on the ordering key). The tickets map is created empty if absent and otherwise left alone."""
    fields = {
        **key_attributes(after.key),
        "ordering_key": text(after.ordering_key),
        "compliance": text(after.compliance.value),
    }
    names = {f"#{name}": name for name in (*fields, "tickets", "first_noncompliant_at")}
    values: dict[str, Any] = {f":{name}": value for name, value in fields.items()} | {":no_tickets": {"M": {}}}
    assignments = [f"#{name} = :{name}" for name in fields] + ["#tickets = if_not_exists(#tickets, :no_tickets)"]
    remove = " REMOVE #first_noncompliant_at"
    if after.first_noncompliant_at is not None:
        assignments.append("#first_noncompliant_at = :first_noncompliant_at")
        values[":first_noncompliant_at"] = text(after.first_noncompliant_at)
        remove = ""
    condition = "attribute_not_exists(pk)"
    if expected is not None:
        condition = "#ordering_key = :seen"
        values[":seen"] = text(expected.ordering_key)
    return {
        "Key": record_key(after.key),
        "UpdateExpression": "SET " + ", ".join(assignments) + remove,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def record_from_item(key: ResourceKey, item: Mapping[str, Any]) -> ResourceRecord:
    tickets = {name: ticket_from_plain(plain(ticket)) for name, ticket in item.get("tickets", {"M": {}})["M"].items()}
    first = item["first_noncompliant_at"]["S"] if "first_noncompliant_at" in item else None
    return ResourceRecord(key, item["ordering_key"]["S"], Compliance(item["compliance"]["S"]), first, tickets)


def history_item(entry: HistoryEntry, *, expires: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": text(resource_pk(entry.key)),
        # The uuid keeps two entries with the same times apart (a redelivery judged twice in one instant).
        "sk": text(f"{HISTORY_PREFIX}{entry.ordering_key}#{entry.recorded_at}#{uuid.uuid4()}"),
        TTL_ATTRIBUTE: {"N": str(int(expires.timestamp()))},
        **key_attributes(entry.key),
        "ordering_key": text(entry.ordering_key),
        "old": text(entry.old.value),
        "new": text(entry.new.value),
        "kind": text(entry.kind),
        "observation": text(entry.observation.value),
        "recorded_at": text(entry.recorded_at),
        "actions": text_map(entry.actions),
    }
    if entry.message_id is not None:
        item["message_id"] = text(entry.message_id)
    return item


def history_entry_from_item(item: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        key=ResourceKey(*(item[name]["S"] for name in KEY_ATTRIBUTES)),
        ordering_key=item["ordering_key"]["S"],
        old=Compliance(item["old"]["S"]),
        new=Compliance(item["new"]["S"]),
        kind=item["kind"]["S"],
        observation=Observation(item["observation"]["S"]),
        message_id=item["message_id"]["S"] if "message_id" in item else None,
        recorded_at=item["recorded_at"]["S"],
        actions=plain(item["actions"]),
    )


def key_attributes(key: ResourceKey) -> dict[str, Any]:
    parts = (key.account, key.region, key.rule, key.resource_type, key.resource_id)
    return {name: text(part) for name, part in zip(KEY_ATTRIBUTES, parts, strict=True)}


def text(value: str) -> dict[str, str]:
    return {"S": value}


def text_map(values: Mapping[str, str]) -> dict[str, Any]:
    return {"M": {name: text(value) for name, value in values.items()}}


def plain(attribute: Mapping[str, Any]) -> dict[str, str]:
    return {name: value["S"] for name, value in attribute["M"].items()}


def create_table(client: Any, name: str) -> None:
    """Create the state table (on-demand billing, TTL on `expires_at`) and wait until it is usable. An
    existing table is kept, with TTL switched on if it was not: safe to call on every deploy or demo."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        try:
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceInUseException":  # it exists already
                raise
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
            )
    except (ClientError, BotoCoreError) as error:
        raise translated(error, "create_table", name) from error


def translated(error: Exception, operation: str, table: str) -> NotifierError:
    """A botocore error as one sentence that says what to do about it."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if not isinstance(error, ClientError):
        retry = "; retryable" if isinstance(error, ConnectionError | HTTPClientError) else ""
        return NotifierError(f"DynamoDB {operation} on table {table!r} did not reach AWS: {error}{retry}")
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    if code in _RETRYABLE_CODES:
        return NotifierError(
            f"DynamoDB throttled or failed {operation} on table {table!r} ({code}); this is retryable: try again"
        )
    if code == "ResourceNotFoundException":
        return NotifierError(
            f"DynamoDB table {table!r} does not exist in this account and region (deploy the stack, or create it "
            "with notifier.state.dynamodb.create_table)"
        )
    if code in ("AccessDeniedException", "UnrecognizedClientException"):
        return NotifierError(f"not allowed to {operation} on DynamoDB table {table!r} ({code}): {message}")
    return NotifierError(f"DynamoDB {operation} on table {table!r} failed ({code}): {message}")
