"""SqliteState's tables and rows: the schema, the upgrade of older files, and the conversions between
rows and the state's records. Apart from sqlite.py so that the store itself reads as its transactions.

    resources        one row per ResourceKey; tickets as JSON {destination: TicketRef fields}
    delivery_claims  (change_key, destination) -> claimed | done, with claimed_at and completed_at
    history          append-only, one row per notification judged; kept until pruned by hand
    events           counted events (bucket, time); a bucket's rows older than EVENT_RETENTION are
                     deleted whenever that bucket is written
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..transition import Compliance
from .base import HistoryEntry, Observation, ResourceKey, ResourceRecord
from .shared import tickets_from_plain, tickets_to_plain

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    id                    TEXT PRIMARY KEY,   -- ResourceKey.id
    account               TEXT NOT NULL,
    region                TEXT NOT NULL,
    rule                  TEXT NOT NULL,
    resource_type         TEXT NOT NULL,
    resource_id           TEXT NOT NULL,
    ordering_key          TEXT NOT NULL,
    compliance            TEXT NOT NULL,
    first_noncompliant_at TEXT,
    tickets               TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS delivery_claims (
    change_key   TEXT NOT NULL,
    destination  TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('claimed', 'done')),
    claimed_at   TEXT NOT NULL,
    completed_at TEXT,
    PRIMARY KEY (change_key, destination)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    seq           INTEGER PRIMARY KEY,  -- insertion order: the last tie-breaker
    resource      TEXT NOT NULL,        -- ResourceKey.id
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    rule          TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    ordering_key  TEXT NOT NULL,
    old           TEXT NOT NULL,
    new           TEXT NOT NULL,
    kind          TEXT NOT NULL,
    observation   TEXT NOT NULL,
    message_id    TEXT,
    recorded_at   TEXT NOT NULL,
    actions       TEXT NOT NULL         -- JSON {destination: action}
);
CREATE INDEX IF NOT EXISTS history_by_resource ON history (resource, ordering_key, recorded_at);
CREATE TABLE IF NOT EXISTS events (
    seq    INTEGER PRIMARY KEY,
    bucket TEXT NOT NULL,
    at     TEXT NOT NULL                -- utc_text: string order is time order
);
CREATE INDEX IF NOT EXISTS events_by_bucket ON events (bucket, at);
"""

# The first release kept only `deliveries` (every row a completed send): carried over as done claims,
# so upgrading never re-sends what was already sent.
MIGRATE_FIRST_RELEASE = """
INSERT OR IGNORE INTO delivery_claims (change_key, destination, status, claimed_at, completed_at)
    SELECT change_key, destination, 'done', delivered_at, delivered_at FROM deliveries;
DROP TABLE deliveries;
"""

_KEY_COLUMNS = "account, region, rule, resource_type, resource_id"
_RECORD_COLUMNS = f"{_KEY_COLUMNS}, ordering_key, compliance, first_noncompliant_at, tickets"
_HISTORY_COLUMNS = f"{_KEY_COLUMNS}, ordering_key, old, new, kind, observation, message_id, recorded_at, actions"


RECORD_QUERY = f"SELECT {_RECORD_COLUMNS} FROM resources WHERE id = ?"


def history_query(*, of_one_resource: bool) -> str:
    where = "WHERE resource = ?" if of_one_resource else ""
    return f"SELECT {_HISTORY_COLUMNS} FROM history {where} ORDER BY ordering_key, recorded_at, seq"


def write_record(db: sqlite3.Connection, record: ResourceRecord) -> None:
    key = record.key
    db.execute(
        f"INSERT OR REPLACE INTO resources (id, {_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (key.id, *_key_values(key), record.ordering_key, record.compliance.value,
         record.first_noncompliant_at, json.dumps(tickets_to_plain(record.tickets))),
    )  # fmt: skip


def insert_history(db: sqlite3.Connection, entry: HistoryEntry) -> None:
    k = entry.key
    db.execute(
        f"INSERT INTO history (resource, {_HISTORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (k.id, *_key_values(k), entry.ordering_key, entry.old.value, entry.new.value, entry.kind,
         entry.observation.value, entry.message_id, entry.recorded_at, json.dumps(dict(entry.actions))),
    )  # fmt: skip


def statements(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";\n") if statement.strip()]


def table_exists(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def _key_values(key: ResourceKey) -> tuple[str, str, str, str, str]:
    return (key.account, key.region, key.rule, key.resource_type, key.resource_id)


def record_from(key: ResourceKey, cursor: sqlite3.Cursor) -> ResourceRecord | None:
    row = cursor.fetchone()
    if row is None:
        return None
    *_, ordering, compliance, first_noncompliant_at, tickets = row
    plain_tickets = tickets_from_plain(json.loads(tickets))
    return ResourceRecord(key, ordering, Compliance(compliance), first_noncompliant_at, plain_tickets)


def history_entry_from(row: tuple[Any, ...]) -> HistoryEntry:
    ordering, old, new, kind, observation, message_id, recorded_at, actions = row[5:]
    return HistoryEntry(
        ResourceKey(*row[:5]),
        ordering,
        Compliance(old),
        Compliance(new),
        kind,
        Observation(observation),
        message_id,
        recorded_at,
        json.loads(actions),
    )
