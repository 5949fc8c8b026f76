"""Signed webhooks against a real HTTP server on 127.0.0.1; every signature is checked by the
`standardwebhooks` reference package, every default body against schemas/webhook-payload.v1.schema.json."""

from __future__ import annotations

import base64
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug import Request, Response

from notifier.destinations.base import DestinationSpec, Outgoing
from notifier.destinations.registry import BuildContext, build_destination
from notifier.destinations.webhook import CREDENTIAL_HEADER, WebhookDestination
from notifier.envelopes import InboundMessage
from notifier.errors import DeliveryError, NotifierError
from notifier.notification import ComplianceNotification, parse
from notifier.render import Renderer
from notifier.resources import load_schema_file
from notifier.routing.config import find_problems
from notifier.secrets import SecretResolver
from notifier.transition import transition
from tests.conftest import compliance_message, valid_compliance_messages


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


OLD, NEW = new_secret(), new_secret()
ENVIRON = {"HOOK_OLD": OLD, "HOOK_NEW": NEW, "HOOK_TOKEN": "Bearer t0ken-value", "NOT_A_KEY": "hunter2-password"}
PAYLOAD_SCHEMA = jsonschema.Draft7Validator(load_schema_file("webhook-payload.v1.schema.json"))


def outgoing(body: dict[str, Any] | None = None, **changes: Any) -> Outgoing:
    parsed = parse(InboundMessage("config", "$", body=body or compliance_message("ComplianceChangeNotification__02_")))
    assert isinstance(parsed, ComplianceNotification)
    notification = parsed._replace(**changes)
    kind = transition(notification.old_compliance, notification.new.compliance)
    return Outgoing(notification, kind, ("iam-violations",), "sns-message-1")


def build(url: str, *, name: str = "sec-hook", templates: Path | None = None, **options: Any) -> WebhookDestination:
    spec = DestinationSpec(name, "webhook", {"url": url, "secrets": ["env:HOOK_OLD"], **options})
    destination = build_destination(spec, BuildContext(Renderer(templates), SecretResolver(environ=ENVIRON)))
    assert isinstance(destination, WebhookDestination)
    return destination


def received(server: HTTPServer) -> list[tuple[bytes, dict[str, str]]]:
    return [(request.get_data(), dict(request.headers)) for request, _ in server.log]


def verify(secret: str, body: bytes, headers: dict[str, str]) -> Any:
    return Webhook(secret).verify(body, headers)


