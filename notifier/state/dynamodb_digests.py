"""DynamoDbState's digest buffer (see digest_buffer.py), in the state table:

    pk              sk                item
    DIG#<group>     CURRENT           the group's open bucket and its window_end
    DIGHEAD         <bucket>          a bucket's head: group, opened_at, window_end, status, claimed_at
    DIG#<bucket>    ITEM#<item_key>   one held notification (JSON), appended_at

Every head sits in the one partition DIGHEAD, so "which digests are due?" is one Query (a filter on
window_end) at the end of every invocation; it holds one item per open window, few, and is written
once per window, so the fixed partition is never hot. A GSI would cost a write on every item instead.

Writes: an append is one conditional put (`attribute_not_exists`: a redelivery adds nothing), or a
part of observe_and_hold's transaction (dynamodb_holding.py); the first append of a window adds one
transaction (CURRENT + head, so a bucket never exists without its head), made by one thread of the
process at a time. The open bucket is cached per process until its window ends, so later appends read
nothing. A flushed bucket's items are deleted by BatchWriteItem, 25 per request.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..errors import NotifierError
from .digest_buffer import FLUSHING, OPEN, DigestBatch, bucket_name, due_cutoff, item_text
from .dynamodb_table import text, translated
from .shared import lease_cutoff, utc_text

_HEADS = "DIGHEAD"
_MAX_OPEN_ATTEMPTS = 20  # each lost race means another invocation opened the window: re-read and join it
_BATCH_WRITE_LIMIT = 25  # DynamoDB's most requests in one BatchWriteItem
# What BatchWriteItem leaves unprocessed (throttling) is sent again after a jittered, doubling pause:
# 10 attempts wait up to ~13 s in all, far inside Lambda's time, long enough to ride out a throttle.
_MAX_BATCH_ATTEMPTS = 10
_FIRST_BATCH_PAUSE = 0.025


class _DynamoHost(Protocol):
    table_name: str
    _open_digests: dict[str, tuple[str, str]]
    _opening_lock: threading.Lock

    @property
    def client(self) -> Any: ...
    def _call(self, operation: str, **request: Any) -> dict[str, Any]: ...
    def _pages(self, operation: str, **request: Any) -> Iterator[dict[str, Any]]: ...
    def _refuse_if_read_only(self, operation: str) -> None: ...


class ConditionLost(Exception):
    """A conditional write or transaction lost (raised by `_write`)."""


class DynamoDbDigests:
    def append_digest(
        self: _DynamoHost, group: str, item_key: str, item: Mapping[str, Any], *, now: datetime, window: timedelta
    ) -> bool:
        self._refuse_if_read_only("hold a notification for a digest")
        stored = item_text(item)  # before opening a window: an item that cannot be stored opens none
        bucket = open_bucket(self, group, now, window)
        try:
            _write(self, "put_item", **digest_item_put(bucket, item_key, stored, now))
        except ConditionLost:
            return False
        return True

    def due_digests(self: _DynamoHost, now: datetime) -> list[DigestBatch]:
        items = self._pages(
            "query",
            KeyConditionExpression="pk = :heads",
            FilterExpression="window_end <= :cutoff",
            ExpressionAttributeValues={":heads": text(_HEADS), ":cutoff": text(due_cutoff(now))},
        )
        heads = [DigestBatch(i["sk"]["S"], i["grp"]["S"], i["opened_at"]["S"], i["window_end"]["S"]) for i in items]
        return sorted(heads, key=lambda head: (head.window_end, head.bucket))

    def digest_items(self: _DynamoHost, bucket: str) -> list[dict[str, Any]]:
        items = self._pages(
            "query",
            KeyConditionExpression="pk = :pk AND begins_with(sk, :item)",
            ExpressionAttributeValues={":pk": text(f"DIG#{bucket}"), ":item": text("ITEM#")},
        )
        ordered = sorted(items, key=lambda i: (i["appended_at"]["S"], i["sk"]["S"]))
        return [json.loads(i["item"]["S"]) for i in ordered]

    def claim_digest(self: _DynamoHost, bucket: str, *, now: datetime) -> bool:
        self._refuse_if_read_only("claim a digest")
        try:
            _write(
                self,
                "update_item",
                Key=_head_key(bucket),
                UpdateExpression="SET #status = :flushing, claimed_at = :now",
                ConditionExpression="attribute_exists(pk) AND (#status = :open OR claimed_at < :cutoff)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":flushing": text(FLUSHING), ":open": text(OPEN),
                    ":now": text(utc_text(now)), ":cutoff": text(lease_cutoff(now)),
                },
            )  # fmt: skip
        except ConditionLost:
            return False  # another flusher has it, or it is gone (flushed already)
        return True

    def complete_digest(self: _DynamoHost, bucket: str) -> None:
        self._refuse_if_read_only("complete a digest")
        keys = self._pages(
            "query",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": text(f"DIG#{bucket}")},
            ProjectionExpression="pk, sk",
        )
        # Items first: a crash half-way leaves the head, so the next flush finishes the job.
        _delete_in_batches(self, [{"pk": key["pk"], "sk": key["sk"]} for key in keys])
        group = bucket.rsplit("@", 1)[0]
        with suppress(ConditionLost):  # only if it still points here: a newer window may have replaced it
            _write(
                self,
                "delete_item",
                Key={"pk": text(f"DIG#{group}"), "sk": text("CURRENT")},
                ConditionExpression="#bucket = :bucket",
                ExpressionAttributeNames={"#bucket": "bucket"},
                ExpressionAttributeValues={":bucket": text(bucket)},
            )
        self._call("delete_item", Key=_head_key(bucket))
        self._open_digests.pop(group, None)

    def release_digest(self: _DynamoHost, bucket: str) -> None:
        self._refuse_if_read_only("release a digest")
        try:
            _write(
                self,
                "update_item",
                Key=_head_key(bucket),
                UpdateExpression="SET #status = :open REMOVE claimed_at",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":open": text(OPEN)},
            )
        except ConditionLost:
            return


def digest_item_put(bucket: str, item_key: str, stored: str, now: datetime) -> dict[str, Any]:
    """PutItem parameters (no TableName) holding one item (`stored`: its `item_text`); a redelivery
    (the bucket holds the key already) loses the condition."""
    return {
        "Item": {"pk": text(f"DIG#{bucket}"), "sk": text(f"ITEM#{item_key}"),
                 "item": text(stored), "appended_at": text(utc_text(now))},
        "ConditionExpression": "attribute_not_exists(pk)",
    }  # fmt: skip


def open_bucket(store: _DynamoHost, group: str, now: datetime, window: timedelta) -> str:
    """The group's bucket whose window is open now: the cached one, the stored one, or a new one."""
    at = utc_text(now)
    cached = store._open_digests.get(group)
    if cached is not None and cached[1] > at:
        return cached[0]
    # One thread of this process opens (or joins) a window at a time: a batch's threads arriving
    # together would otherwise each read "none open" and all but one lose a transaction.
    with store._opening_lock:
        cached = store._open_digests.get(group)
        if cached is not None and cached[1] > at:
            return cached[0]
        return _open_or_join(store, group, now, window)


