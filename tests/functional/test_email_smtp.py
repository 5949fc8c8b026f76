"""SMTP email against a real aiosmtpd server on 127.0.0.1: plain, STARTTLS, implicit TLS, login, failures."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from notifier.destinations.base import DestinationSpec, Outgoing
from notifier.destinations.email import SmtpEmailDestination
from notifier.destinations.registry import BuildContext, build_destination
from notifier.envelopes import InboundMessage
from notifier.errors import DeliveryError, NotifierError
from notifier.notification import ComplianceNotification, parse
from notifier.render import Renderer
from notifier.secrets import SecretResolver
from notifier.transition import transition
from tests.conftest import compliance_message
from tests.functional.smtp_server import HOST, Certificates, closed_port, make_certificates, smtp_server

PASSWORD = "correct horse battery staple"
SECRETS = SecretResolver(environ={"SMTP_PASSWORD": PASSWORD, "WRONG_PASSWORD": "not-it"})


def outgoing() -> Outgoing:
    parsed = parse(InboundMessage("config", "$", body=compliance_message("ComplianceChangeNotification__01_")))
    assert isinstance(parsed, ComplianceNotification)  # the AWS-documented account message: NON_COMPLIANT -> COMPLIANT
    notification = parsed._replace(new=parsed.new._replace(annotation="Trail is logging again"))
    return Outgoing(
        notification, transition(notification.old_compliance, notification.new.compliance), ("cloudtrail",), "m-1"
    )


def spec(port: int, **options: Any) -> DestinationSpec:
    base = {"via": "smtp", "host": HOST, "port": port, "from": "alerts@example.com", "to": ["sec@example.com"]}
    return DestinationSpec("smtp-email", "email", {**base, **options})


def destination(spec: DestinationSpec, ssl_context: ssl.SSLContext | None = None) -> Any:
    return build_destination(spec, BuildContext(Renderer(), SECRETS, smtp_ssl_context=ssl_context))


@pytest.fixture(scope="module")
def certificates() -> Certificates:
    return make_certificates()


def test_plain_smtp_delivers_a_multipart_message() -> None:
    with smtp_server() as server:
        sender = destination(spec(server.port, tls="none", cc=["Audit Team <audit@example.com>"]))
        assert isinstance(sender, SmtpEmailDestination)
        sender.send(outgoing())
    (mail,) = server.received
    assert mail.mail_from == "alerts@example.com"
    assert mail.rcpt_tos == ("sec@example.com", "audit@example.com")
    assert not mail.over_tls
    message = mail.message
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert "is compliant again" in text.get_content() and "Trail is logging again" in text.get_content()
    assert "#15803d" in html.get_content()  # green: resolved
    assert message["Subject"] == (
        "[RESOLVED] AWS::::Account 123456789012 is compliant again (cloudtrail-enabled, 123456789012 us-east-2)"
    )
    assert message["Cc"] == "Audit Team <audit@example.com>"
    assert str(message["X-Compliance-Transition"]) == "resolved"
    assert str(message["X-Compliance-Resource"]).strip() == "AWS::::Account 123456789012"
    assert message["Bcc"] is None


def test_starttls_with_a_test_ca(certificates: Certificates) -> None:
    with smtp_server(starttls=certificates.server_context()) as server:
        destination(spec(server.port), certificates.client_context()).send(outgoing())  # tls defaults to starttls
    (mail,) = server.received
    assert mail.over_tls


def test_starttls_refuses_an_untrusted_certificate(certificates: Certificates) -> None:
    with (
        smtp_server(starttls=certificates.server_context()) as server,
        pytest.raises(DeliveryError, match="not trusted") as caught,
    ):
        destination(spec(server.port), ssl.create_default_context()).send(outgoing())  # system CAs only
    assert caught.value.retryable is False
    assert server.received == []


def test_starttls_never_falls_back_to_plain_text() -> None:
    with smtp_server() as server, pytest.raises(DeliveryError, match="STARTTLS") as caught:  # offers no STARTTLS
        destination(spec(server.port)).send(outgoing())
    assert caught.value.retryable is False
    assert server.received == []


def test_implicit_tls(certificates: Certificates) -> None:
    with smtp_server(implicit_tls=certificates.server_context()) as server:
        destination(spec(server.port, tls="implicit"), certificates.client_context()).send(outgoing())
    (mail,) = server.received
    assert mail.over_tls


def test_login_over_starttls(certificates: Certificates) -> None:
    with smtp_server(starttls=certificates.server_context(), credentials=("notifier", PASSWORD)) as server:
        options = {"username": "notifier", "password": "env:SMTP_PASSWORD"}
        destination(spec(server.port, **options), certificates.client_context()).send(outgoing())
    (mail,) = server.received
    assert mail.over_tls and mail.authenticated


def test_wrong_password_is_permanent_and_never_shown(certificates: Certificates) -> None:
    with smtp_server(starttls=certificates.server_context(), credentials=("notifier", PASSWORD)) as server:
        options = {"username": "notifier", "password": "env:WRONG_PASSWORD"}
        with pytest.raises(DeliveryError, match="refused the login: 535") as caught:
            destination(spec(server.port, **options), certificates.client_context()).send(outgoing())
    assert caught.value.retryable is False
    assert "not-it" not in str(caught.value) and PASSWORD not in str(caught.value)
    assert server.received == []


def test_unresolvable_password_reference_is_permanent(certificates: Certificates) -> None:
    with smtp_server(starttls=certificates.server_context(), credentials=("notifier", PASSWORD)) as server:
        options = {"username": "notifier", "password": "env:NOT_SET_ANYWHERE"}
        with pytest.raises(DeliveryError, match="env:NOT_SET_ANYWHERE") as caught:
            destination(spec(server.port, **options), certificates.client_context()).send(outgoing())
    assert caught.value.retryable is False


def test_a_451_reply_is_retryable() -> None:
    with (
        smtp_server(data_reply="451 4.3.0 Mailbox temporarily unavailable") as server,
        pytest.raises(DeliveryError, match="451") as caught,
    ):
        destination(spec(server.port, tls="none")).send(outgoing())
    assert caught.value.retryable is True


def test_a_554_reply_is_permanent() -> None:
    with (
        smtp_server(data_reply="554 5.7.1 Message rejected as spam") as server,
        pytest.raises(DeliveryError, match=r"554 5\.7\.1 Message rejected as spam") as caught,
    ):
        destination(spec(server.port, tls="none")).send(outgoing())
    assert caught.value.retryable is False


def test_connection_refused_is_retryable() -> None:
    port = closed_port()
    with pytest.raises(DeliveryError, match=f"{HOST}:{port}") as caught:
        destination(spec(port, tls="none", timeout=2)).send(outgoing())
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"host": ""}, "needs a host"),
        ({"tls": "maybe"}, "tls must be"),
        ({"username": "u"}, "username and password go together"),
        ({"tls": "none", "username": "u", "password": "env:SMTP_PASSWORD"}, "unencrypted"),
        ({"to": []}, "'to' must name at least one address"),
        ({"to": ["sec@example.com\r\nBcc: x@evil.example"]}, "invalid address"),
    ],
)
def test_bad_smtp_settings_fail_when_the_destination_is_built(options: dict[str, Any], says: str) -> None:
    with pytest.raises(NotifierError, match=says):
        destination(spec(25, **options))
