"""DynamoDB state: for Lambda, where concurrent invocations race on the same resource. The table's
layout is in `dynamodb_table` (one table: records, history and claims under `pk`/`sk`).

No locks: every guard is a conditional write, and a lost condition is judged again, never ignored.
  * observe reads the record, judges it with `judge`, and writes `updated_record` on condition that the
    stored ordering key is still the one it judged against (compare-and-swap). A racer that wrote first
    makes the condition fail; the loser reads again and judges again: REPEAT or STALE, or FRESH against
    the racer's record if its own change is newer still. So the "before" record returned is exactly the
    one replaced, and first_noncompliant_at comes from it through the same pure function as elsewhere.
  * observe never writes `tickets` (beyond creating the empty map) and set_ticket writes one entry of
    it (`SET tickets.#d = :t`), so neither clobbers the other.
  * a claim is a conditional put: no item yet, or a claim abandoned for longer than CLAIM_LEASE.
  * observe_and_hold is observe's compare-and-swap as one transaction with the held digest items and
    the history entry (dynamodb_holding.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from ..concurrency import CONNECTIONS_PER_POOL
from ..errors import NotifierError
from ..notification import ComplianceNotification
from ..tickets.model import TicketRef
from .base import (
    HISTORY_TTL,
    HeldItem,
    HistoryEntry,
    Observation,
    Observed,
    ResourceKey,
    ResourceRecord,
    judge,
    ordering_key,
    updated_record,
    utc_now,
)
from .dynamodb_digests import DynamoDbDigests
from .dynamodb_holding import MAX_OBSERVE_ATTEMPTS
from .dynamodb_holding import observe_and_hold as _observe_and_hold
from .dynamodb_table import (
    HISTORY_PREFIX,
    claim_key,
    create_table,
    event_item,
    event_pk,
    history_entry_from_item,
    history_item,
    record_from_item,
    record_key,
    record_update,
    resource_pk,
    text,
    text_map,
    translated,
)
from .shared import (
    ClaimStatus,
    history_order,
    lease_cutoff,
    missing_record,
    read_only_refusal,
    ticket_to_plain,
    utc_text,
)

__all__ = ["DynamoDbState", "create_table"]

_CLAIMED = text(ClaimStatus.CLAIMED.value)


class _ConditionFailed(Exception):
    """A conditional write lost: the caller decides what that means (`_call` never swallows it)."""


class DynamoDbState(DynamoDbDigests):  # the digest buffer: dynamodb_digests.py
    def __init__(
        self, table_name: str, *, client: Any = None, read_only: bool = False, page_size: int | None = None
    ) -> None:
        self.table_name = table_name
        self.read_only = read_only
        self._client = client
        self._owns_client = client is None
        self._client_lock = threading.Lock()
        self._open_digests: dict[str, tuple[str, str]] = {}  # group -> (bucket, window_end): skips re-reads
        self._opening_lock = threading.Lock()  # see dynamodb_digests.open_bucket
        self._page_size = page_size  # None: DynamoDB's own 1 MB pages; small values to test pagination

    @property
    def client(self) -> Any:
        """boto3's DynamoDB client, created on first use (cold starts that never touch state skip it)."""
        if self._client is not None:
            return self._client
        with self._client_lock:  # boto3's default session is not thread-safe while it builds a client
            if self._client is None:
                import boto3
                from botocore.config import Config

                # botocore keeps 10 connections; a batch's threads share this client (notifier.concurrency).
                config = Config(retries={"mode": "standard"}, max_pool_connections=CONNECTIONS_PER_POOL)
                self._client = boto3.client("dynamodb", config=config)
            return self._client

    # -- resource records ------------------------------------------------------------------------------

    def observe(self, notification: ComplianceNotification) -> tuple[Observation, ResourceRecord | None]:
        self._refuse_if_read_only("observe a notification")
        key = ResourceKey.of(notification)
        candidate = ordering_key(notification)
        for _ in range(MAX_OBSERVE_ATTEMPTS):
            before = self.get(key)
            verdict = judge(before, candidate)
            if verdict is not Observation.FRESH:
                return verdict, before
            after = updated_record(before, notification, candidate)
            try:
                self._call("update_item", **record_update(after, expected=before))
            except _ConditionFailed:
                continue  # another invocation stored its change first: judge again against theirs
            return verdict, before
        raise NotifierError(
            f"DynamoDB table {self.table_name!r}: more than {MAX_OBSERVE_ATTEMPTS} writers raced on "
            f"{key.resource_type} {key.resource_id!r}; retryable"
        )

    def observe_and_hold(
        self,
        notification: ComplianceNotification,
        *,
        now: datetime,
        held: Sequence[HeldItem] = (),
        history: HistoryEntry | None = None,
    ) -> Observed:
        """One TransactWriteItems: dynamodb_holding.py."""
        self._refuse_if_read_only("observe a notification")
        return _observe_and_hold(self, notification, now=now, held=held, history=history)

    def get(self, key: ResourceKey) -> ResourceRecord | None:
        item = self._call("get_item", Key=record_key(key), ConsistentRead=True).get("Item")
        return record_from_item(key, item) if item else None

    def set_ticket(self, key: ResourceKey, destination: str, ticket: TicketRef) -> None:
        self._refuse_if_read_only("set a ticket")
        entry = text_map(ticket_to_plain(ticket))
        one_entry = {
            "Key": record_key(key),
            "UpdateExpression": "SET #tickets.#destination = :ticket",
            "ConditionExpression": "attribute_exists(#tickets)",  # else DynamoDB rejects the nested path
            "ExpressionAttributeNames": {"#tickets": "tickets", "#destination": destination},
            "ExpressionAttributeValues": {":ticket": entry},
        }
        new_map = {
            "Key": record_key(key),
            "UpdateExpression": "SET #tickets = :tickets",
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#tickets)",
            "ExpressionAttributeNames": {"#tickets": "tickets"},
            "ExpressionAttributeValues": {":tickets": {"M": {destination: entry}}},
        }
        # The map, then no map (create it with this entry), then the map again: a concurrent set_ticket
        # may have created it in between. Failing all three means there is no record at all.
        for request in (one_entry, new_map, one_entry):
            try:
                self._call("update_item", **request)
                return
            except _ConditionFailed:
                continue
        raise missing_record(key)

    # -- delivery claims -------------------------------------------------------------------------------

    def claim_delivery(self, change_key: str, destination: str, *, now: datetime) -> bool:
        self._refuse_if_read_only("claim a delivery")
        try:
            self._call(
                "put_item",
                Item={**claim_key(change_key, destination), "status": _CLAIMED, "claimed_at": text(utc_text(now))},
                # `shared.claim_available` as a condition: nobody yet, or a claim abandoned past its lease
                ConditionExpression="attribute_not_exists(pk) OR (#status = :claimed AND #claimed_at < :cutoff)",
                ExpressionAttributeNames={"#status": "status", "#claimed_at": "claimed_at"},
                ExpressionAttributeValues={":claimed": _CLAIMED, ":cutoff": text(lease_cutoff(now))},
            )
        except _ConditionFailed:
            return False  # someone is sending it, or has sent it
        return True

    def complete_delivery(self, change_key: str, destination: str, *, now: datetime) -> None:
        self._refuse_if_read_only("complete a delivery")
        self._call(
            "update_item",
            Key=claim_key(change_key, destination),
            UpdateExpression="SET #status = :done, #completed = :now, #claimed = if_not_exists(#claimed, :now)",
            ExpressionAttributeNames={"#status": "status", "#completed": "completed_at", "#claimed": "claimed_at"},
            ExpressionAttributeValues={":done": text(ClaimStatus.DONE.value), ":now": text(utc_text(now))},
        )

    def release_delivery(self, change_key: str, destination: str) -> None:
        self._refuse_if_read_only("release a delivery")
        try:
            self._call(
                "delete_item",
                Key=claim_key(change_key, destination),
                ConditionExpression="#status = :claimed",  # a done delivery stays done
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":claimed": _CLAIMED},
            )
        except _ConditionFailed:
            return  # done, or never claimed: nothing to release either way

    def was_delivered(self, change_key: str, destination: str) -> bool:
        item = self._call("get_item", Key=claim_key(change_key, destination), ConsistentRead=True).get("Item")
        return item is not None and item["status"]["S"] == ClaimStatus.DONE.value

    # -- history ---------------------------------------------------------------------------------------

    def append_history(self, entry: HistoryEntry) -> None:
        self._refuse_if_read_only("append history")
        self._call("put_item", Item=history_item(entry, expires=utc_now() + HISTORY_TTL))

    def history(self, key: ResourceKey | None = None) -> list[HistoryEntry]:
        """Oldest first. One resource's: a Query on its partition. Every resource's (key=None): a Scan of
        the whole table, meant for audits and exports, never for the per-notification path."""
        prefix = {":hist": text(HISTORY_PREFIX)}
        if key is not None:
            items = self._pages(
                "query",
                KeyConditionExpression="pk = :pk AND begins_with(sk, :hist)",
                ExpressionAttributeValues={":pk": text(resource_pk(key)), **prefix},
            )
        else:
            items = self._pages("scan", FilterExpression="begins_with(sk, :hist)", ExpressionAttributeValues=prefix)
        return sorted((history_entry_from_item(item) for item in items), key=history_order)

    # -- counted events --------------------------------------------------------------------------------

    def record_event(self, bucket: str, *, at: datetime) -> None:
        self._refuse_if_read_only("record an event")
        self._call("put_item", Item=event_item(bucket, at))

    def count_events(self, bucket: str, *, since: datetime) -> int:
        """Select=COUNT on the bucket's partition from `since` on: DynamoDB counts, no item comes back."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk >= :since",
            "ExpressionAttributeValues": {":pk": text(event_pk(bucket)), ":since": text(utc_text(since))},
            "Select": "COUNT",
        }
        if self._page_size is not None:
            request["Limit"] = self._page_size
        total = 0
        while True:  # a count stops at 1 MB of matched items per page, like any Query
            page = self._call("query", ConsistentRead=True, **request)
            total += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return total
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()

    # -- plumbing --------------------------------------------------------------------------------------

    def _pages(self, operation: str, **request: Any) -> Iterator[dict[str, Any]]:
        """Every item of a Query or Scan, following LastEvaluatedKey."""
        if self._page_size is not None:
            request["Limit"] = self._page_size
        while True:
            page = self._call(operation, ConsistentRead=True, **request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        """One DynamoDB call: a lost condition raises _ConditionFailed, any other failure a NotifierError."""
        from botocore.exceptions import BotoCoreError, ClientError  # loaded with the client already

        try:
            response: dict[str, Any] = getattr(self.client, operation)(TableName=self.table_name, **request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise _ConditionFailed from None
            raise translated(error, operation, self.table_name) from error
        except BotoCoreError as error:
            raise translated(error, operation, self.table_name) from error
        return response

    def _refuse_if_read_only(self, operation: str) -> None:
        if self.read_only:
            raise read_only_refusal(f"dynamodb://{self.table_name}", operation)
