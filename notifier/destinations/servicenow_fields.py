"""What a ServiceNow destination writes, and what it reads back: settings from the config, incident
states, and text made safe for incident fields.

Incident states (the numbers behind the names in "Life cycle of an Incident",
tests/contracts/servicenow/c_IncidentManagementStateModel.md; the Table API docs show New as "1" and
In Progress as "2" in their examples and `state=closed` as the display value of `state=7`):

    1 New   2 In Progress   3 On Hold   6 Resolved   7 Closed   8 Canceled

An integration writes 6 (Resolved) and 2 (In Progress, to reopen), never 7: "Resolve and close an
incident" (resolve-and-close-an-incident.md) requires itil_admin or admin to close, while itil or
sn_incident_write may resolve; the instance closes resolved incidents itself after its auto-close delay.

Field lengths are the baseline dictionary sizes on task/incident (the vendored docs do not list them;
the instance silently cuts a longer value, which for correlation_id would break finding the incident
again): short_description 160, correlation_id and correlation_display 100, description, close_notes and
work_notes 4000.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from ..errors import NotifierError
from ..render import header_safe
from ..tickets.model import TicketStatus
from ..transition import TransitionKind


class IncidentState(StrEnum):
    NEW = "1"
    IN_PROGRESS = "2"
    ON_HOLD = "3"
    RESOLVED = "6"
    CLOSED = "7"
    CANCELED = "8"


OPEN_STATES = (IncidentState.NEW, IncidentState.IN_PROGRESS, IncidentState.ON_HOLD)

MAX_SHORT_DESCRIPTION = 160
MAX_CORRELATION_ID = 100
MAX_LONG_TEXT = 4000  # description, close_notes, work_notes

# Baseline choice on current releases ("Solution provided"); older instances use e.g. "Solved (Permanently)".
# A value missing from the instance's choice list is still stored, so a wrong default never fails a call.
DEFAULT_CLOSE_CODE = "Solution provided"
DEFAULT_TABLE = "incident"
DEFAULT_TEMPLATE_SET = "servicenow"

_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,79}")  # ServiceNow table names, scoped ones (x_acme_...) included
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
# Control characters other than tab and newline: invalid in XML 1.0, which the instance stores and exports.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
# Journal fields (work_notes, comments) render text between [code] and [/code] as HTML; a zero-width
# space after the bracket keeps such text, e.g. in a resource id, as the plain text it is.
_CODE_TAG = re.compile(r"\[(\s*/?\s*code\s*)\]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class IncidentSettings:
    """A servicenow destination's config, checked once when the destination is built."""

    url: str  # the instance, without a trailing slash
    table: str
    template_set: str
    assignment_group: str | None
    caller: str | None
    category: str | None
    subcategory: str | None
    impact: Mapping[TransitionKind, str]  # "1".."3" per kind; a kind without one leaves the instance default
    urgency: Mapping[TransitionKind, str]
    close_code: str
    close_notes: str | None  # None: the close_notes template says what happened


def read_settings(name: str, options: Mapping[str, Any]) -> IncidentSettings:
    """Raise NotifierError naming the destination and the key when the config is unusable."""

    def text(key: str) -> str | None:
        value = options.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise NotifierError(f"destination {name!r}: {key!r} must be a non-empty string")
        return value.strip()

    table = text("table") or DEFAULT_TABLE
    if not _TABLE_NAME.fullmatch(table):
        raise NotifierError(f"destination {name!r}: table {table!r} is not a ServiceNow table name")
    return IncidentSettings(
        url=_instance_url(name, text("url")),
        table=table,
        template_set=text("template") or DEFAULT_TEMPLATE_SET,
        assignment_group=text("assignment_group"),
        caller=text("caller"),
        category=text("category"),
        subcategory=text("subcategory"),
        impact=_per_kind(name, "impact", options.get("impact")),
        urgency=_per_kind(name, "urgency", options.get("urgency")),
        close_code=text("close_code") or DEFAULT_CLOSE_CODE,
        close_notes=text("close_notes"),
    )


