"""SqliteState's digest buffer (see digest_buffer.py): three tables, each step one BEGIN IMMEDIATE
transaction, so two processes appending or flushing at once serialise on the file's write lock. An
append made by `observe_and_hold` (`append_in`) runs inside the transaction that stores the record.

    digest_groups  group -> its current bucket
    digest_heads   one row per bucket: window, status (open | flushing), claimed_at
    digest_items   (bucket, item_key) -> item JSON; the primary key makes a redelivered append a no-op
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from .digest_buffer import FLUSHING, OPEN, DigestBatch, bucket_name, due_cutoff, head_claimable, item_text
from .shared import utc_text

DIGEST_SCHEMA = """
CREATE TABLE IF NOT EXISTS digest_groups (
    grp    TEXT PRIMARY KEY,
    bucket TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS digest_heads (
    bucket     TEXT PRIMARY KEY,
    grp        TEXT NOT NULL,
    opened_at  TEXT NOT NULL,
    window_end TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('open', 'flushing')),
    claimed_at TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS digest_heads_by_end ON digest_heads (window_end);
CREATE TABLE IF NOT EXISTS digest_items (
    bucket   TEXT NOT NULL,
    item_key TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    item     TEXT NOT NULL,
    PRIMARY KEY (bucket, item_key)
);
CREATE INDEX IF NOT EXISTS digest_items_in_order ON digest_items (bucket, seq);
"""


class _SqliteHost(Protocol):
    """What the mixin needs from SqliteState."""

    _db: sqlite3.Connection
    _lock: Any

    def _transaction(self, db: sqlite3.Connection) -> AbstractContextManager[sqlite3.Connection]: ...
    def _read(self, query: str, parameters: tuple[Any, ...]) -> sqlite3.Cursor: ...
    def _refuse_if_read_only(self, operation: str) -> None: ...


class SqliteDigests:
    def append_digest(
        self: _SqliteHost, group: str, item_key: str, item: Mapping[str, Any], *, now: datetime, window: timedelta
    ) -> bool:
        self._refuse_if_read_only("hold a notification for a digest")
        with self._lock, self._transaction(self._db) as db:
            return append_in(db, group, item_key, item, now, window)

    def due_digests(self: _SqliteHost, now: datetime) -> list[DigestBatch]:
        if not _has_digest_tables(self):
            return []
        query = (
            "SELECT bucket, grp, opened_at, window_end FROM digest_heads WHERE window_end <= ? "
            "ORDER BY window_end, bucket"
        )
        with self._lock:
            rows = self._read(query, (due_cutoff(now),)).fetchall()
        return [DigestBatch(*row) for row in rows]

    def digest_items(self: _SqliteHost, bucket: str) -> list[dict[str, Any]]:
        if not _has_digest_tables(self):
            return []
        with self._lock:
            rows = self._read("SELECT item FROM digest_items WHERE bucket = ? ORDER BY seq", (bucket,)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def claim_digest(self: _SqliteHost, bucket: str, *, now: datetime) -> bool:
        self._refuse_if_read_only("claim a digest")
        with self._lock, self._transaction(self._db) as db:
            row = db.execute("SELECT status, claimed_at FROM digest_heads WHERE bucket = ?", (bucket,)).fetchone()
            if row is None or not head_claimable(row[0], row[1], now):
                return False
            db.execute(
                "UPDATE digest_heads SET status = ?, claimed_at = ? WHERE bucket = ?", (FLUSHING, utc_text(now), bucket)
            )
            return True

    def complete_digest(self: _SqliteHost, bucket: str) -> None:
        self._refuse_if_read_only("complete a digest")
        with self._lock, self._transaction(self._db) as db:
            db.execute("DELETE FROM digest_items WHERE bucket = ?", (bucket,))
            db.execute("DELETE FROM digest_heads WHERE bucket = ?", (bucket,))
            db.execute("DELETE FROM digest_groups WHERE bucket = ?", (bucket,))

    def release_digest(self: _SqliteHost, bucket: str) -> None:
        self._refuse_if_read_only("release a digest")
        with self._lock, self._transaction(self._db) as db:
            db.execute("UPDATE digest_heads SET status = ?, claimed_at = NULL WHERE bucket = ?", (OPEN, bucket))


def append_in(
    db: sqlite3.Connection, group: str, item_key: str, item: Mapping[str, Any], now: datetime, window: timedelta
) -> bool:
    """append_digest inside the caller's transaction (observe_and_hold's, with the record): opens the
    group's window when none is open, then adds the item unless the bucket holds its key already."""
    row = db.execute(
        "SELECT h.bucket, h.window_end FROM digest_groups g JOIN digest_heads h ON h.bucket = g.bucket WHERE g.grp = ?",
        (group,),
    ).fetchone()
    if row is None or row[1] <= utc_text(now):
        bucket = bucket_name(group, now)
        db.execute(
            "INSERT OR IGNORE INTO digest_heads (bucket, grp, opened_at, window_end, status) VALUES (?, ?, ?, ?, ?)",
            (bucket, group, utc_text(now), utc_text(now + window), OPEN),
        )
        db.execute("INSERT OR REPLACE INTO digest_groups (grp, bucket) VALUES (?, ?)", (group, bucket))
    else:
        bucket = row[0]
    added = db.execute(  # the next seq from the index's last entry: counting the items would cost O(items)
        "INSERT OR IGNORE INTO digest_items (bucket, item_key, seq, item) "
        "VALUES (?, ?, (SELECT coalesce(max(seq) + 1, 0) FROM digest_items WHERE bucket = ?), ?)",
        (bucket, item_key, bucket, item_text(item)),
    )
    return added.rowcount == 1


def digest_statements() -> Iterator[str]:
    return (statement.strip() for statement in DIGEST_SCHEMA.split(";\n") if statement.strip())


def _has_digest_tables(store: _SqliteHost) -> bool:
    """A read-only open of a file from an older release has no digest tables: it holds no digests."""
    with store._lock:
        row = store._read("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'digest_heads'", ()).fetchone()
    return row is not None