def test_the_body_is_signed_versioned_and_valid(httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request("/hooks/compliance", method="POST").respond_with_data("", status=204)
    message = outgoing()

    assert build(httpserver_ipv4.url_for("/hooks/compliance")).send(message) is None

    [(body, headers)] = received(httpserver_ipv4)
    payload = verify(OLD, body, headers)  # raises unless the signature, id and timestamp hold
    PAYLOAD_SCHEMA.validate(payload)
    assert headers["Content-Type"] == "application/json" and headers["Webhook-Id"] == payload["id"]
    assert abs(int(headers["Webhook-Timestamp"]) - time.time()) < 5
    n = message.notification
    assert payload["notification"]["resource_id"] == n.resource_id and payload["timestamp"] == n.new.ordering_timestamp
    assert payload["transition"] == {"kind": "violated", "from": "COMPLIANT", "to": "NON_COMPLIANT",
                                     "in_words": "became non-compliant"}
    assert payload["routes"] == ["iam-violations"] and payload["message_id"] == "sns-message-1"
    assert payload["links"]["resource"].startswith(f"https://{n.region}.console.aws.amazon.com/config/")


@pytest.mark.parametrize("body", valid_compliance_messages(), ids=lambda b: b["configRuleName"][:30])
def test_every_real_notification_gives_a_schema_valid_payload(httpserver_ipv4: HTTPServer, body: Any) -> None:
    httpserver_ipv4.expect_request("/h").respond_with_data("ok")
    build(httpserver_ipv4.url_for("/h")).send(outgoing(body))
    [(sent, headers)] = received(httpserver_ipv4)
    PAYLOAD_SCHEMA.validate(verify(OLD, sent, headers))


def test_every_secret_signs_so_either_side_of_a_rotation_verifies(httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request("/h").respond_with_data("ok")
    build(httpserver_ipv4.url_for("/h"), secrets=["env:HOOK_OLD", "env:HOOK_NEW"]).send(outgoing())

    [(body, headers)] = received(httpserver_ipv4)
    assert [s.split(",")[0] for s in headers["Webhook-Signature"].split(" ")] == ["v1", "v1"]
    verify(OLD, body, headers)  # a receiver not yet moved to the new secret
    verify(NEW, body, headers)  # a receiver already moved
    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), body, headers)


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp"])
def test_anything_tampered_with_fails_verification(httpserver_ipv4: HTTPServer, tamper: str) -> None:
    httpserver_ipv4.expect_request("/h").respond_with_data("ok")
    build(httpserver_ipv4.url_for("/h")).send(outgoing())
    [(body, headers)] = received(httpserver_ipv4)
    verify(OLD, body, headers)
    if tamper == "body":
        body = body.replace(b"NON_COMPLIANT", b"COMPLIANT")
    elif tamper == "id":
        headers["Webhook-Id"] = headers["Webhook-Id"][:-1] + ("0" if headers["Webhook-Id"][-1] != "0" else "1")
    else:
        headers["Webhook-Timestamp"] = str(int(headers["Webhook-Timestamp"]) - 1)
    with pytest.raises(WebhookVerificationError):
        verify(OLD, body, headers)


def test_a_retry_carries_the_same_id_and_body(httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_oneshot_request("/h").respond_with_data("busy", status=503)
    httpserver_ipv4.expect_oneshot_request("/h").respond_with_data("ok")
    destination, message = build(httpserver_ipv4.url_for("/h")), outgoing()

    with pytest.raises(DeliveryError) as raised:
        destination.send(message)
    assert raised.value.retryable
    destination.send(message)

    (first, first_headers), (second, second_headers) = received(httpserver_ipv4)
    assert first_headers["Webhook-Id"] == second_headers["Webhook-Id"] and first == second
    verify(OLD, second, second_headers)


def test_ids_differ_per_change_and_per_destination() -> None:
    one, url = outgoing(), "https://hooks.example.com/h"
    later = outgoing(new=one.notification.new._replace(ordering_timestamp="2030-01-01T00:00:00.000Z"))
    ids = {
        build(url).builder.body(one)[0],
        build(url).builder.body(later)[0],
        build(url, name="other-hook").builder.body(one)[0],
    }
    assert len(ids) == 3 and all(i.startswith("msg_") and "." not in i for i in ids)


@pytest.mark.parametrize("url", ["http://example.com/h", "http://10.0.0.1/h", "http://127.0.0.1.example.com/h"])
def test_plain_http_is_refused_except_to_loopback(url: str) -> None:
    with pytest.raises(NotifierError, match=r"plain http://, .* loopback"):
        build(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/h", "http://127.9.9.9/h", "http://[::1]:9/h", "http://localhost/h", "https://a.b/h"]
)
def test_https_anywhere_and_http_to_loopback_are_accepted(url: str) -> None:
    build(url)


@pytest.mark.parametrize(
    ("url", "words"), [("ftp://example.com/h", "https://"), ("https://user:pw@example.com/h", "credentials")]
)
def test_other_urls_are_refused(url: str, words: str) -> None:
    with pytest.raises(NotifierError, match=words) as raised:
        build(url)
    assert "pw@" not in str(raised.value)


def test_a_redirect_is_not_followed_to_another_host(httpserver_ipv4: HTTPServer) -> None:
    other = HTTPServer(host="127.0.0.1", port=0)
    other.expect_request("/elsewhere").respond_with_data("ok")
    other.start()
    try:
        location = other.url_for("/elsewhere")
        httpserver_ipv4.expect_request("/h").respond_with_data("", status=307, headers={"Location": location})
        with pytest.raises(DeliveryError) as raised:
            build(httpserver_ipv4.url_for("/h")).send(outgoing())
        assert other.log == []
    finally:
        other.stop()
    assert not raised.value.retryable and location in str(raised.value)


def test_extra_headers_are_sent_and_secret_ones_resolved(httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request("/h").respond_with_data("ok")
    headers = {"X-Team": "platform-security", "Authorization": "env:HOOK_TOKEN"}
    build(httpserver_ipv4.url_for("/h"), headers=headers).send(outgoing())
    [(body, sent)] = received(httpserver_ipv4)
    assert sent["X-Team"] == "platform-security" and sent["Authorization"] == "Bearer t0ken-value"
    verify(OLD, body, sent)


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"Authorization": "Bearer hunter2-password"}, "must be a secret reference"),
        ({"X-Api-Key": "hunter2-password"}, "must be a secret reference"),
        ({"webhook-signature": "v1,hunter2-password"}, "cannot be replaced"),
        ({"Content-Type": "text/plain"}, "cannot be replaced"),
        ({"Bad Name": "x"}, "not a valid HTTP header name"),
        ({"X-Note": "a\r\nX-Injected: hunter2-password"}, "line break"),
    ],
)
def test_header_mistakes_are_refused_without_quoting_values(headers: dict[str, str], words: str) -> None:
    with pytest.raises(NotifierError, match=words) as raised:
        build("https://hooks.example.com/h", headers=headers)
    assert "hunter2" not in str(raised.value)


