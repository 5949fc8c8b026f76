"""In-process state: for tests and `explain` without a store."""

from __future__ import annotations

import threading


class MemoryState:
    def __init__(self) -> None:
        self._delivered: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def was_delivered(self, change_key: str, destination: str) -> bool:
        with self._lock:
            return (change_key, destination) in self._delivered

    def record_delivery(self, change_key: str, destination: str, delivered_at: str) -> None:
        with self._lock:
            self._delivered.setdefault((change_key, destination), delivered_at)

    def close(self) -> None:
        """Nothing to release."""
