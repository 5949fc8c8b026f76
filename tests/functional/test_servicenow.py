"""ServiceNow incidents against a fake instance that checks every request against ServiceNow's docs:
the lifecycle (open, comment, resolve, reopen, close), finding an incident again, and what the text says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from notifier.destinations import servicenow
from notifier.errors import NotifierError, TicketGone
from notifier.tickets.model import TicketStatus
from notifier.transition import Compliance
from tests.functional.servicenow_fake import ServiceNowFake
from tests.functional.servicenow_helpers import LABEL, RESOLVED, RETIRED, VIOLATED, build, label_of, outgoing, serving


@pytest.fixture
def fake() -> Iterator[ServiceNowFake]:
    with serving(ServiceNowFake()) as running:
        yield running


def test_open_creates_an_incident_with_the_documented_fields(fake: ServiceNowFake) -> None:
    options: dict[str, Any] = {
        "assignment_group": "8a4dde73c6112278017a6a4baf547aa7",
        "caller": "46c6f9efa9fe198101ddf5eed9adf6e7",
    }
    destination = build(fake, **options, category="security", subcategory="cloud", impact=2, urgency={"violated": 1})

    ticket = destination.open(VIOLATED, LABEL)

    (record,) = fake.incidents.values()
    assert (ticket.system, ticket.key, ticket.id) == ("servicenow", record["number"], record["sys_id"])
    assert ticket.status is TicketStatus.OPEN
    assert ticket.updated_at is not None and ticket.resolution is None
    link = urlsplit(ticket.url or "")
    assert f"{link.scheme}://{link.netloc}" == fake.url and link.path == "/nav_to.do"
    assert parse_qs(link.query)["uri"] == [f"incident.do?sys_id={ticket.id}"]
    assert record["correlation_id"] == LABEL and record["correlation_display"] == "compliance-notifier"
    assert (record["caller_id"], record["assignment_group"]) == (options["caller"], options["assignment_group"])
    assert (record["category"], record["subcategory"], record["impact"], record["urgency"], record["state"]) == (
        "security", "cloud", "2", "1", "1",
    )  # fmt: skip
    assert record["short_description"] == (
        "Non-compliant: AWS::Logs::LogGroup dev1 (cw-loggroup-retention-period-check-conformance-pack-qayjyopmd, "
        "746869318262 ap-southeast-2)"
    )
    assert "Current retentionInDays: 30 days" in record["description"] and LABEL in record["description"]
    assert fake.journal[ticket.id] == []


def test_impact_and_urgency_are_left_to_the_instance_when_not_configured(fake: ServiceNowFake) -> None:
    build(fake, urgency={"first_violation": 1}).open(VIOLATED, LABEL)  # a mapping without `violated`
    (_, _, _, body) = fake.requests_to("POST")[0]
    assert "impact" not in body and "urgency" not in body and "caller_id" not in body


def test_open_does_not_create_a_second_incident_when_one_is_already_open(fake: ServiceNowFake) -> None:
    # A POST whose answer was lost (a timeout after the instance created it) is retried: same incident.
    destination = build(fake)
    first = destination.open(VIOLATED, LABEL)
    again = destination.open(VIOLATED, LABEL)
    assert (again.key, again.id) == (first.key, first.id)
    assert len(fake.incidents) == 1 and len(fake.requests_to("POST")) == 1


def test_find_open_returns_only_the_open_incident_carrying_the_label(fake: ServiceNowFake) -> None:
    fake.add_incident(correlation_id="cn-someoneelse00000", short_description="another resource")
    resolved = fake.add_incident(correlation_id=LABEL, short_description="an earlier violation")
    fake.set_state(resolved["sys_id"], "6", close_code="Solution provided", close_notes="fixed")
    destination = build(fake)
    assert destination.find_open(LABEL) is None

    mine = fake.add_incident(correlation_id=LABEL, short_description="the current violation", state="2")
    found = destination.find_open(LABEL)
    assert found is not None and (found.key, found.id) == (mine["number"], mine["sys_id"])
    assert found.status is TicketStatus.OPEN
    (_, _, query, _) = fake.requests_to("GET")[-1]
    assert query["sysparm_query"] == f"correlation_id={LABEL}^stateIN1,2,3^ORDERBYsys_created_on"


def test_find_open_refuses_other_incidents_when_the_instance_ignores_the_query(
    fake: ServiceNowFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ServiceNow drops a condition on a field it does not know and answers with every open incident.
    # Show the fake does that, then that find_open still adopts nothing that is not its own.
    others = [fake.add_incident(correlation_id=f"cn-other{n:011d}") for n in range(3)]
    raw = requests.get(
        f"{fake.url}/api/now/v2/table/incident",
        params={"sysparm_query": f"correlaton_id={LABEL}^stateIN1,2,3", "sysparm_fields": "number"},
        headers={"Accept": "application/json"},
        auth=("integration", "s3cret-basic"),
        timeout=5,
    )
    assert {r["number"] for r in raw.json()["result"]} == {o["number"] for o in others}

    monkeypatch.setattr(servicenow, "QUERY_LABEL_FIELD", "correlaton_id")  # the typo, in our own query
    destination = build(fake)
    assert destination.find_open(LABEL) is None
    mine = fake.add_incident(correlation_id=LABEL)
    found = destination.find_open(LABEL)
    assert found is not None and found.id == mine["sys_id"]
    assert all("'correlaton_id' is not a field of this table" in v for v in fake.take_violations())


def test_comment_adds_a_work_note_and_changes_nothing_else(fake: ServiceNowFake) -> None:
    destination = build(fake)
    ticket = destination.open(VIOLATED, LABEL)
    gap = outgoing(Compliance.NON_COMPLIANT, Compliance.INSUFFICIENT_DATA)

    commented = destination.comment(ticket, gap)

    assert commented.status is TicketStatus.OPEN and commented.key == ticket.key
    (_, path, _, body) = fake.requests_to("PATCH")[-1]
    assert path == f"/api/now/v2/table/incident/{ticket.id}" and set(body) == {"work_notes"}
    (note,) = fake.journal[ticket.id]
    assert "has insufficient data to be evaluated" in note and "NON_COMPLIANT -> INSUFFICIENT_DATA" in note


def test_resolve_sets_state_6_with_close_code_notes_and_a_work_note_never_7(fake: ServiceNowFake) -> None:
    destination = build(fake)
    ticket = destination.open(VIOLATED, LABEL)

    resolved = destination.resolve(ticket, RESOLVED)

    assert (resolved.status, resolved.resolution) == (TicketStatus.RESOLVED, "Solution provided")
    record = fake.incidents[ticket.id]
    assert (record["state"], record["close_code"]) == ("6", "Solution provided")
    assert record["close_notes"].startswith("Resolved by compliance-notifier: AWS Config rule cw-loggroup")
    assert "COMPLIANT" in fake.journal[ticket.id][-1] and "Resolving this incident" in fake.journal[ticket.id][-1]


def test_configured_close_code_and_notes_are_used_when_resolving(fake: ServiceNowFake) -> None:
    destination = build(fake, close_code="Resolved by caller", close_notes="Fixed by the account owner.")
    resolved = destination.resolve(destination.open(VIOLATED, LABEL), RESOLVED)
    record = fake.incidents[resolved.id]
    assert (record["close_code"], record["close_notes"]) == ("Resolved by caller", "Fixed by the account owner.")
    assert resolved.resolution == "Resolved by caller"


def test_reopen_moves_a_resolved_incident_back_to_in_progress(fake: ServiceNowFake) -> None:
    destination = build(fake)
    resolved = destination.resolve(destination.open(VIOLATED, LABEL), RESOLVED)

    reopened = destination.reopen(resolved, VIOLATED)

    assert (reopened.status, reopened.resolution, reopened.key) == (TicketStatus.OPEN, None, resolved.key)
    record = fake.incidents[resolved.id]
    assert (record["state"], record["reopen_count"], record["active"]) == ("2", "1", "true")
    assert "Reopening this incident" in fake.journal[resolved.id][-1]


def test_close_for_a_retired_resource_resolves_with_notes_saying_it_was_not_fixed(fake: ServiceNowFake) -> None:
    destination = build(fake, close_notes="Fixed by the account owner.")  # for fixes, not for retirements
    ticket = destination.open(VIOLATED, LABEL)

    closed = destination.close(ticket, RETIRED)

    assert (closed.status, closed.resolution) == (TicketStatus.CLOSED, "Solution provided")
    record = fake.incidents[ticket.id]
    assert record["state"] == "6"  # resolved: the instance closes it; an integration must not
    assert "was deleted or is no longer in scope" in record["close_notes"] and "was not fixed" in record["close_notes"]
    assert "deleted or is out of scope" in fake.journal[ticket.id][-1]


def test_an_incident_resolved_by_a_person_is_reflected_not_overwritten(fake: ServiceNowFake) -> None:
    destination = build(fake)
    ticket = destination.open(VIOLATED, LABEL)
    fake.set_state(ticket.id, "6", close_code="Workaround provided", close_notes="Retention raised by hand")

    commented = destination.comment(ticket, VIOLATED)
    resolved = destination.resolve(ticket, RESOLVED)

    assert (commented.status, commented.resolution) == (TicketStatus.RESOLVED, "Workaround provided")
    assert (resolved.status, resolved.resolution) == (TicketStatus.RESOLVED, "Workaround provided")
    assert all(set(body) == {"work_notes"} for (_, _, _, body) in fake.requests_to("PATCH"))
    assert fake.incidents[ticket.id]["close_notes"] == "Retention raised by hand"
    assert len(fake.journal[ticket.id]) == 2


def test_a_retirement_after_a_person_resolved_it_only_adds_a_note(fake: ServiceNowFake) -> None:
    destination = build(fake)
    ticket = destination.open(VIOLATED, LABEL)
    fake.set_state(ticket.id, "6", close_code="Known error", close_notes="Accepted")

    closed = destination.close(ticket, RETIRED)

    assert (closed.status, closed.resolution) == (TicketStatus.CLOSED, "Known error")  # a relapse opens a new one
    assert [set(body) for (_, _, _, body) in fake.requests_to("PATCH")] == [{"work_notes"}]
    assert fake.incidents[ticket.id]["close_notes"] == "Accepted"


def test_reopening_an_incident_a_person_already_reopened_only_adds_a_note(fake: ServiceNowFake) -> None:
    destination = build(fake)
    resolved = destination.resolve(destination.open(VIOLATED, LABEL), RESOLVED)
    fake.set_state(resolved.id, "3")  # on hold, by a person

    reopened = destination.reopen(resolved, VIOLATED)

    assert reopened.status is TicketStatus.OPEN and fake.incidents[resolved.id]["state"] == "3"
    assert set(fake.requests_to("PATCH")[-1][3]) == {"work_notes"}


@pytest.mark.parametrize("state", ["7", "8"])  # closed, canceled
def test_an_incident_closed_by_a_person_is_never_written(fake: ServiceNowFake, state: str) -> None:
    destination = build(fake)
    ticket = destination.open(VIOLATED, LABEL)
    fake.set_state(ticket.id, state, close_code="Duplicate")

    after = [action(ticket, VIOLATED) for action in (destination.comment, destination.resolve, destination.reopen)]
    after.append(destination.close(ticket, RETIRED))

    assert {t.status for t in after} == {TicketStatus.CLOSED} and fake.requests_to("PATCH") == []
    assert {t.resolution for t in after} == {"Duplicate"}


def test_an_incident_deleted_by_hand_raises_ticket_gone(fake: ServiceNowFake) -> None:
    destination = build(fake)
    ticket = destination.open(VIOLATED, LABEL)
    fake.delete(ticket.id)
    for action in (destination.comment, destination.resolve, destination.reopen, destination.close):
        with pytest.raises(TicketGone) as caught:
            action(ticket, VIOLATED)
        assert caught.value.ticket == ticket.key and caught.value.destination == "sec-snow"


def test_markup_and_control_characters_stay_plain_text(fake: ServiceNowFake) -> None:
    hostile = "<b>x</b>\x00\x1b[31m[code]<img src=x onerror=alert(1)>[/code]\u2028&amp;"
    message = outgoing(resource_id=hostile, annotation="<script>alert(1)</script>\x07 [CODE]<i>i</i>[/CODE]")
    destination = build(fake)

    ticket = destination.comment(destination.open(message, label_of(message)), message)

    record, (note,) = fake.incidents[ticket.id], fake.journal[ticket.id]
    for text in (record["short_description"], record["description"], note):
        assert "<b>x</b>" in text and "&amp;" in text and "&lt;" not in text  # as typed, not escaped
        assert "[code]" not in text.lower() and "[\u200bcode]" in text.lower()  # journal [code] would be HTML
        assert not any(ch in text for ch in "\x00\x1b\x07\u2028")
    assert "<script>alert(1)</script>" in note
    # The fake also fails the test at teardown if a control character the instance cannot store got through.


def test_long_fields_are_cut_to_the_sizes_of_the_incident_fields(fake: ServiceNowFake) -> None:
    message = outgoing(resource_id="r" * 500, annotation="a" * 9000)
    destination = build(fake)

    ticket = destination.comment(destination.open(message, label_of(message)), message)

    record, (note,) = fake.incidents[ticket.id], fake.journal[ticket.id]
    assert len(record["short_description"]) == 160 and record["short_description"].endswith("…")
    assert len(record["description"]) <= 4000 and record["description"].endswith("characters]")
    assert "cut by compliance-notifier: the full text had" in record["description"]
    assert len(note) <= 4000 and "cut by compliance-notifier" in note


def test_user_templates_override_the_bundled_ones_file_by_file(fake: ServiceNowFake, tmp_path: Path) -> None:
    (tmp_path / "servicenow").mkdir()
    (tmp_path / "servicenow" / "short_description.txt.j2").write_text("[SEC] {{ resource_id }} / {{ account }}")
    ticket = build(fake, templates_dir=tmp_path).open(VIOLATED, LABEL)
    record = fake.incidents[ticket.id]
    assert record["short_description"] == "[SEC] dev1 / 746869318262"
    assert record["description"].startswith("AWS Config found")  # still the bundled description


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"client_id": "abc", "client_secret": "env:X", "username": "u", "password": "env:Y"}, "either username"),
        ({"password": None}, "either username"),
        ({"url": "http://acme.service-now.com"}, "must be https"),
        ({"impact": 4}, "impact must be 1, 2 or 3"),
        ({"urgency": {"violated": "high"}}, "urgency has an invalid entry"),
        ({"table": "Incident;DROP"}, "not a ServiceNow table name"),
        ({"template": "missing-set"}, "not found"),
    ],
)
def test_unusable_config_fails_when_the_destination_is_built(
    fake: ServiceNowFake, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(NotifierError, match=message) as caught:
        build(fake, **options)
    assert "sec-snow" in str(caught.value)