def _instance_url(name: str, url: str | None) -> str:
    if url is None:
        raise NotifierError(f"destination {name!r}: 'url' (the instance, e.g. https://acme.service-now.com) is missing")
    parts = urlsplit(url)
    # Basic auth and bearer tokens must not cross the network in clear; plain http only to this machine.
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)):
        raise NotifierError(f"destination {name!r}: url {url!r} must be https://<instance>")
    if parts.query or parts.fragment:
        raise NotifierError(f"destination {name!r}: url {url!r} must be the instance only, without ? or #")
    return url.rstrip("/")


def _per_kind(name: str, key: str, value: object) -> Mapping[TransitionKind, str]:
    """`impact: 2` for every kind, or `impact: {first_violation: 1, violated: 2}`; 1 is the highest."""
    if value is None:
        return {}
    pairs = value.items() if isinstance(value, Mapping) else ((kind.value, value) for kind in TransitionKind)
    chosen: dict[TransitionKind, str] = {}
    for kind_name, level in pairs:
        try:
            kind = TransitionKind(kind_name)
            number = int(level) if not isinstance(level, bool) and isinstance(level, int | str) else 0
        except ValueError:
            raise NotifierError(f"destination {name!r}: {key} has an invalid entry {kind_name!r}: {level!r}") from None
        if number not in (1, 2, 3):
            raise NotifierError(f"destination {name!r}: {key} must be 1, 2 or 3, not {level!r}")
        chosen[kind] = str(number)
    return chosen


def status_of(record: Mapping[str, Any]) -> TicketStatus:
    """What an incident's state means for the lifecycle. Resolved may be reopened; closed and canceled
    are read-only to an integration, so a relapse needs a new incident."""
    state = str(record.get("state", ""))
    if state in OPEN_STATES:
        return TicketStatus.OPEN
    if state == IncidentState.RESOLVED:
        return TicketStatus.RESOLVED
    if state in (IncidentState.CLOSED, IncidentState.CANCELED):
        return TicketStatus.CLOSED
    # A state this instance added: trust the `active` flag every task record carries.
    return TicketStatus.OPEN if str(record.get("active", "")).lower() == "true" else TicketStatus.CLOSED


DRY_RUN_SYS_ID = "0" * 32
DRY_RUN_NUMBER = "DRYRUN0000001"
_ONE_RECORD = re.compile(r"/table/[^/]+/(?P<sys_id>[^/]+)$")


def dry_run_answer(method: str, path: str, body: Any) -> tuple[int, Any]:
    """What the instance answers a dry run, in the Table API's and OAuth's documented shapes, so the destination
    runs unchanged: no open incident has the label, POST creates DRYRUN0000001, a read finds it In Progress,
    PATCH applies the state and close code asked for. A record keeps the sys_id asked about, so a rehearsal
    never re-links a stored incident to another one."""
    if path.endswith("/oauth_token.do"):
        return 200, {"scope": "useraccount", "token_type": "Bearer", "expires_in": 1799, "access_token": "dry-run"}
    one = _ONE_RECORD.search(path)
    if method == "GET" and one is None:
        return 200, {"result": []}
    state = IncidentState.NEW if method == "POST" else IncidentState.IN_PROGRESS
    record = {"sys_id": one["sys_id"] if one else DRY_RUN_SYS_ID, "number": DRY_RUN_NUMBER, "state": state.value,
              "active": "true", "correlation_id": "", "close_code": ""}  # fmt: skip
    if isinstance(body, dict) and method in ("POST", "PATCH"):
        record.update({k: str(v) for k, v in body.items() if k in ("state", "close_code", "correlation_id")})
    return (201 if method == "POST" else 200), {"result": record}


def one_line(value: str, limit: int = MAX_SHORT_DESCRIPTION) -> str:
    """A single-line field (short_description): no control characters, collapsed spaces, bounded."""
    return header_safe(defuse_code_tags(value), limit)


def long_text(value: str, limit: int = MAX_LONG_TEXT) -> str:
    """A multi-line field: newlines and tabs kept, other control characters dropped, bounded with a note."""
    text = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    text = defuse_code_tags(text).strip()
    if len(text) <= limit:
        return text
    note = f"\n\n[cut by compliance-notifier: the full text had {len(text)} characters]"
    return text[: limit - len(note)].rstrip() + note


def defuse_code_tags(value: str) -> str:
    return _CODE_TAG.sub("[\u200b\\1]", value)
