"""Failures, text limits and templates every Jira flavor must handle (mixed into the flavor's test class).

The `jira` fixture comes from `JiraCases`, which the flavor's test class also inherits.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
import requests

from notifier.errors import DeliveryError, NotifierError
from tests.functional.jira_cases import LABEL, Jira, outgoing, text_of
from tests.functional.jira_fake import PROJECT, TOKEN
from tests.functional.smtp_server import closed_port


class JiraErrorCases:
    flavor: ClassVar[str]

    # -- errors ------------------------------------------------------------------------------------

    def test_429_is_retryable_after_the_time_jira_asks(self, jira: Jira) -> None:
        jira.fake.fail_next(
            429,
            body={"errorMessages": ["Rate limit exceeded."]},
            headers={"Retry-After": "7", "X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0"},
        )
        with pytest.raises(DeliveryError) as caught:
            jira.destination().open(outgoing(), LABEL)
        assert caught.value.retryable and caught.value.retry_after == 7.0

    @pytest.mark.parametrize("status", [500, 502, 503])
    def test_5xx_is_retryable(self, jira: Jira, status: int) -> None:
        jira.fake.fail_next(status, body={"errorMessages": ["Internal server error"]})
        with pytest.raises(DeliveryError) as caught:
            jira.destination().find_open(LABEL)
        assert caught.value.retryable and str(status) in str(caught.value)

    def test_a_refused_token_is_permanent_names_the_destination_and_never_the_token(self, jira: Jira) -> None:
        with pytest.raises(DeliveryError) as caught:
            jira.destination(token="env:WRONG_TOKEN").open(outgoing(), LABEL)
        error = caught.value
        assert not error.retryable and "401" in str(error) and "'sec-jira'" in str(error)
        for shown in (str(error), repr(error), repr(error.args)):
            assert "not-the-token" not in shown and TOKEN not in shown

    def test_a_missing_secret_is_reported_by_its_reference(self, jira: Jira) -> None:
        with pytest.raises(DeliveryError, match="env:NO_SUCH_TOKEN") as caught:
            jira.destination(token="env:NO_SUCH_TOKEN").open(outgoing(), LABEL)
        assert not caught.value.retryable and jira.fake.requests == []

    def test_400_surfaces_jiras_own_words(self, jira: Jira) -> None:
        jira.fake.fail_next(400, body={"errorMessages": ["Field 'priority' is required"], "errors": {"x": "bad x"}})
        with pytest.raises(DeliveryError) as caught:
            jira.destination().open(outgoing(), LABEL)
        assert not caught.value.retryable
        assert "Field 'priority' is required" in str(caught.value) and "x: bad x" in str(caught.value)

    def test_a_real_400_from_bad_config_is_permanent(self, jira: Jira) -> None:
        with pytest.raises(DeliveryError, match="components: Component name is not valid") as caught:
            jira.destination(components=["no-such-component"]).open(outgoing(), LABEL)
        assert not caught.value.retryable

    def test_a_timeout_is_retryable(self, jira: Jira) -> None:
        jira.fake.delay_next(0.6)
        with pytest.raises(DeliveryError, match="timed out") as caught:
            jira.destination(timeout=0.2).find_open(LABEL)
        assert caught.value.retryable

    def test_a_refused_connection_is_retryable(self, jira: Jira) -> None:
        destination = jira.destination(url=f"http://127.0.0.1:{closed_port()}")
        with pytest.raises(DeliveryError, match="cannot connect") as caught:
            destination.open(outgoing(), LABEL)
        assert caught.value.retryable

    # -- text limits and templates -----------------------------------------------------------------

    def test_the_summary_is_one_line_of_at_most_255_characters(self, jira: Jira) -> None:
        ticket = jira.destination().open(outgoing(resource_id="x" * 300 + "\nsecond line"), LABEL)
        summary = jira.issue(ticket).fields["summary"]
        assert len(summary) <= 255 and "\n" not in summary and summary.endswith("…")

    def test_a_long_description_is_cut_with_a_visible_note(self, jira: Jira) -> None:
        destination = jira.destination()
        ticket = destination.open(outgoing(annotation="too long " * 5000), LABEL)  # 45,000 characters
        description = jira.issue(ticket).fields["description"]
        assert "Truncated" in text_of(description)
        destination.comment(ticket, outgoing(annotation="😀" * 20000))  # 40,000 UTF-16 units
        assert "Truncated" in text_of(jira.issue(ticket).comments[0])

    def test_users_can_override_one_template_of_the_set(self, jira: Jira, tmp_path: Path) -> None:
        (tmp_path / "jira").mkdir()
        (tmp_path / "jira" / "summary.txt.j2").write_text("Fix {{ resource_id }} please")
        jira.templates_dir = tmp_path
        ticket = jira.destination().open(outgoing(), LABEL)
        assert jira.issue(ticket).fields["summary"] == "Fix dev1 please"
        assert "dev1" in text_of(jira.issue(ticket).fields["description"])  # the rest still comes from the bundle

    def test_a_broken_template_is_a_config_error_when_the_destination_is_built(
        self, jira: Jira, tmp_path: Path
    ) -> None:
        (tmp_path / "jira").mkdir()
        (tmp_path / "jira" / "summary.txt.j2").write_text("{{ no_such_variable }}")
        jira.templates_dir = tmp_path
        with pytest.raises(NotifierError, match=r"summary\.txt\.j2"):
            jira.destination()

    def test_the_checker_rejects_a_request_outside_the_contract(self, jira: Jira) -> None:
        api = "/rest/api/3" if self.flavor == "cloud" else "/rest/api/2"
        bad = {"fields": {"project": {"key": PROJECT}, "summary": "x", "description": 42}, "transition": "31"}
        answer = requests.post(jira.fake.url + api + "/issue", json=bad, timeout=5)
        unknown = requests.get(jira.fake.url + api + "/issue/SEC-1/watchers", timeout=5)
        assert answer.status_code == 400 and unknown.status_code == 400
        violations = list(jira.fake.violations)
        assert any("transition" in v for v in violations), violations  # the body schema: an object, not a string
        assert any("description" in v for v in violations), violations  # ADF on Cloud, wiki text on DC
        assert any("not an operation of the contract" in v for v in violations), violations
        jira.fake.violations.clear()  # seen and asserted: do not fail the teardown check
