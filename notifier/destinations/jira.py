"""Jira tickets that follow a resource: Cloud (REST v3, ADF) and Data Center (REST v2, wiki markup).

`tickets.model.plan` decides what to do; this class only carries it out, one method per action:

    find_open  JQL on the resource's label (Cloud POST /rest/api/3/search/jql, DC POST /rest/api/2/search)
    open       POST /issue
    comment    GET /issue (status, resolution) → POST /issue/{id}/comment
    resolve    GET /issue → comment → GET/POST /issue/{id}/transitions, hop by hop along resolve_transition
    reopen     GET /issue → transitions along reopen_transition → comment
    close      GET /issue → comment → transitions along close_transition with retired_resolution

Every call goes through `HttpChannel`, which classifies failures once for all channels. The GET that
starts each action on an existing ticket makes them safe to retry and honest about people's changes:
an issue found done (resolved by a person, or by our own attempt whose answer was lost) is neither
commented nor transitioned again but returned as RESOLVED with Jira's resolution, so the store learns
it and `plan` chooses reopen/open next (or nothing at all, for a `wont_fix` resolution); an issue found
open when asked to reopen is only commented; a deleted issue raises `TicketGone`. So the returned
`TicketRef` is always what Jira says now, which may differ from what the action aimed at.

Credentials: Cloud uses HTTP basic (email + API token), Data Center a bearer personal access token.
The token is a secret reference resolved per request by `SecretResolver` (which caches it), so it is
never held in config, logs or errors, and a rotated token is picked up without a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from ..errors import DeliveryError, NotifierError, TicketGone
from ..render import Renderer, RenderError
from ..secrets import SecretResolver
from ..tickets.model import TicketRef, TicketStatus
from ..tickets.policy import policy_of
from .base import DestinationSpec, Outgoing
from .http import HttpChannel
from .jira_content import JiraContent, JiraText
from .jira_settings import JiraAuth, JiraSettings

if TYPE_CHECKING:
    from ..digests.message import Digest
    from .registry import BuildContext

log = logging.getLogger(__name__)

SYSTEM = "jira"
_SEARCH_LIMIT = 10  # more than one open ticket per label is already a problem worth a warning


@dataclass(frozen=True, slots=True)
class IssueState:
    """What Jira says about an issue now."""

    done: bool  # its status is in the Done category
    resolution: str | None
    status: str | None


class JiraDestination:
    """One configured Jira destination (either flavor). Implements `TicketDestination`."""

    def __init__(
        self,
        spec: DestinationSpec,
        renderer: Renderer,
        secrets: SecretResolver,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.spec = spec
        self.settings = JiraSettings.from_spec(spec)
        self.policy = policy_of(spec)
        self.content = JiraContent(renderer, self.settings.template_set, self.settings.flavor)
        self.api = "/rest/api/3" if self.settings.cloud else "/rest/api/2"
        self.search_path = f"{self.api}/search/jql" if self.settings.cloud else f"{self.api}/search"
        session = requests.Session()
        session.auth = JiraAuth(self.settings, secrets)
        self.http = HttpChannel(spec.name, self.settings.url, session=session, timeout=self.settings.timeout)
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- the TicketDestination actions -------------------------------------------------------------

    def find_open(self, label: str) -> TicketRef | None:
        jql = (
            f"project = {jql_string(self.settings.project)} AND labels = {jql_string(label)}"
            " AND statusCategory != Done ORDER BY created ASC"
        )
        body = {"jql": jql, "fields": ["status", "resolution"], "maxResults": _SEARCH_LIMIT}
        answer = self.http.request("POST", self.search_path, json_body=body) or {}
        issues = [issue for issue in answer.get("issues") or [] if isinstance(issue, dict) and issue.get("key")]
        if not issues:
            return None
        if len(issues) > 1:
            keys = ", ".join(str(issue["key"]) for issue in issues)
            log.warning(
                "jira %s: several open tickets carry label %s (%s); adopting the oldest", self.spec.name, label, keys
            )
        first = issues[0]
        return TicketRef(
            SYSTEM,
            str(first["key"]),
            str(first.get("id") or first["key"]),
            TicketStatus.OPEN,
            url=self.browse_url(str(first["key"])),
        )

    def open(self, outgoing: Outgoing, label: str) -> TicketRef:
        extra = self.template_variables(label=label)
        summary = self._render(lambda: self.content.summary(outgoing, extra))
        fields = self._new_issue_fields(summary, self._render(lambda: self.content.description(outgoing, extra)), label)
        priority = self.settings.priority_for(outgoing.transition.kind.value)
        if priority is not None:
            fields["priority"] = priority
        if self.settings.assignee:
            user_field = "accountId" if self.settings.cloud else "name"  # Cloud has no user names any more
            fields["assignee"] = {user_field: self.settings.assignee}
        key, issue_id = self._create_issue(fields, with_id=True)
        log.info("jira %s: opened %s for %s", self.spec.name, key, label)
        return TicketRef(
            SYSTEM, key, str(issue_id), TicketStatus.OPEN, url=self.browse_url(key), updated_at=self._now()
        )

    def send_digest(self, digest: Digest) -> str | None:
        """Baseline `per_rule`: one umbrella ticket for the window's first evaluations. Its label is stable per
        window, so a flush retried after the ticket was opened adopts it instead of opening a second one."""
        from ..digests.formats import adf_digest, digest_label, ticket_summary, wiki_digest
        from .jira_content import fit_adf
        from .jira_markup import MAX_TEXT_UNITS

        label = digest_label(digest)
        existing = self.find_open(label)
        if existing is not None:
            return existing.key
        cloud = self.settings.cloud
        description = fit_adf(adf_digest(digest), MAX_TEXT_UNITS) if cloud else wiki_digest(digest, MAX_TEXT_UNITS)
        key, _ = self._create_issue(self._new_issue_fields(ticket_summary(digest), description, label))
        log.info("jira %s: opened umbrella %s for %d resource(s)", self.spec.name, key, len(digest.items))
        return key

    def _new_issue_fields(self, summary: str, description: JiraText, label: str) -> dict[str, Any]:
        """What every issue we open carries: the configured fields, the label that finds it again, the text."""
        fields: dict[str, Any] = {
            **self.settings.custom_fields,
            "project": {"key": self.settings.project},
            "issuetype": {"name": self.settings.issue_type},
            "summary": summary,
            "description": description,
            "labels": list(dict.fromkeys((label, *self.settings.labels))),
        }
        if self.settings.components:
            fields["components"] = [{"name": name} for name in self.settings.components]
        return fields

    def _create_issue(self, fields: dict[str, Any], *, with_id: bool = False) -> tuple[str, str | None]:
        """POST the issue; its key and id (the id required only `with_id`: a ticket we follow needs it)."""
        created = self.http.request("POST", f"{self.api}/issue", json_body={"fields": fields}) or {}
        key, issue_id = created.get("key"), created.get("id")
        if not key or (with_id and not issue_id):
            raise DeliveryError(self.spec.name, f"POST {self.api}/issue answered without an issue key", retryable=False)
        return str(key), str(issue_id) if issue_id else None

    def comment(self, ticket: TicketRef, outgoing: Outgoing) -> TicketRef:
        state = self.issue_state(ticket)
        if self._wont_fix(state) or state.done:
            # Resolved or closed by a person since we last looked: report it rather than comment on it (a
            # closed issue may refuse comments); with the returned RESOLVED ref, `plan` picks reopen or open.
            return self._as_seen(ticket, state)
        self._comment(ticket, outgoing, "comment")
        return self._as_seen(ticket, state)

    def resolve(self, ticket: TicketRef, outgoing: Outgoing) -> TicketRef:
        state = self.issue_state(ticket)
        if self._wont_fix(state) or state.done:  # a person got there first, or our earlier attempt did
            return self._as_seen(ticket, state)
        self._comment(ticket, outgoing, "resolve")  # before the transition: a closed issue may refuse comments
        sent = self._walk(ticket, self.settings.resolve_path, self.settings.resolution)
        resolution = sent or self.issue_state(ticket).resolution
        return ticket.with_status(TicketStatus.RESOLVED, resolution=resolution, at=self._now())

    def reopen(self, ticket: TicketRef, outgoing: Outgoing) -> TicketRef:
        state = self.issue_state(ticket)
        if self._wont_fix(state):
            return self._as_seen(ticket, state)
        if state.done:  # not done any more means reopened already (by a person, or our earlier attempt)
            self._walk(ticket, self.settings.reopen_path, None)
        self._comment(ticket, outgoing, "reopen")
        return ticket.with_status(TicketStatus.OPEN, resolution=None, at=self._now())

    def close(self, ticket: TicketRef, outgoing: Outgoing) -> TicketRef:
        state = self.issue_state(ticket)
        if self._wont_fix(state):
            return self._as_seen(ticket, state)
        if state.done:
            return ticket.with_status(TicketStatus.CLOSED, resolution=state.resolution, at=self._now())
        self._comment(ticket, outgoing, "close")
        sent = self._walk(ticket, self.settings.close_path, self.settings.retired_resolution)
        resolution = sent or self.issue_state(ticket).resolution
        return ticket.with_status(TicketStatus.CLOSED, resolution=resolution, at=self._now())

    # -- helpers -----------------------------------------------------------------------------------

    def browse_url(self, key: str) -> str:
        return f"{self.settings.url}/browse/{quote(key, safe='')}"

    def issue_state(self, ticket: TicketRef) -> IssueState:
        answer = self.http.request(
            "GET", self._issue_path(ticket), params={"fields": "status,resolution"}, not_found=self._gone(ticket)
        )
        fields = (answer or {}).get("fields") or {}
        status = fields.get("status") or {}
        category = (status.get("statusCategory") or {}).get("key")
        resolution = self._spelled_as_configured((fields.get("resolution") or {}).get("name"))
        return IssueState(done=category == "done", resolution=resolution, status=status.get("name"))

    def _issue_path(self, ticket: TicketRef) -> str:
        # The id survives a move to another project (the key does not).
        return f"{self.api}/issue/{quote(ticket.id or ticket.key, safe='')}"

    def _gone(self, ticket: TicketRef) -> TicketGone:
        return TicketGone(self.spec.name, ticket.key)

    def _wont_fix(self, state: IssueState) -> bool:
        return state.resolution is not None and state.resolution in self.policy.wont_fix

    def _spelled_as_configured(self, resolution: str | None) -> str | None:
        """Jira's resolution in the config's spelling when they differ only in case ("Won't fix" vs "Won't Fix"),
        so `plan`'s exact `wont_fix` match sees what a person chose."""
        if resolution is None:
            return None
        return next((name for name in self.policy.wont_fix if name.casefold() == resolution.casefold()), resolution)

    def _as_seen(self, ticket: TicketRef, state: IssueState) -> TicketRef:
        """The ticket as Jira has it now (a person may have resolved it), without acting on it."""
        if state.done:
            if ticket.status is not TicketStatus.OPEN and ticket.resolution == state.resolution:
                return ticket  # e.g. CLOSED by us earlier: keep what we knew
            return ticket.with_status(TicketStatus.RESOLVED, resolution=state.resolution, at=self._now())
        return ticket.with_status(TicketStatus.OPEN, resolution=state.resolution, at=self._now())

    def _comment(self, ticket: TicketRef, outgoing: Outgoing, action: str) -> None:
        resolution = self.settings.retired_resolution if action == "close" else self.settings.resolution
        body = self._render(
            lambda: self.content.comment(outgoing, action, self.template_variables(resolution=resolution))
        )
        if self._last_comment_is(ticket, body):
            return  # our own comment from an attempt whose transition failed: a retry must not say it twice
        self.http.request(
            "POST", f"{self._issue_path(ticket)}/comment", json_body={"body": body}, not_found=self._gone(ticket)
        )

    def _last_comment_is(self, ticket: TicketRef, body: Any) -> bool:
        page = self.http.request(
            "GET",
            f"{self._issue_path(ticket)}/comment",
            params={"orderBy": "-created", "maxResults": "1"},
            not_found=self._gone(ticket),
        )
        comments = page.get("comments") if isinstance(page, dict) else None
        if not isinstance(comments, list) or not comments or not isinstance(comments[0], dict):
            return False
        return bool(comments[0].get("body") == body)

    def _walk(self, ticket: TicketRef, path: Sequence[str], resolution: str | None) -> str | None:
        """Take the named transitions one after another; return the resolution sent, if a screen asked for one.

        Looking each name up among the transitions offered *now* lets a retry resume mid-path: a hop
        already taken is no longer offered, so the next name in the path is."""
        remaining, sent = list(path), None
        while remaining:
            offered = self._transitions(ticket)
            by_name = {str(t.get("name", "")).casefold(): t for t in offered}
            index = next((i for i, name in enumerate(remaining) if name.casefold() in by_name), None)
            if index is None:
                names = ", ".join(f"{t.get('name')!r} (to {(t.get('to') or {}).get('name', '?')})" for t in offered)
                reason = (
                    f"{ticket.key}: no transition named {remaining[0]!r} is offered from its status now "
                    f"(path {list(path)!r}; offered: {names or 'none'}); check the transition names"
                )
                raise DeliveryError(self.spec.name, reason, retryable=False)
            transition = by_name[remaining[index].casefold()]
            body: dict[str, Any] = {"transition": {"id": str(transition.get("id"))}}
            # Only when the transition's screen has the field: Jira rejects fields that are not on it.
            if resolution is not None and "resolution" in (transition.get("fields") or {}):
                sent = self._resolution_name(ticket, transition, resolution)
                body["fields"] = {"resolution": {"name": sent}}
            self.http.request(
                "POST", f"{self._issue_path(ticket)}/transitions", json_body=body, not_found=self._gone(ticket)
            )
            remaining = remaining[index + 1 :]
        return sent

    def _transitions(self, ticket: TicketRef) -> list[dict[str, Any]]:
        answer = self.http.request(
            "GET",
            f"{self._issue_path(ticket)}/transitions",
            params={"expand": "transitions.fields"},
            not_found=self._gone(ticket),
        )
        return [t for t in (answer or {}).get("transitions") or [] if isinstance(t, dict)]

    def _resolution_name(self, ticket: TicketRef, transition: dict[str, Any], wanted: str) -> str:
        allowed = [
            v.get("name") for v in transition["fields"]["resolution"].get("allowedValues") or [] if isinstance(v, dict)
        ]
        if not allowed:
            return wanted
        match = next((name for name in allowed if isinstance(name, str) and name.casefold() == wanted.casefold()), None)
        if match is None:
            reason = (
                f"{ticket.key}: transition {transition.get('name')!r} does not allow resolution {wanted!r} "
                f"(allowed: {', '.join(map(str, allowed))})"
            )
            raise DeliveryError(self.spec.name, reason, retryable=False)
        return match

    def template_variables(self, **values: Any) -> dict[str, Any]:
        """Template variables beyond `render.message_context` (every key always present: StrictUndefined)."""
        return {
            "label": None,
            "project": self.settings.project,
            "destination": self.spec.name,
            "resolution": self.settings.resolution,
            **values,
        }

    def _render(self, produce: Callable[[], JiraText]) -> Any:
        try:
            return produce()
        except RenderError as exc:  # a broken template stays broken: retrying cannot help
            raise DeliveryError(self.spec.name, f"cannot render the ticket text: {exc}", retryable=False) from exc

    def _now(self) -> str:
        return self._clock().astimezone(UTC).isoformat(timespec="seconds")


def jql_string(value: str) -> str:
    """A JQL string literal: double quotes, with backslash and quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def create(spec: DestinationSpec, context: BuildContext) -> JiraDestination:
    destination = JiraDestination(spec, context.renderer, context.secrets)
    if spec.dry_run:  # record the requests, answered the way Jira would (jira_dry_run.py); send none
        from .jira_dry_run import JiraDryRunAnswers
        from .recording import RequestMask

        destination.http.rehearse(RequestMask.of(spec, context.secrets), JiraDryRunAnswers(destination.settings))
    try:  # a broken user template is a config problem: report it when the config is loaded
        destination.content.check(destination.template_variables(label="cn-0000000000000000"))
    except RenderError as exc:
        raise NotifierError(f"destination {spec.name!r} (jira): {exc}") from None
    return destination