def test_the_schema_and_the_channel_agree_on_credential_header_names() -> None:
    schema = load_schema_file("routing-config.schema.json")
    [pattern] = schema["definitions"]["webhook_destination"]["properties"]["headers"]["patternProperties"]
    names = ["Authorization", "X-API-KEY", "Cookie", "X-Auth-Token", "X-Secret", "Passphrase", "X-Team", "Accept"]
    assert [bool(re.search(pattern, n)) for n in names] == [bool(CREDENTIAL_HEADER.search(n)) for n in names]
    assert [bool(CREDENTIAL_HEADER.search(n)) for n in names] == [True] * 6 + [False] * 2


def test_a_slow_receiver_times_out_as_retryable(httpserver_ipv4: HTTPServer) -> None:
    def slow(_: Request) -> Response:
        time.sleep(0.6)
        return Response("late")

    httpserver_ipv4.expect_request("/slow").respond_with_handler(slow)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match=r"timed out after 0\.2 s") as raised:
        build(httpserver_ipv4.url_for("/slow"), timeout=0.2).send(outgoing())
    assert raised.value.retryable and time.monotonic() - started < 0.55
    deadline = time.monotonic() + 5  # the server is shared: let the late answer land in this test's log
    while not httpserver_ipv4.log and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after"),
    [(429, {"Retry-After": "7"}, True, 7.0), (500, {}, True, None), (410, {}, False, None), (400, {}, False, None)],
)
def test_answers_are_classified(
    httpserver_ipv4: HTTPServer, status: int, headers: dict[str, str], retryable: bool, retry_after: float | None
) -> None:
    httpserver_ipv4.expect_request("/h").respond_with_data("no", status=status, headers=headers)
    with pytest.raises(DeliveryError) as raised:
        build(httpserver_ipv4.url_for("/h") + "?token=q-secret").send(outgoing())
    assert (raised.value.retryable, raised.value.retry_after) == (retryable, retry_after)
    assert f"answered {status}" in str(raised.value) and "q-secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({"HOOK_OLD": "hunter2-password"}, "does not start with 'whsec_'"),
        ({"HOOK_OLD": "whsec_hunter2-password!"}, "is not base64"),
        ({"HOOK_OLD": "whsec_" + base64.b64encode(b"hunter2-password").decode()}, "fewer than 24 bytes"),
        ({}, "HOOK_OLD is not set"),
    ],
)
def test_a_bad_secret_is_a_permanent_error_naming_only_the_reference(environ: dict[str, str], words: str) -> None:
    spec = DestinationSpec("d", "webhook", {"url": "https://hooks.example.com/h", "secrets": ["env:HOOK_OLD"]})
    destination = build_destination(spec, BuildContext(Renderer(), SecretResolver(environ=environ)))
    with pytest.raises(DeliveryError, match=words) as raised:
        destination.send(outgoing())
    assert not raised.value.retryable and "env:HOOK_OLD" in str(raised.value) and "hunter2" not in str(raised.value)


