"""DynamoDbState.observe_and_hold: a notification's record, its held digest items and its history entry
in ONE TransactWriteItems request, so a crash never leaves one without the others.

    Update  RES#<id>        STATE             on condition the stored ordering key is still the one judged
    Put     DIG#<bucket>    ITEM#<item_key>   one per held item, on condition attribute_not_exists(pk)
    Put     RES#<id>        HIST#…            the history entry (only with every item: StateStore explains)

The items and keys are the ones `record_update`, `digest_item_put` and `history_item` write on their own:
the table's layout does not change. The buckets the items go to are opened first (`open_bucket`: one
transaction per group and window, cached per process), and only once the notification was judged
FRESH: a stale or repeated one writes nothing at all.

A cancelled transaction has written nothing, and its CancellationReasons say why, item by item:
  * the record's condition lost: another invocation stored a change first: read and judge again, as
    `observe` does, up to MAX_OBSERVE_ATTEMPTS times (a window this call opened stays open; if the
    notification is now STALE, it may stay empty);
  * an item's condition lost: its bucket holds it already (the same change re-evaluated with a later
    resultRecordedTime is FRESH, with the same content key): send again without it, reported not
    added, and without the history entry, whose actions would wrongly say `digested`;
  * TransactionConflict: another transaction was writing one of these items: judge again.

Cost: one write request per held notification instead of 2 + one per held destination; but DynamoDB
bills a transactional write 2 write units per item (of up to 1 KB), so the same items cost twice the
units they cost as separate writes. Fewer round trips and throttling decisions, not fewer units.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import NotifierError
from ..notification import ComplianceNotification
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
from .digest_buffer import item_text
from .dynamodb_digests import digest_item_put, open_bucket
from .dynamodb_table import history_item, record_update, translated
from .shared import not_fresh

if TYPE_CHECKING:
    from .dynamodb import DynamoDbState

# Each lost compare-and-swap means another invocation stored a newer change: bounds the writers racing
# on one resource at once, far above any real burst (the same bound `observe` has).
MAX_OBSERVE_ATTEMPTS = 50
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit for one TransactWriteItems
_LOST = "ConditionalCheckFailed"
_CONFLICT = "TransactionConflict"


def observe_and_hold(
    store: DynamoDbState,
    notification: ComplianceNotification,
    *,
    now: datetime,
    held: Sequence[HeldItem],
    history: HistoryEntry | None,
) -> Observed:
    if not held and history is None:  # nothing goes with the record: one plain conditional UpdateItem
        verdict, before = store.observe(notification)
        return Observed(verdict, before, (), False)
    if len(held) + 2 > MAX_TRANSACTION_ITEMS:
        return _too_many_for_one_transaction(store, notification, now, held)
    key = ResourceKey.of(notification)
    candidate = ordering_key(notification)
    for _ in range(MAX_OBSERVE_ATTEMPTS):
        before = store.get(key)
        verdict = judge(before, candidate)
        if verdict is not Observation.FRESH:
            return not_fresh(verdict, before, held)
        after = updated_record(before, notification, candidate)
        written = _write_fresh(store, after, before, held, history, now)
        if written is not None:
            added, history_written = written
            return Observed(verdict, before, added, history_written)
    raise NotifierError(
        f"DynamoDB table {store.table_name!r}: more than {MAX_OBSERVE_ATTEMPTS} writers raced on "
        f"{key.resource_type} {key.resource_id!r}; retryable"
    )


def _write_fresh(
    store: DynamoDbState,
    after: ResourceRecord,
    before: ResourceRecord | None,
    held: Sequence[HeldItem],
    history: HistoryEntry | None,
    now: datetime,
) -> tuple[tuple[bool, ...], bool] | None:
    """Store `after` with the items and the history; (added per item, history written), or None when
    the record changed since it was read (judge again)."""
    table = store.table_name
    record: dict[str, Any] = {"Update": {"TableName": table, **record_update(after, expected=before)}}
    stored = [item_text(h.item) for h in held]  # before opening any window: what cannot be stored opens none
    items: list[dict[str, Any]] = []
    for h, stored_item in zip(held, stored, strict=True):
        bucket = open_bucket(store, h.group, now, h.window)
        items.append({"Put": {"TableName": table, **digest_item_put(bucket, h.item_key, stored_item, now)}})
    entries: list[dict[str, Any]] = []
    if history is not None:
        entries.append({"Put": {"TableName": table, "Item": history_item(history, expires=utc_now() + HISTORY_TTL)}})
    pending = list(range(len(held)))  # the items not yet found held already
    while True:  # ends: every round returns or drops at least one item
        with_history = bool(entries) and len(pending) == len(held)
        reasons = _transact(store, [record, *(items[i] for i in pending), *(entries if with_history else [])])
        if reasons is None:
            return tuple(i in pending for i in range(len(held))), with_history
        if reasons[0] in (_LOST, _CONFLICT):
            return None
        held_already = {pending[n] for n, code in enumerate(reasons[1 : 1 + len(pending)]) if code == _LOST}
        if not held_already:
            if _CONFLICT in reasons:
                return None
            raise NotifierError(
                f"DynamoDB table {table!r}: a notification's write was cancelled ({reasons}); retryable"
            )
        pending = [i for i in pending if i not in held_already]


def _transact(store: DynamoDbState, request: list[dict[str, Any]]) -> list[str] | None:
    """None when the transaction was written; else the cancellation reason codes, one per item ("None"
    for an item that was not the cause)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        # A fresh token per attempt: botocore retrying this very request after a lost response is then
        # answered "done" instead of cancelled by our own write's changed ordering key.
        store.client.transact_write_items(TransactItems=request, ClientRequestToken=str(uuid.uuid4()))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
            reasons = [str(reason.get("Code", "None")) for reason in error.response.get("CancellationReasons", [])]
            if len(reasons) == len(request):
                return reasons
        raise translated(error, "transact_write_items", store.table_name) from error
    except BotoCoreError as error:
        raise translated(error, "transact_write_items", store.table_name) from error
    return None


def _too_many_for_one_transaction(
    store: DynamoDbState, notification: ComplianceNotification, now: datetime, held: Sequence[HeldItem]
) -> Observed:
    """More held items than one transaction takes (a route with 99 digest destinations): the record,
    then each item on its own, as before observe_and_hold existed. Not atomic; the history is left to
    the caller."""
    verdict, before = store.observe(notification)
    if verdict is not Observation.FRESH:
        return not_fresh(verdict, before, held)
    added = tuple(store.append_digest(h.group, h.item_key, h.item, now=now, window=h.window) for h in held)
    return Observed(verdict, before, added, False)
