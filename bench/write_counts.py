"""How the storm bench (bench/storm.py) counts state-store writes, three ways:

  * CountingState: calls of a writing StateStore method, by a proxy around the store (what the
    pipeline asks for);
  * SqliteWrites: committed transactions on the SqliteState's connection (its trace callback sees each
    COMMIT) and the rows they changed (`total_changes`);
  * DynamoDbWrites: every write request the botocore client sends and the items those that succeeded
    wrote (`before-parameter-build` and `after-call` hooks).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from notifier.state import SqliteState, StateStore

# The StateStore methods that write. A call is counted even when it ends up writing nothing (an observe
# judged stale): in a storm of fresh first evaluations every one of them writes.
STORE_WRITE_METHODS = frozenset({
    "observe", "observe_and_hold", "append_history", "claim_delivery", "complete_delivery", "release_delivery",
    "set_ticket", "record_event", "append_digest", "claim_digest", "complete_digest", "release_digest",
})  # fmt: skip
DYNAMODB_WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
SQLITE_COMMIT = "COMMIT"  # the statements SqliteState ends every write transaction with
SQLITE_ROLLBACK = "ROLLBACK"


class CountingState:
    """A StateStore that counts the calls of its writing methods (thread-safe: a batch's threads share
    it) and hands every call to the real store. Reads pass straight through, uncounted."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name not in STORE_WRITE_METHODS:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


class Writes:
    """What reached the backend: write requests by kind, and the items (rows) they wrote. Thread-safe."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.items = 0
        self.transactional_items = 0  # DynamoDB bills these twice
        self._lock = threading.Lock()

    def count(self, request: str, items: int, *, transactional: bool = False) -> None:
        with self._lock:
            self.requests[request] += 1
            self.items += items
            self.transactional_items += items if transactional else 0

    def snapshot(self) -> tuple[Counter[str], int, int]:
        with self._lock:
            return Counter(self.requests), self.items, self.transactional_items


class DynamoDbWrites(Writes):
    """botocore hooks on the DynamoDB client: `before-parameter-build` sees every write request and the
    items it carries (once per API call: botocore's own retries of a call are not counted), `after-call`
    whether DynamoDB wrote them. A lost condition or a cancelled transaction is a request (and billed)
    that writes no item; a BatchWriteItem writes all but its UnprocessedItems."""

    def watch(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.dynamodb", self._sending)
        client.meta.events.register("after-call.dynamodb", self._answered)

    def _sending(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name == "TransactWriteItems":
            context["storm_items"] = len(params["TransactItems"])
        elif model.name == "BatchWriteItem":
            context["storm_items"] = sum(len(requests) for requests in params["RequestItems"].values())
        elif model.name in DYNAMODB_WRITE_OPERATIONS:
            context["storm_items"] = 1

    def _answered(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any],
                  **_: Any) -> None:  # fmt: skip
        sent = context.pop("storm_items", None)
        if sent is None:
            return
        unprocessed = sum(len(requests) for requests in parsed.get("UnprocessedItems", {}).values())
        written = sent - unprocessed if http_response.status_code < 300 else 0
        self.count(model.name, written, transactional=model.name == "TransactWriteItems")


class SqliteWrites(Writes):
    """Write transactions on the SqliteState's connection: each COMMIT its trace callback sees, with the
    rows changed since the last one (`total_changes`; the store's lock makes each transaction whole)."""

    def __init__(self, store: SqliteState) -> None:
        super().__init__()
        self._connection = store.connection
        self._changes_seen = self._connection.total_changes
        self._connection.set_trace_callback(self)

    def __call__(self, statement: str) -> None:
        if statement == SQLITE_COMMIT:
            changes = self._connection.total_changes
            self.count("transaction", changes - self._changes_seen)
            self._changes_seen = changes
        elif statement == SQLITE_ROLLBACK:  # its rows were never written
            self._changes_seen = self._connection.total_changes

    def stop(self) -> None:
        self._connection.set_trace_callback(None)
