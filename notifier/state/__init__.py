"""Open a state store from a URL: `sqlite:///path`, `memory://` (DESIGN.md, "Environment")."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import NotifierError
from .base import StateStore
from .memory import MemoryState
from .sqlite import SqliteState

__all__ = ["MemoryState", "SqliteState", "StateStore", "default_state_url", "open_state"]


def default_state_url() -> str:
    """NOTIFIER_STATE, else a SQLite file: /tmp on Lambda (the only writable place), XDG state dir locally."""
    configured = os.environ.get("NOTIFIER_STATE")
    if configured:
        return configured
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return "sqlite:///tmp/compliance-notifier/state.sqlite"
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return f"sqlite://{(base / 'compliance-notifier' / 'state.sqlite').resolve()}"


def open_state(url: str, *, read_only: bool = False) -> StateStore:
    if url == "memory://" or url == "memory:":
        return MemoryState()
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite://"))
        if read_only and not path.exists():
            return MemoryState()  # nothing recorded yet: reading an empty store
        return SqliteState(path, read_only=read_only)
    if url.startswith("dynamodb://"):
        raise NotifierError(f"state store {url!r}: DynamoDB state is not available in this version yet")
    raise NotifierError(f"state store {url!r}: expected sqlite:///path or memory://")