def test_a_template_shapes_the_signed_body(httpserver_ipv4: HTTPServer, tmp_path: Path) -> None:
    (tmp_path / "thin").mkdir()
    (tmp_path / "thin" / "webhook.json.j2").write_text(
        '{"event": {{ payload.type|tojson }}, "id": {{ webhook_id|tojson }}, "resource": {{ resource_id|tojson }}}'
    )
    httpserver_ipv4.expect_request("/h").respond_with_data("ok")
    message = outgoing(resource_id='a "quoted" <id> & more')
    build(httpserver_ipv4.url_for("/h"), templates=tmp_path, template="thin").send(message)
    [(body, headers)] = received(httpserver_ipv4)
    assert verify(OLD, body, headers) == {
        "event": "compliance.change", "id": headers["Webhook-Id"], "resource": 'a "quoted" <id> & more'
    }


def test_a_template_that_is_not_json_fails_at_build(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "webhook.json.j2").write_text('{"resource": {{ resource_id }}}')
    with pytest.raises(NotifierError, match=r"broken/webhook.json.j2 did not render JSON .* \|tojson"):
        build("https://hooks.example.com/h", templates=tmp_path, template="broken")


def config_problems(destination: str) -> list[str]:
    text = f"destinations:\n  d: {destination}\nroutes:\n  - {{name: r, destinations: [d]}}\n"
    return [str(p) for p in find_problems(text, "t.yml", Path("."))]


def test_a_complete_webhook_config_is_accepted() -> None:
    assert config_problems(
        "{type: webhook, url: 'https://hooks.example.com/h', secrets: [env:A, 'ssm:/hooks/b'], version: 1, "
        "headers: {X-Team: sec, Authorization: 'secretsmanager:hook#auth'}, timeout: 20, template: thin}"
    ) == []


@pytest.mark.parametrize(
    ("destination", "words"),
    [
        ("{type: webhook, url: 'https://h.example.com'}", "required key 'secrets'"),
        ("{type: webhook, secrets: [env:A]}", "required key 'url'"),
        ("{type: webhook, url: 'https://h.example.com', secrets: []}", "secrets"),
        ("{type: webhook, url: 'https://h.example.com', secrets: [env:A], version: 2}", "version"),
        ("{type: webhook, url: 'https://h.example.com', secrets: [env:A], headers: {X-Token: hunter2}}", "secret"),
    ],
)
def test_webhook_config_mistakes_are_reported(destination: str, words: str) -> None:
    found = config_problems(destination)
    assert found and words in " ".join(found) and "hunter2" not in " ".join(found)


def test_payload_bytes_are_exactly_what_was_signed(httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request("/h").respond_with_data("ok")
    build(httpserver_ipv4.url_for("/h")).send(outgoing(resource_id="naïve\u2028user"))
    [(body, headers)] = received(httpserver_ipv4)
    assert body.isascii() and json.loads(body)["notification"]["resource_id"] == "naïve\u2028user"
    verify(OLD, body, headers)
