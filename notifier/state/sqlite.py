"""SQLite state: the local default, one file that several processes on one machine may share.

Every read-judge-write runs in a `BEGIN IMMEDIATE` transaction, which takes the file's write lock
before reading: a second writer waits (busy timeout) and then judges against the first one's result,
so two processes can never both see a change as FRESH or both win a claim. WAL lets readers
(`explain`) proceed while a writer holds the lock. Each writing method is exactly one transaction
(one commit); `observe_and_hold` puts the record, its held digest items and its history entry in one.

The tables (resources, delivery_claims, history, events) are in sqlite_schema.py, the digest buffer's
in sqlite_digests.py.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import NotifierError
from ..notification import ComplianceNotification
from ..tickets.model import TicketRef
from .base import (
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
from .shared import (
    ClaimStatus,
    claim_available,
    expired_events_before,
    history_goes_with,
    missing_record,
    not_fresh,
    read_only_refusal,
    tickets_from_plain,
    tickets_to_plain,
    utc_text,
)
from .sqlite_digests import SqliteDigests, append_in, digest_statements
from .sqlite_schema import (
    MIGRATE_FIRST_RELEASE,
    RECORD_QUERY,
    SCHEMA,
    history_entry_from,
    history_query,
    insert_history,
    record_from,
    statements,
    table_exists,
    write_record,
)

_BUSY_TIMEOUT = 30.0  # another process holding the write lock finishes long before this

_SETUP_LOCK = threading.Lock()  # see SqliteState._connect


class SqliteState(SqliteDigests):  # the digest buffer's tables and methods: sqlite_digests.py
    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._lock = threading.Lock()  # one connection, shared by threads: one statement or transaction at a time
        try:
            self._db = self._connect()
            # A read-only open of a file from an older release (or an empty one) reads as an empty store.
            self._has_schema = table_exists(self._db, "resources")
            self._has_events = table_exists(self._db, "events")  # absent in files of older releases
        except sqlite3.Error as error:  # also "file is not a database", found only at the first query
            raise NotifierError(f"cannot open the state file {path}: {error}") from error

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's one connection, for diagnostics: the storm bench counts its write transactions
        (`set_trace_callback`) and the rows they changed (`total_changes`). Run no statement on it."""
        return self._db

    def _connect(self) -> sqlite3.Connection:
        # `explain --state` must never write, not even by creating the file: mode=ro refuses both.
        target = f"{self.path.resolve().as_uri()}?mode=ro" if self.read_only else str(self.path)
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions, so BEGIN IMMEDIATE below means what it says.
        db = sqlite3.connect(
            target, uri=self.read_only, timeout=_BUSY_TIMEOUT, check_same_thread=False, isolation_level=None
        )
        if self.read_only:
            return db
        try:
            # Switching to WAL needs the file to itself and does not wait for the busy timeout, so threads
            # opening the same file at once would see "database is locked": set up one at a time, and
            # switch only when the file is not already in WAL (the mode is stored in the file).
            with _SETUP_LOCK:
                if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    db.execute("PRAGMA journal_mode=WAL")
                self._create_schema(db)
        except BaseException:
            db.close()
            raise
        return db

    def _create_schema(self, db: sqlite3.Connection) -> None:
        with self._transaction(db):  # not executescript: it would commit the transaction halfway
            for statement in [*statements(SCHEMA), *digest_statements()]:
                db.execute(statement)
            if table_exists(db, "deliveries"):
                for statement in statements(MIGRATE_FIRST_RELEASE):
                    db.execute(statement)

    def observe(self, notification: ComplianceNotification) -> tuple[Observation, ResourceRecord | None]:
        observed = self.observe_and_hold(notification, now=utc_now())  # nothing held: `now` opens no window
        return observed.verdict, observed.before

    def observe_and_hold(
        self,
        notification: ComplianceNotification,
        *,
        now: datetime,
        held: Sequence[HeldItem] = (),
        history: HistoryEntry | None = None,
    ) -> Observed:
        self._refuse_if_read_only("observe a notification")
        key = ResourceKey.of(notification)
        candidate = ordering_key(notification)
        with self._lock, self._transaction(self._db) as db:
            before = record_from(key, db.execute(RECORD_QUERY, (key.id,)))
            verdict = judge(before, candidate)
            if verdict is not Observation.FRESH:
                return not_fresh(verdict, before, held)
            write_record(db, updated_record(before, notification, candidate))
            added = tuple(append_in(db, h.group, h.item_key, h.item, now, h.window) for h in held)
            written = history_goes_with(history, added)
            if history is not None and written:
                insert_history(db, history)
        return Observed(verdict, before, added, written)

    def get(self, key: ResourceKey) -> ResourceRecord | None:
        if not self._has_schema:
            return None
        with self._lock:
            return record_from(key, self._read(RECORD_QUERY, (key.id,)))

    def set_ticket(self, key: ResourceKey, destination: str, ticket: TicketRef) -> None:
        self._refuse_if_read_only("set a ticket")
        with self._lock, self._transaction(self._db) as db:
            row = db.execute("SELECT tickets FROM resources WHERE id = ?", (key.id,)).fetchone()
            if row is None:
                raise missing_record(key)
            tickets = tickets_to_plain({**tickets_from_plain(json.loads(row[0])), destination: ticket})
            db.execute("UPDATE resources SET tickets = ? WHERE id = ?", (json.dumps(tickets), key.id))

    def claim_delivery(self, change_key: str, destination: str, *, now: datetime) -> bool:
        self._refuse_if_read_only("claim a delivery")
        with self._lock, self._transaction(self._db) as db:
            row = db.execute(
                "SELECT status, claimed_at FROM delivery_claims WHERE change_key = ? AND destination = ?",
                (change_key, destination),
            ).fetchone()
            if not claim_available(row[0] if row else None, row[1] if row else None, now):
                return False
            db.execute(
                "INSERT OR REPLACE INTO delivery_claims (change_key, destination, status, claimed_at, completed_at) "
                "VALUES (?, ?, ?, ?, NULL)",
                (change_key, destination, ClaimStatus.CLAIMED.value, utc_text(now)),
            )
            return True

    def complete_delivery(self, change_key: str, destination: str, *, now: datetime) -> None:
        self._refuse_if_read_only("complete a delivery")
        at = utc_text(now)
        with self._lock, self._transaction(self._db) as db:
            db.execute(
                "INSERT INTO delivery_claims (change_key, destination, status, claimed_at, completed_at) "
                "VALUES (?, ?, 'done', ?, ?) "
                "ON CONFLICT DO UPDATE SET status = 'done', completed_at = excluded.completed_at",
                (change_key, destination, at, at),
            )

    def release_delivery(self, change_key: str, destination: str) -> None:
        self._refuse_if_read_only("release a delivery")
        with self._lock, self._transaction(self._db) as db:
            db.execute(  # only a claim in progress: a done delivery stays done
                "DELETE FROM delivery_claims WHERE change_key = ? AND destination = ? AND status = 'claimed'",
                (change_key, destination),
            )

    def was_delivered(self, change_key: str, destination: str) -> bool:
        if not self._has_schema:
            return False
        with self._lock:
            row = self._read(
                "SELECT 1 FROM delivery_claims WHERE change_key = ? AND destination = ? AND status = 'done'",
                (change_key, destination),
            ).fetchone()
        return row is not None

    def append_history(self, entry: HistoryEntry) -> None:
        self._refuse_if_read_only("append history")
        with self._lock, self._transaction(self._db) as db:
            insert_history(db, entry)

    def history(self, key: ResourceKey | None = None) -> list[HistoryEntry]:
        if not self._has_schema:
            return []
        query = history_query(of_one_resource=key is not None)
        with self._lock:
            rows = self._read(query, (key.id,) if key is not None else ()).fetchall()
        return [history_entry_from(row) for row in rows]

    def record_event(self, bucket: str, *, at: datetime) -> None:
        self._refuse_if_read_only("record an event")
        expired = expired_events_before(at)
        with self._lock, self._transaction(self._db) as db:
            db.execute("INSERT INTO events (bucket, at) VALUES (?, ?)", (bucket, utc_text(at)))
            db.execute("DELETE FROM events WHERE bucket = ? AND at < ?", (bucket, expired))  # by the index

    def count_events(self, bucket: str, *, since: datetime) -> int:
        if not self._has_events:
            return 0
        query = "SELECT count(*) FROM events WHERE bucket = ? AND at >= ?"
        with self._lock:
            row = self._read(query, (bucket, utc_text(since))).fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self, db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error; SQLite errors become NotifierError."""
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise self._failure(error) from error
        try:
            yield db
        except BaseException as error:
            _rollback(db)
            if isinstance(error, sqlite3.Error):
                raise self._failure(error) from error
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as error:
            _rollback(db)
            raise self._failure(error) from error

    def _read(self, query: str, parameters: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self._db.execute(query, parameters)
        except sqlite3.Error as error:
            raise self._failure(error) from error

    def _failure(self, error: sqlite3.Error) -> NotifierError:
        retry = " (another process held it too long; retryable)" if "locked" in str(error) else ""
        return NotifierError(f"state file {self.path}: {error}{retry}")

    def _refuse_if_read_only(self, operation: str) -> None:
        if self.read_only:
            raise read_only_refusal(f"sqlite://{self.path}", operation)


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:  # SQLite may already have rolled back by itself (e.g. after SQLITE_FULL)
        db.execute("ROLLBACK")
