"""ServiceNow failures, auth (basic and OAuth client credentials), and the fake's contract checker itself."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from notifier.destinations.servicenow_auth import REFRESH_MARGIN_SECONDS, ClientCredentialsAuth
from notifier.errors import DeliveryError
from notifier.tickets.model import TicketStatus
from tests.functional.servicenow_fake import ServiceNowFake
from tests.functional.servicenow_helpers import CLIENT, LABEL, SECRETS, VIOLATED, build, serving

OAUTH: dict[str, Any] = {"client_id": CLIENT[0], "client_secret": "env:SN_CLIENT_SECRET"}


@pytest.fixture
def fake() -> Iterator[ServiceNowFake]:
    with serving(ServiceNowFake()) as running:
        yield running


@pytest.fixture
def oauth_fake() -> Iterator[ServiceNowFake]:
    with serving(ServiceNowFake(basic=None, client=CLIENT)) as running:
        yield running


def failure_of(fake: ServiceNowFake, kind: str, **options: Any) -> DeliveryError:
    destination = build(fake, **options)
    fake.fail_next(kind)
    with pytest.raises(DeliveryError) as caught:
        destination.find_open(LABEL)
    assert caught.value.destination == "sec-snow"
    return caught.value


@pytest.mark.parametrize(
    ("kind", "retryable", "words"),
    [
        ("rate_limited", True, "answered 429 (rate limited; retry after 7 s)"),
        ("server_error", True, "answered 500: Internal server error; Transaction cancelled"),
        ("hibernating", True, "answered 200 with text/html"),  # a sleeping instance's login page
        ("bad_request", False, "answered 400: Exception while reading request; Cannot decode"),
        ("unauthorized", False, "answered 401: the credentials were refused"),
        ("forbidden", False, "answered 403: the credentials were refused; check this destination's secret references: "
         "Operation Failed; ACL Exception"),
        ("not_found", False, "answered 404: No Record found"),  # a list that is not there: not a deleted ticket
    ],
)  # fmt: skip
def test_every_answer_is_classified_once(fake: ServiceNowFake, kind: str, retryable: bool, words: str) -> None:
    error = failure_of(fake, kind)
    assert error.retryable is retryable
    assert words in str(error)
    assert error.retry_after == (7.0 if kind == "rate_limited" else None)


def test_a_timeout_is_retryable(fake: ServiceNowFake) -> None:
    fake.slow_seconds = 0.3
    error = failure_of(fake, "slow", timeout=0.05)
    assert error.retryable and "timed out after 0.05 s" in str(error)


def test_an_instance_that_is_down_is_retryable(fake: ServiceNowFake) -> None:
    destination = build(fake)
    fake.go_down()
    with pytest.raises(DeliveryError) as caught:
        destination.open(VIOLATED, LABEL)
    assert caught.value.retryable and "cannot connect" in str(caught.value)


def test_a_failed_open_creates_nothing_and_a_retry_creates_one(fake: ServiceNowFake) -> None:
    destination = build(fake)
    fake.fail_next("server_error")
    with pytest.raises(DeliveryError):
        destination.open(VIOLATED, LABEL)
    assert fake.incidents == {}
    assert destination.open(VIOLATED, LABEL).status is TicketStatus.OPEN and len(fake.incidents) == 1


def test_an_unknown_table_surfaces_the_instances_words(fake: ServiceNowFake) -> None:
    with pytest.raises(DeliveryError, match="answered 400: Invalid table u_cloud_findings") as caught:
        build(fake, table="u_cloud_findings").find_open(LABEL)
    assert caught.value.retryable is False


def test_a_refused_password_is_permanent_and_never_shown(
    fake: ServiceNowFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    destination = build(fake, environ={"SN_PASSWORD": "not-the-password"})
    with pytest.raises(DeliveryError) as caught:
        destination.open(VIOLATED, LABEL)
    assert caught.value.retryable is False and "'sec-snow'" in str(caught.value)
    assert "not-the-password" not in str(caught.value) and "not-the-password" not in caplog.text


def test_a_missing_secret_names_the_reference_only(fake: ServiceNowFake) -> None:
    with pytest.raises(DeliveryError, match=r"env:SN_PASSWORD.*SN_PASSWORD is not set") as caught:
        build(fake, environ={}).find_open(LABEL)
    assert caught.value.retryable is False and fake.seen == []


def test_a_label_the_query_language_could_misread_is_refused_before_any_request(fake: ServiceNowFake) -> None:
    with pytest.raises(DeliveryError, match="cannot be a correlation_id"):
        build(fake).find_open("cn-1^ORcorrelation_id!=x")
    with pytest.raises(DeliveryError, match="cannot be a correlation_id"):
        build(fake).open(VIOLATED, "cn-" + "0" * 100)
    assert fake.seen == []


def test_oauth_fetches_one_token_with_client_credentials_and_reuses_it(oauth_fake: ServiceNowFake) -> None:
    destination = build(oauth_fake, **OAUTH)
    ticket = destination.open(VIOLATED, LABEL)
    destination.comment(ticket, VIOLATED)

    assert oauth_fake.tokens_issued == 1
    (_, path, _, _) = oauth_fake.seen[0]
    assert path == "/oauth_token.do"
    assert [method for method, *_ in oauth_fake.seen] == ["POST", "GET", "POST", "GET", "PATCH"]


def test_oauth_refreshes_once_on_401_then_gives_up(oauth_fake: ServiceNowFake) -> None:
    destination = build(oauth_fake, **OAUTH)
    ticket = destination.open(VIOLATED, LABEL)
    oauth_fake.expire_tokens()  # revoked on the instance before it expired here

    assert destination.comment(ticket, VIOLATED).status is TicketStatus.OPEN
    assert oauth_fake.tokens_issued == 2

    oauth_fake.fail_next("unauthorized", times=2)  # refused again with a brand-new token: really refused
    with pytest.raises(DeliveryError, match="answered 401") as caught:
        destination.comment(ticket, VIOLATED)
    assert caught.value.retryable is False and oauth_fake.tokens_issued == 3


def test_oauth_token_is_renewed_shortly_before_it_expires(oauth_fake: ServiceNowFake) -> None:
    destination = build(oauth_fake, **OAUTH)
    auth = destination.auth
    assert isinstance(auth, ClientCredentialsAuth)
    now = [1000.0]
    auth.clock = lambda: now[0]

    destination.find_open(LABEL)
    now[0] += oauth_fake.token_lifetime - REFRESH_MARGIN_SECONDS - 1
    destination.find_open(LABEL)
    assert oauth_fake.tokens_issued == 1
    now[0] += 2  # now within the margin
    destination.find_open(LABEL)
    assert oauth_fake.tokens_issued == 2


def test_oauth_with_a_wrong_client_secret_is_permanent_and_never_shown(
    oauth_fake: ServiceNowFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    destination = build(oauth_fake, environ={**SECRETS, "SN_CLIENT_SECRET": "wrong-secret"}, **OAUTH)
    with pytest.raises(DeliveryError, match=r"POST /oauth_token\.do answered 401") as caught:
        destination.find_open(LABEL)
    assert caught.value.retryable is False
    assert "wrong-secret" not in str(caught.value) and "wrong-secret" not in caplog.text
    assert [path for _, path, *_ in oauth_fake.seen] == ["/oauth_token.do"]


def test_the_checker_catches_requests_the_docs_do_not_allow(fake: ServiceNowFake) -> None:
    session = requests.Session()
    session.auth = ("integration", "s3cret-basic")
    base = f"{fake.url}/api/now"
    bad_body = {"state": "7", "sys_id": "x", "u_typo": "y", "impact": 2, "correlation_id": "c" * 150}
    session.post(f"{base}/v2/table/incident", json=bad_body, headers={"Accept": "application/json"}, timeout=5)
    session.get(f"{base}/table/incident", params={"sysparm_limt": "1"}, headers={"Accept": "text/html"}, timeout=5)
    (incident,) = fake.incidents.values()
    session.patch(
        f"{base}/v2/table/incident/{incident['sys_id']}",
        data='{"state": "6"}',
        params={"sysparm_exclude_reference_link": "true"},
        headers={"Accept": "application/json", "Content-Type": "text/plain"},
        timeout=5,
    )

    found = "\n".join(fake.take_violations())
    for expected in (
        "POST: state '7' may not be written by an integration",
        "POST: 'sys_id' is a system field",
        "POST: 'u_typo' is not a field compliance-notifier documents writing",
        "POST: 'impact' is int, the docs send strings",
        "POST: 'correlation_id' has 150 characters",
        "/api/now/table/incident: use /api/now/v2",
        "GET /table/{tableName}: query parameter 'sysparm_limt' is not in the docs",
        "GET: Accept is 'text/html'",
        "PATCH: Content-Type is 'text/plain'",
        "PATCH /table/{tableName}/{sys_id}: query parameter 'sysparm_exclude_reference_link' is not in the docs",
        "PATCH: the body is not a JSON object",
    ):
        assert expected in found
