"""What the demo leaves behind, and what is new since the last look (each step narrates only its own).

emails/NN-<kind>.eml        every email SES accepted, as raw MIME (open it in a mail client)
dry-run-requests.jsonl      the dry-run outbox: the exact HTTP requests Jira and ServiceNow would get
webhook-requests.jsonl      every request the local receiver got, with its signature verdict
deliveries.jsonl            the audit file destination
state.sqlite                the notifier's state store (records, history, digests)
"""

from __future__ import annotations

import email
import email.policy
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..state.base import HistoryEntry, StateStore
from .aws import EmbeddedAws
from .receiver import WebhookReceiver
from .routes import AUDIT_FILE, OUTBOX_FILE


@dataclass(frozen=True, slots=True)
class SavedEmail:
    path: Path
    subject: str
    transition: str  # the X-Compliance-Transition header, or "digest"
    to: str


@dataclass
class Artefacts:
    out: Path
    aws: EmbeddedAws
    receiver: WebhookReceiver
    state: StateStore
    _seen: Counter[str] = field(default_factory=Counter)

    @property
    def outbox_path(self) -> Path:
        return self.out / OUTBOX_FILE

    @property
    def audit_path(self) -> Path:
        return self.out / AUDIT_FILE

    def emails(self) -> list[SavedEmail]:
        """Save every email SES accepted so far (emails/NN-<kind>.eml); all of them, oldest first."""
        folder = self.out / "emails"
        folder.mkdir(exist_ok=True)
        saved = []
        for index, raw in enumerate(self.aws.sent_emails(), start=1):
            message = email.message_from_string(raw, policy=email.policy.default)
            digest = message.get("X-Compliance-Digest")
            kind = f"digest-of-{digest}" if digest else str(message.get("X-Compliance-Transition") or "email")
            path = folder / f"{index:02d}-{kind}.eml"
            path.write_text(raw, encoding="utf-8")
            saved.append(SavedEmail(path, str(message.get("Subject", "")), kind, str(message.get("To", ""))))
        return saved

    def outbox(self) -> list[dict[str, Any]]:
        return _json_lines(self.outbox_path)

    def audit(self) -> list[dict[str, Any]]:
        return _json_lines(self.audit_path)

    def history(self) -> list[HistoryEntry]:
        return self.state.history()

    def new_emails(self) -> list[SavedEmail]:
        return self._new("emails", self.emails())

    def new_outbox(self) -> list[dict[str, Any]]:
        return self._new("outbox", self.outbox())

    def new_webhooks(self) -> list[dict[str, Any]]:
        return self._new("webhooks", list(self.receiver.requests))

    def new_history(self) -> list[HistoryEntry]:
        return self._new("history", self.history())

    def _new(self, kind: str, items: list[Any]) -> list[Any]:
        fresh = items[self._seen[kind] :]
        self._seen[kind] = len(items)
        return fresh


def actions_by_destination(entries: list[HistoryEntry]) -> dict[str, Counter[str]]:
    """destination -> action -> count, over the history entries (what each notification did)."""
    table: dict[str, Counter[str]] = {}
    for entry in entries:
        for destination, action in entry.actions.items():
            table.setdefault(destination, Counter())[action] += 1
    return table


def outbox_requests(record: dict[str, Any]) -> list[str]:
    """One line per request a dry-run record holds, query string left out: 'POST https://…/rest/api/3/issue'."""
    lines = []
    for request in record.get("requests", []):
        url, _, query = str(request.get("url", "?")).partition("?")
        lines.append(f"{request.get('method', '?')} {url}{'?…' if query else ''}")
    return lines


def _json_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
