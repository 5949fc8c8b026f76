"""Open a state store from a URL (DESIGN.md, "Environment"):

    sqlite:///absolute/path   the local default: one file, shared safely by processes on one machine
    dynamodb://table-name     for Lambda: conditional writes on one table (see `dynamodb.create_table`)
    memory://                 in-process, for tests

`read_only=True` is how `explain` opens a store: it reads, and every write raises a NotifierError.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import NotifierError
from .base import (
    CLAIM_LEASE,
    HISTORY_TTL,
    HeldItem,
    HistoryEntry,
    Observation,
    Observed,
    ResourceKey,
    ResourceRecord,
    StateStore,
    judge,
    ordering_key,
    updated_record,
)
from .dynamodb import DynamoDbState, create_table
from .memory import MemoryState
from .sqlite import SqliteState

__all__ = [
    "CLAIM_LEASE",
    "HISTORY_TTL",
    "DynamoDbState",
    "HeldItem",
    "HistoryEntry",
    "MemoryState",
    "Observation",
    "Observed",
    "ResourceKey",
    "ResourceRecord",
    "SqliteState",
    "StateStore",
    "create_table",
    "default_state_url",
    "judge",
    "open_state",
    "ordering_key",
    "updated_record",
]

# DynamoDB's own rule for table names.
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


def default_state_url() -> str:
    """NOTIFIER_STATE, else a SQLite file: /tmp on Lambda (the only writable place), XDG state dir locally."""
    configured = os.environ.get("NOTIFIER_STATE")
    if configured:
        return configured
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return "sqlite:///tmp/compliance-notifier/state.sqlite"
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return f"sqlite://{(base / 'compliance-notifier' / 'state.sqlite').resolve()}"


def open_state(url: str, *, read_only: bool = False, dynamodb_client: Any = None) -> StateStore:
    """The store a URL names. `dynamodb_client` replaces the boto3 client DynamoDB would create."""
    if url in ("memory://", "memory:"):
        return MemoryState(read_only=read_only)
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite://")
        if not url.startswith("sqlite:///") or path == "/":
            raise NotifierError(
                f"state store {url!r}: a SQLite store needs an absolute path, as in sqlite:///var/lib/notifier/state.sqlite"
            )
        if read_only and not Path(path).exists():
            return MemoryState(read_only=True)  # nothing recorded yet: an empty store, and still no file
        return SqliteState(Path(path), read_only=read_only)
    if url.startswith("dynamodb:"):
        table = url.removeprefix("dynamodb://")
        if not url.startswith("dynamodb://") or not _TABLE_NAME.fullmatch(table):
            raise NotifierError(
                f"state store {url!r}: expected dynamodb://table-name (3-255 letters, digits, '_', '-' or '.')"
            )
        return DynamoDbState(table, client=dynamodb_client, read_only=read_only)
    raise NotifierError(f"state store {url!r}: expected sqlite:///absolute/path, dynamodb://table-name or memory://")
