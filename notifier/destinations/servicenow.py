"""ServiceNow incidents through the Table API: one incident per non-compliant resource, found again by
its correlation_id, kept up to date with work notes, resolved (never closed) when the resource is fixed.

The contract is ServiceNow's published docs, vendored in tests/contracts/servicenow/ (Table API,
response codes, rate limiting, OAuth, incident life cycle). What each action sends:

    find_open  GET   /api/now/v2/table/<table>?sysparm_query=correlation_id=<label>^stateIN1,2,3^ORDERBY...
    open       find_open, then (none found) POST /api/now/v2/table/<table>          -> OPEN
    comment    GET /<table>/<sys_id>, PATCH work_notes                               -> as read back
    resolve    GET, PATCH state=6 close_code close_notes work_notes                  -> RESOLVED
    reopen     GET, PATCH state=2 work_notes                                         -> OPEN
    close      GET, PATCH state=6 close_code close_notes("deleted / out of scope") work_notes -> CLOSED

Why:
* v2 of the Table API: v1 answers an empty query with 404, which would read as "ticket deleted".
* `open` looks for an open incident with the label first, so a POST whose answer was lost (a timeout
  after the instance created it) and is retried does not create a second incident.
* ServiceNow ignores a query condition on a field it does not know (a typo, a table without
  correlation_id) and answers as if it were not there; `find_open` therefore keeps only records whose
  returned correlation_id is the label, and never adopts another resource's incident.
* Every update reads the incident first: a person may have resolved, closed or deleted it. Closed and
  canceled incidents are read-only to an integration, so nothing is written and the returned TicketRef
  says CLOSED; a 404 raises `TicketGone`. The returned TicketRef always reflects the instance, not the
  action asked for: the caller stores it (and may plan again when it differs from what it expected).
* `close` (retired: the resource was deleted or left the rule's scope) also uses state 6, because an
  integration must not close; the TicketRef says CLOSED so a relapse opens a new incident.

Every method raises `DeliveryError` (classified by `HttpChannel`) and nothing else.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from ..errors import DeliveryError, NotifierError, TicketGone
from ..render import Renderer, RenderError, message_context, sample_outgoing
from ..tickets.model import TicketRef, TicketStatus
from ..tickets.policy import policy_of
from .base import DestinationSpec, Outgoing
from .http import DEFAULT_TIMEOUT, HttpChannel
from .servicenow_auth import BasicAuth, ClientCredentialsAuth
from .servicenow_fields import (
    MAX_CORRELATION_ID,
    OPEN_STATES,
    IncidentSettings,
    IncidentState,
    long_text,
    one_line,
    read_settings,
    status_of,
)

if TYPE_CHECKING:
    from ..digests.message import Digest
    from .registry import BuildContext

log = logging.getLogger(__name__)

TABLE_API = "/api/now/v2/table"
CORRELATION_DISPLAY = "compliance-notifier"  # names the integration that owns correlation_id
# The field the query names. Kept apart from the check on the answer (always correlation_id), so a
# typo here, or a table without the field, makes find_open find nothing rather than someone else's.
QUERY_LABEL_FIELD = "correlation_id"
READ_FIELDS = "sys_id,number,state,active,correlation_id,close_code"  # what every answer is asked to hold
FIND_LIMIT = "10"  # one is expected; a few more only if the instance or a person duplicated one
TEMPLATES = ("short_description.txt.j2", "description.txt.j2", "work_note.txt.j2", "close_notes.txt.j2")
ACTIONS = ("open", "comment", "resolve", "reopen", "close")

_LABEL = re.compile(r"[A-Za-z0-9_.:-]+")  # nothing the encoded query language could read as syntax (^ , =)
_SYS_ID = re.compile(r"[0-9A-Za-z]{1,64}")  # a path segment, never a path


class ServiceNowDestination:
    """A connected ServiceNow destination (see the module docstring for what each action sends)."""

    def __init__(
        self, spec: DestinationSpec, renderer: Renderer, channel: HttpChannel, settings: IncidentSettings
    ) -> None:
        self.spec = spec
        self.policy = policy_of(spec)
        self.renderer = renderer
        self.channel = channel
        self.settings = settings
        self._collection = f"{TABLE_API}/{settings.table}"

    @property
    def auth(self) -> Any:
        """The session's auth object (BasicAuth or ClientCredentialsAuth)."""
        return self.channel.session.auth

    def find_open(self, label: str) -> TicketRef | None:
        self._check_label(label)
        query = f"{QUERY_LABEL_FIELD}={label}^stateIN{','.join(OPEN_STATES)}^ORDERBYsys_created_on"
        params = {
            "sysparm_query": query,
            "sysparm_fields": READ_FIELDS,
            "sysparm_limit": FIND_LIMIT,
            "sysparm_exclude_reference_link": "true",
            "sysparm_no_count": "true",  # skip the select count(*) nobody reads
        }
        records = self._records(self.channel.request("GET", self._collection, params=params))
        mine = [r for r in records if r.get("correlation_id") == label and status_of(r) is TicketStatus.OPEN]
        if len(mine) < len(records):
            log.warning(
                "servicenow %s: ignored %d record(s) whose correlation_id is not %s: the instance did not apply "
                "the query as written (a table without correlation_id?)",
                self.spec.name,
                len(records) - len(mine),
                label,
            )
        return self._ref(mine[0], TicketStatus.OPEN) if mine else None

    def open(self, outgoing: Outgoing, label: str) -> TicketRef:
        existing = self.find_open(label)
        if existing is not None:
            log.info("servicenow %s: %s is already open for %s", self.spec.name, existing.key, label)
            return existing
        ticket = self._create(self._new_incident(outgoing, label))
        log.info("servicenow %s: opened %s for %s", self.spec.name, ticket.key, label)
        return ticket

    def send_digest(self, digest: Digest) -> str | None:
        """Baseline `per_rule`: one umbrella incident per window, found again by its correlation_id on a retry."""
        from ..digests.formats import digest_label, ticket_summary

        label = digest_label(digest)
        existing = self.find_open(label)
        if existing is not None:
            return existing.key
        ticket = self._create(self._incident(ticket_summary(digest), digest.text(), label))
        log.info("servicenow %s: opened umbrella %s for %d resource(s)", self.spec.name, ticket.key, len(digest.items))
        return ticket.key

    def comment(self, ticket: TicketRef, outgoing: Outgoing) -> TicketRef:
        return self._update(ticket, outgoing, "comment", {})

    def resolve(self, ticket: TicketRef, outgoing: Outgoing) -> TicketRef:
        return self._update(ticket, outgoing, "resolve", self._resolution(outgoing, "resolve"))

    def reopen(self, ticket: TicketRef, outgoing: Outgoing) -> TicketRef:
        return self._update(ticket, outgoing, "reopen", {"state": IncidentState.IN_PROGRESS.value})

    def close(self, ticket: TicketRef, outgoing: Outgoing) -> TicketRef:
        return self._update(ticket, outgoing, "close", self._resolution(outgoing, "close"), TicketStatus.CLOSED)

    def _update(
        self,
        ticket: TicketRef,
        outgoing: Outgoing,
        action: str,
        change: Mapping[str, str],
        final: TicketStatus | None = None,
    ) -> TicketRef:
        """Read the incident, then write `change` (only where the state model allows it) and a work note."""
        current = self._read(ticket)
        status = status_of(current)
        if status is TicketStatus.CLOSED:
            log.info("servicenow %s: %s is closed; not updating it (%s)", self.spec.name, ticket.key, action)
            return self._ref(current, TicketStatus.CLOSED, at=_now())
        # A state change only from where it makes sense: resolving a resolved incident, or reopening an
        # open one, would rewrite a person's resolution. The work note is added either way.
        wanted = {"resolve": TicketStatus.OPEN, "close": TicketStatus.OPEN, "reopen": TicketStatus.RESOLVED}
        fields = dict(change) if wanted.get(action) is status else {}
        fields["work_notes"] = long_text(self._render("work_note.txt.j2", outgoing, action, ticket.key))
        answer = self.channel.request(
            "PATCH",
            self._record_path(ticket),
            json_body=fields,
            params={"sysparm_fields": READ_FIELDS},  # the PATCH docs list no sysparm_exclude_reference_link
            not_found=TicketGone(self.spec.name, ticket.key),
        )
        record = self._record(answer, "PATCH")
        updated = self._ref(record, final or status_of(record), at=_now())
        log.info("servicenow %s: %s %s -> %s", self.spec.name, action, updated.key, updated.status.value)
        return updated

    def _read(self, ticket: TicketRef) -> Mapping[str, Any]:
        answer = self.channel.request(
            "GET",
            self._record_path(ticket),
            params={"sysparm_fields": READ_FIELDS, "sysparm_exclude_reference_link": "true"},
            not_found=TicketGone(self.spec.name, ticket.key),
        )
        return self._record(answer, "GET")

    def _new_incident(self, outgoing: Outgoing, label: str) -> dict[str, str]:
        short = self._render("short_description.txt.j2", outgoing, "open", None)
        description = self._render("description.txt.j2", outgoing, "open", None, label=label)
        kind = outgoing.transition.kind
        return self._incident(short, description, label, impact=self.settings.impact.get(kind),
                              urgency=self.settings.urgency.get(kind))  # fmt: skip

    def _incident(
        self, short: str, description: str, label: str, *, impact: str | None = None, urgency: str | None = None
    ) -> dict[str, str]:
        """What every incident we open carries: the texts, the correlation that finds it again, the settings."""
        s = self.settings
        optional = {
            "caller_id": s.caller,
            "assignment_group": s.assignment_group,
            "category": s.category,
            "subcategory": s.subcategory,
            "impact": impact,
            "urgency": urgency,
        }
        return {
            "short_description": one_line(short),
            "description": long_text(description),
            "correlation_id": label,
            "correlation_display": CORRELATION_DISPLAY,
            **{field: value for field, value in optional.items() if value is not None},
        }

    def _create(self, incident: dict[str, str]) -> TicketRef:
        answer = self.channel.request(
            "POST",
            self._collection,
            json_body=incident,
            params={"sysparm_fields": READ_FIELDS, "sysparm_exclude_reference_link": "true"},
        )
        return self._ref(self._record(answer, "POST"), TicketStatus.OPEN, at=_now())

    def _resolution(self, outgoing: Outgoing, action: str) -> dict[str, str]:
        # The configured close_notes stand for a fix; a retired resource was not fixed, so say that instead.
        notes = self.settings.close_notes if action == "resolve" else None
        return {
            "state": IncidentState.RESOLVED.value,
            "close_code": self.settings.close_code,
            "close_notes": long_text(notes or self._render("close_notes.txt.j2", outgoing, action, None)),
        }

    def _render(self, name: str, outgoing: Outgoing, action: str, number: str | None, *, label: str = "") -> str:
        context = {**message_context(outgoing), "action": action, "ticket_number": number, "label": label}
        try:
            return self.renderer.render_template(self.settings.template_set, name, context)
        except RenderError as exc:  # a broken template stays broken: retrying cannot help
            raise DeliveryError(self.spec.name, str(exc), retryable=False) from None

    def _ref(self, record: Mapping[str, Any], status: TicketStatus, *, at: str | None = None) -> TicketRef:
        sys_id, number = str(record["sys_id"]), str(record["number"])
        # The close code says how it was resolved (ours or a person's); an open incident has none that counts.
        resolution = None if status is TicketStatus.OPEN else (str(record.get("close_code") or "") or None)
        target = quote(f"{self.settings.table}.do?sys_id={sys_id}", safe="")
        url = f"{self.settings.url}/nav_to.do?uri={target}"
        return TicketRef("servicenow", number, sys_id, status, resolution=resolution, url=url, updated_at=at)

    def _record_path(self, ticket: TicketRef) -> str:
        if not _SYS_ID.fullmatch(ticket.id):
            raise DeliveryError(self.spec.name, f"ticket {ticket.key}: {ticket.id!r} is not a sys_id", retryable=False)
        return f"{self._collection}/{ticket.id}"

    def _check_label(self, label: str) -> None:
        if not _LABEL.fullmatch(label) or len(label) > MAX_CORRELATION_ID:
            reason = f"label {label!r} cannot be a correlation_id (at most {MAX_CORRELATION_ID} of A-Z a-z 0-9 _ . : -)"
            raise DeliveryError(self.spec.name, reason, retryable=False)

    def _records(self, answer: Any) -> list[Mapping[str, Any]]:
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, list):
            raise self._unexpected("GET", "a list of records")
        return [r for r in result if isinstance(r, dict) and r.get("sys_id") and r.get("number")]

    def _record(self, answer: Any, method: str) -> Mapping[str, Any]:
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, dict) or not result.get("sys_id") or not result.get("number"):
            raise self._unexpected(method, "a record with sys_id and number")
        return result

    def _unexpected(self, method: str, wanted: str) -> DeliveryError:
        # Not retryable: a JSON answer in another shape means the URL is not a Table API, not a hiccup.
        reason = f"{method} {self._collection} answered JSON without {wanted} under 'result'; is the url an instance?"
        return DeliveryError(self.spec.name, reason, retryable=False)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def create(spec: DestinationSpec, context: BuildContext) -> ServiceNowDestination:
    settings = read_settings(spec.name, spec.options)
    _check_templates(spec.name, context.renderer, settings.template_set)
    timeout = float(spec.options.get("timeout") or DEFAULT_TIMEOUT)
    session = requests.Session()
    session.auth = _auth(spec, settings.url, context, timeout)
    channel = HttpChannel(spec.name, settings.url, session=session, timeout=timeout)
    if spec.dry_run:  # record the requests (the token request too), answered like the instance; send none
        from .recording import RequestMask
        from .servicenow_fields import dry_run_answer

        mask = RequestMask.of(spec, context.secrets)
        token_channel = session.auth.token_channel if isinstance(session.auth, ClientCredentialsAuth) else None
        for rehearsing in (channel, token_channel):
            if rehearsing is not None:
                rehearsing.rehearse(mask, dry_run_answer)
    return ServiceNowDestination(spec, context.renderer, channel, settings)