def _open_or_join(store: _DynamoHost, group: str, now: datetime, window: timedelta) -> str:
    at = utc_text(now)
    current_key = {"pk": text(f"DIG#{group}"), "sk": text("CURRENT")}
    for _ in range(_MAX_OPEN_ATTEMPTS):
        current = store._call("get_item", Key=current_key, ConsistentRead=True).get("Item")
        if current is not None and current["window_end"]["S"] > at:
            joined: str = current["bucket"]["S"]
            store._open_digests[group] = (joined, current["window_end"]["S"])
            return joined
        bucket, window_end = bucket_name(group, now), utc_text(now + window)
        # Replace CURRENT only if it is still what we read (absent, or the same closed window).
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        if current is not None:
            condition = {
                "ConditionExpression": "window_end = :seen",
                "ExpressionAttributeValues": {":seen": current["window_end"]},
            }
        head = {"pk": text(_HEADS), "sk": text(bucket), "grp": text(group), "opened_at": text(at),
                "window_end": text(window_end), "status": text(OPEN)}  # fmt: skip
        pointer = {**current_key, "bucket": text(bucket), "window_end": text(window_end)}
        try:
            _write(store, "transact_write_items", TransactItems=[
                {"Put": {"TableName": store.table_name, "Item": pointer, **condition}},
                {"Put": {"TableName": store.table_name, "Item": head}},
            ])  # fmt: skip
        except ConditionLost:
            continue  # another invocation opened the window first: read it and join it
        store._open_digests[group] = (bucket, window_end)
        return bucket
    raise translated_race(store.table_name)


def _delete_in_batches(store: _DynamoHost, keys: list[dict[str, Any]]) -> None:
    """Delete every key, 25 per BatchWriteItem, sending again what DynamoDB leaves unprocessed."""
    for start in range(0, len(keys), _BATCH_WRITE_LIMIT):
        pending = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + _BATCH_WRITE_LIMIT]]
        for attempt in range(_MAX_BATCH_ATTEMPTS):
            if attempt:  # full jitter: flushers throttled together do not come back together
                time.sleep(random.uniform(0, _FIRST_BATCH_PAUSE * 2**attempt))
            answer = _write(store, "batch_write_item", RequestItems={store.table_name: pending})
            pending = answer.get("UnprocessedItems", {}).get(store.table_name, [])
            if not pending:
                break
        else:
            raise NotifierError(
                f"DynamoDB table {store.table_name!r}: {len(pending)} digest item(s) still unprocessed after "
                f"{_MAX_BATCH_ATTEMPTS} BatchWriteItem attempts (throttled); retryable"
            )


def _write(store: _DynamoHost, operation: str, **request: Any) -> dict[str, Any]:
    """A write; a lost condition (or a cancelled transaction) raises ConditionLost."""
    from botocore.exceptions import BotoCoreError, ClientError

    if operation not in ("transact_write_items", "batch_write_item"):  # those name the table per item
        request["TableName"] = store.table_name
    try:
        answer: dict[str, Any] = getattr(store.client, operation)(**request)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
            raise ConditionLost from None
        raise translated(error, operation, store.table_name) from error
    except BotoCoreError as error:
        raise translated(error, operation, store.table_name) from error
    return answer


def _head_key(bucket: str) -> dict[str, Any]:
    return {"pk": text(_HEADS), "sk": text(bucket)}


def translated_race(table: str) -> Exception:
    return NotifierError(f"DynamoDB table {table!r}: too many invocations raced to open one digest window; retryable")
