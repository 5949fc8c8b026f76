"""SQLite state: the local default (one file), safe for several processes on one machine."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    change_key   TEXT NOT NULL,
    destination  TEXT NOT NULL,
    delivered_at TEXT NOT NULL,
    PRIMARY KEY (change_key, destination)
)
"""


class SqliteState:
    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        if read_only:
            # `explain --state` must never write, not even by creating the file.
            self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def was_delivered(self, change_key: str, destination: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM deliveries WHERE change_key = ? AND destination = ?", (change_key, destination)
            ).fetchone()
        return row is not None

    def record_delivery(self, change_key: str, destination: str, delivered_at: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO deliveries (change_key, destination, delivered_at) VALUES (?, ?, ?)",
                (change_key, destination, delivered_at),
            )

    def close(self) -> None:
        self._db.close()