def _auth(spec: DestinationSpec, url: str, context: BuildContext, timeout: float) -> BasicAuth | ClientCredentialsAuth:
    options = spec.options
    basic = options.get("username"), options.get("password")
    oauth = options.get("client_id"), options.get("client_secret")
    if all(basic) and not any(oauth):
        return BasicAuth(spec.name, str(basic[0]), str(basic[1]), context.secrets)
    if all(oauth) and not any(basic):
        token_channel = HttpChannel(spec.name, url, timeout=timeout)
        return ClientCredentialsAuth(spec.name, token_channel, str(oauth[0]), str(oauth[1]), context.secrets)
    raise NotifierError(
        f"destination {spec.name!r}: give either username + password (basic auth) "
        "or client_id + client_secret (OAuth client credentials)"
    )


def _check_templates(name: str, renderer: Renderer, template_set: str) -> None:
    """Trial-render every template for every action now, so a broken template fails the config load
    rather than the first violation in production."""
    context = {**message_context(sample_outgoing()), "ticket_number": "INC0010001", "label": "cn-0123456789abcdef"}
    problems: list[str] = []
    for template in TEMPLATES:
        for action in ACTIONS:
            try:
                renderer.render_template(template_set, template, {**context, "action": action})
            except RenderError as exc:
                problems.append(str(exc))
                break
    if problems:
        raise NotifierError(f"destination {name!r}: " + "; ".join(problems))
