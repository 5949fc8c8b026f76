"""Lifecycle cases every Jira flavor must pass, run against `FakeJira` by test_jira_cloud / test_jira_dc.

A test module subclasses `JiraCases` (and `JiraErrorCases`) with `flavor = "cloud"` or `"datacenter"`;
pytest collects the inherited tests. Each test gets a fresh fake on the class's HTTP server, and fails
at teardown if any request broke the vendor's contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pytest_httpserver import HTTPServer

from notifier.destinations.base import DestinationSpec, Outgoing
from notifier.destinations.jira import JiraDestination
from notifier.destinations.registry import BuildContext, build_destination
from notifier.envelopes import InboundMessage
from notifier.errors import DeliveryError, TicketGone
from notifier.notification import ComplianceNotification, parse
from notifier.render import Renderer
from notifier.secrets import SecretResolver
from notifier.tickets.model import TicketRef, TicketStatus
from notifier.transition import Compliance, transition
from tests.conftest import compliance_message
from tests.functional.jira_fake import EMAIL, PROJECT, TOKEN, FakeJira
from tests.functional.jira_fake_model import Workflow

RENDERER = Renderer()
SECRETS = SecretResolver(environ={"JIRA_TOKEN": TOKEN, "WRONG_TOKEN": "not-the-token"})
LABEL = "cn-0123456789abcdef"
NC, C = Compliance.NON_COMPLIANT, Compliance.COMPLIANT


def outgoing(
    old: Compliance = C,
    new: Compliance = NC,
    *,
    resource_id: str | None = None,
    annotation: str | None = None,
) -> Outgoing:
    """The CloudWatch log group fixture, moved to the old → new states a test needs."""
    parsed = parse(InboundMessage("config", "$", body=compliance_message("ComplianceChangeNotification__02_")))
    assert isinstance(parsed, ComplianceNotification) and parsed.old is not None
    notification = parsed._replace(
        new=parsed.new._replace(compliance=new, annotation=annotation or parsed.new.annotation),
        old=None if old is Compliance.NONE else parsed.old._replace(compliance=old),
        resource_id=resource_id or parsed.resource_id,
    )
    return Outgoing(notification, transition(old, new), ("tickets",), "msg-1")


@dataclass
class Jira:
    """A fake Jira and a way to build destinations pointed at it."""

    fake: FakeJira
    flavor: str
    templates_dir: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def destination(self, **options: Any) -> JiraDestination:
        base: dict[str, Any] = {
            "flavor": self.flavor,
            "url": self.fake.url,
            "project": PROJECT,
            "token": "env:JIRA_TOKEN",
        }
        if self.flavor == "cloud":
            base["email"] = EMAIL
        spec = DestinationSpec("sec-jira", "jira", {**base, **self.options, **options})
        built = build_destination(
            spec, BuildContext(Renderer(self.templates_dir) if self.templates_dir else RENDERER, SECRETS)
        )
        assert isinstance(built, JiraDestination)
        return built

    def issue(self, ticket: TicketRef) -> Any:
        return self.fake.by_key(ticket.key)


class JiraCases:
    flavor: ClassVar[str]

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls) -> Iterator[HTTPServer]:
        server = HTTPServer(host="127.0.0.1", threaded=True)
        server.start()
        yield server
        server.stop()

    @pytest.fixture
    def workflow(self) -> Workflow:
        return Workflow()

    @pytest.fixture
    def jira(self, server: HTTPServer, workflow: Workflow) -> Iterator[Jira]:
        server.clear()
        fake = FakeJira(server, flavor=self.flavor, workflow=workflow)
        yield Jira(fake, self.flavor)
        assert fake.violations == [], "requests broke the Jira contract:\n" + "\n".join(fake.violations)

    # -- open / find / comment ---------------------------------------------------------------------

    def test_open_creates_an_issue_with_every_configured_field(self, jira: Jira) -> None:
        destination = jira.destination(
            labels=["aws-config", "security"],
            components=["iam"],
            priority={"first_violation": "Highest", "violated": "High"},
            assignee="alice-account",
            custom_fields={"customfield_10010": "sec-team"},
        )
        ticket = destination.open(outgoing(), LABEL)

        assert ticket.system == "jira" and ticket.status is TicketStatus.OPEN
        assert ticket.key == f"{PROJECT}-1" and ticket.id == "10000"
        assert ticket.url == f"{jira.fake.url}/browse/{ticket.key}"
        fields = jira.issue(ticket).fields
        assert fields["project"] == {"key": PROJECT} and fields["issuetype"] == {"name": "Task"}
        assert fields["labels"] == [LABEL, "aws-config", "security"]
        assert fields["components"] == [{"name": "iam"}]
        assert fields["priority"] == {"name": "High"}  # violated, by the per-kind mapping
        user_field = "accountId" if self.flavor == "cloud" else "name"
        assert fields["assignee"] == {user_field: "alice-account"}
        assert fields["customfield_10010"] == "sec-team"
        assert "dev1" in fields["summary"] and "cw-loggroup-retention" in fields["summary"]
        first = destination.open(outgoing(Compliance.NONE, NC), "cn-1111111111111111")
        assert jira.issue(first).fields["priority"] == {"name": "Highest"}

    def test_credentials_go_in_the_flavors_header(self, jira: Jira) -> None:
        jira.destination().open(outgoing(), LABEL)
        (header,) = set(jira.fake.auth_headers)
        assert header.startswith("Basic " if self.flavor == "cloud" else "Bearer ")

    def test_find_open_finds_the_ticket_by_label_until_it_is_done(self, jira: Jira) -> None:
        destination = jira.destination()
        opened = destination.open(outgoing(), LABEL)

        found = destination.find_open(LABEL)
        assert found is not None and (found.key, found.id, found.status) == (opened.key, opened.id, TicketStatus.OPEN)
        assert destination.find_open("cn-ffffffffffffffff") is None
        destination.resolve(opened, outgoing(NC, C))
        assert destination.find_open(LABEL) is None
        (_, _, body) = jira.fake.calls("POST", "/search/jql" if self.flavor == "cloud" else "/search")[0]
        assert (
            body["jql"]
            == f'project = "{PROJECT}" AND labels = "{LABEL}" AND statusCategory != Done ORDER BY created ASC'
        )

    def test_comment_keeps_the_ticket_open(self, jira: Jira) -> None:
        destination = jira.destination()
        opened = destination.open(outgoing(), LABEL)
        commented = destination.comment(opened, outgoing())
        assert commented.status is TicketStatus.OPEN and commented.updated_at is not None
        (comment,) = jira.issue(opened).comments
        assert "Violated again" in text_of(comment)

    # -- resolve / reopen / close ------------------------------------------------------------------

    def test_resolve_comments_then_transitions_with_the_resolution_on_the_screen(self, jira: Jira) -> None:
        destination = jira.destination(resolution="Done")
        opened = destination.open(outgoing(), LABEL)
        resolved = destination.resolve(opened, outgoing(NC, C))

        assert (resolved.status, resolved.resolution) == (TicketStatus.RESOLVED, "Done")
        issue = jira.issue(opened)
        assert (issue.status, issue.resolution, issue.transitions) == ("Done", "Done", ["Done"])
        assert "Resolved" in text_of(issue.comments[0])
        posts = [path for method, path, _ in jira.fake.requests if method == "POST" and "/issue/" in path]
        assert posts[0].endswith("/comment") and posts[1].endswith("/transitions")  # a closed issue may refuse comments
        assert jira.fake.calls("POST", "/transitions")[0][2]["fields"] == {"resolution": {"name": "Done"}}

    @pytest.mark.parametrize("workflow", [Workflow(resolution_on_screen=False)])
    def test_resolve_sends_no_resolution_when_the_screen_lacks_it(self, jira: Jira) -> None:
        destination = jira.destination(resolution="Done")
        resolved = destination.resolve(destination.open(outgoing(), LABEL), outgoing(NC, C))
        (_, _, body) = jira.fake.calls("POST", "/transitions")[0]
        assert "fields" not in body
        assert (resolved.status, resolved.resolution) == (TicketStatus.RESOLVED, "Done")  # read back from Jira

    @pytest.mark.parametrize("workflow", [Workflow(direct_done=False)])
    def test_resolve_takes_several_hops_and_resumes_where_it_stopped(self, jira: Jira) -> None:
        destination = jira.destination(resolve_transition=["Start Progress", "Done"])
        first = destination.open(outgoing(), LABEL)
        destination.resolve(first, outgoing(NC, C))
        assert jira.issue(first).transitions == ["Start Progress", "Done"]

        # A retry after the first hop went through: the path resumes at the hop still offered.
        second = destination.open(outgoing(), "cn-2222222222222222")
        jira.fake.by_key(second.key).status = "In Progress"
        destination.resolve(second, outgoing(NC, C))
        assert jira.issue(second).transitions == ["Done"]

    def test_resolve_twice_acts_once(self, jira: Jira) -> None:
        destination = jira.destination()
        opened = destination.open(outgoing(), LABEL)
        destination.resolve(opened, outgoing(NC, C))
        again = destination.resolve(opened, outgoing(NC, C))  # a retry after a lost answer, or a replay
        assert again.status is TicketStatus.RESOLVED
        assert len(jira.issue(opened).comments) == 1 and jira.issue(opened).transitions == ["Done"]

    def test_an_unknown_transition_name_is_permanent_and_lists_what_is_offered(self, jira: Jira) -> None:
        destination = jira.destination(resolve_transition="Finish")
        opened = destination.open(outgoing(), LABEL)
        with pytest.raises(DeliveryError) as caught:
            destination.resolve(opened, outgoing(NC, C))
        assert not caught.value.retryable
        assert "'Finish'" in str(caught.value) and "'Done'" in str(caught.value)

    def test_a_resolution_the_screen_does_not_allow_is_permanent(self, jira: Jira) -> None:
        destination = jira.destination(resolution="Fixed")
        with pytest.raises(DeliveryError, match=r"does not allow resolution 'Fixed' \(allowed: Done, Won't Do"):
            destination.resolve(destination.open(outgoing(), LABEL), outgoing(NC, C))

    def test_reopen_transitions_back_then_comments(self, jira: Jira) -> None:
        destination = jira.destination()
        resolved = destination.resolve(destination.open(outgoing(), LABEL), outgoing(NC, C))
        reopened = destination.reopen(resolved, outgoing())

        assert (reopened.status, reopened.resolution) == (TicketStatus.OPEN, None)
        issue = jira.issue(resolved)
        assert (issue.status, issue.resolution, issue.transitions) == ("To Do", None, ["Done", "Reopen"])
        assert "Reopened" in text_of(issue.comments[-1])
        assert destination.find_open(LABEL) is not None

    def test_close_says_the_resource_is_gone_and_uses_the_retired_resolution(self, jira: Jira) -> None:
        destination = jira.destination()
        opened = destination.open(outgoing(), LABEL)
        closed = destination.close(opened, outgoing(NC, Compliance.NOT_APPLICABLE))

        assert (closed.status, closed.resolution) == (TicketStatus.CLOSED, "Won't Do")
        issue = jira.issue(opened)
        assert (issue.status, issue.resolution) == ("Done", "Won't Do")
        assert "deleted or is out of scope" in text_of(issue.comments[0])

    def test_a_wont_fix_ticket_is_never_commented_or_reopened(self, jira: Jira) -> None:
        destination = jira.destination(wont_fix=["won't fix"])  # Jira's spelling differs in case
        opened = destination.open(outgoing(), LABEL)
        by_hand = jira.fake.by_key(opened.key)
        by_hand.status, by_hand.resolution = "Done", "Won't Fix"  # a person accepted the risk

        seen = destination.comment(opened, outgoing())
        assert (seen.status, seen.resolution) == (TicketStatus.RESOLVED, "won't fix")  # as `plan` will match it
        assert destination.reopen(seen, outgoing()).resolution == "won't fix"
        assert by_hand.comments == [] and by_hand.transitions == [] and by_hand.status == "Done"

    def test_a_ticket_resolved_by_hand_is_reported_back_as_resolved(self, jira: Jira) -> None:
        destination = jira.destination()
        opened = destination.open(outgoing(), LABEL)
        by_hand = jira.fake.by_key(opened.key)
        by_hand.status, by_hand.resolution = "Done", "Duplicate"
        seen = destination.comment(opened, outgoing())
        assert (seen.status, seen.resolution) == (TicketStatus.RESOLVED, "Duplicate")
        assert by_hand.comments == []  # reported back for `plan` to reopen or open; a closed issue may refuse comments

    def test_reopening_a_ticket_a_person_already_reopened_only_comments(self, jira: Jira) -> None:
        destination = jira.destination()
        resolved = destination.resolve(destination.open(outgoing(), LABEL), outgoing(NC, C))
        by_hand = jira.fake.by_key(resolved.key)
        by_hand.status, by_hand.resolution = "In Progress", None
        reopened = destination.reopen(resolved, outgoing())
        assert reopened.status is TicketStatus.OPEN
        assert by_hand.transitions == ["Done"] and "Reopened" in text_of(by_hand.comments[-1])

    @pytest.mark.parametrize("action", ["comment", "resolve", "reopen", "close"])
    def test_a_deleted_ticket_raises_ticket_gone(self, jira: Jira, action: str) -> None:
        destination = jira.destination()
        opened = destination.open(outgoing(), LABEL)
        jira.fake.delete(opened.key)
        with pytest.raises(TicketGone) as caught:
            getattr(destination, action)(opened, outgoing())
        assert caught.value.ticket == opened.key and caught.value.destination == "sec-jira"


def text_of(document: Any) -> str:
    """All the text of an ADF document, or the wiki markup itself."""
    if isinstance(document, str):
        return document
    if isinstance(document, dict):
        own = document.get("text", "") if document.get("type") == "text" else ""
        return own + "".join(text_of(child) for child in document.get("content") or [])
    return ""
