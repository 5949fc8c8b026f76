"""What the pipeline remembers between deliveries, so nothing is sent twice.

This is the first slice of the state store (issue 3 grows it into per-resource records with the
ordering guard, tickets and history). Here it answers one question durably: has this change
(`ComplianceNotification.content_key`) already been delivered to that destination?
"""

from __future__ import annotations

from typing import Protocol


class StateStore(Protocol):
    def was_delivered(self, change_key: str, destination: str) -> bool: ...

    def record_delivery(self, change_key: str, destination: str, delivered_at: str) -> None: ...

    def close(self) -> None: ...
