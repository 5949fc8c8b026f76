"""SES v2 email through moto: the raw MIME message SES stored, and how failures are classified."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from notifier.destinations.base import DestinationSpec, Outgoing
from notifier.destinations.email import SesEmailDestination
from notifier.destinations.registry import BuildContext, build_destination
from notifier.envelopes import InboundMessage
from notifier.errors import DeliveryError
from notifier.notification import ComplianceNotification, parse
from notifier.render import Renderer
from notifier.secrets import SecretResolver
from notifier.transition import transition
from tests.conftest import compliance_message
from tests.functional.smtp_server import ReceivedMail

REGION = "eu-west-1"
SENDER = "Compliance <alerts@example.com>"


def outgoing(*, resource_id: str | None = None) -> Outgoing:
    parsed = parse(InboundMessage("config", "$", body=compliance_message("ComplianceChangeNotification__02_")))
    assert isinstance(parsed, ComplianceNotification)
    notification = parsed._replace(resource_id=resource_id) if resource_id else parsed
    return Outgoing(
        notification, transition(notification.old_compliance, notification.new.compliance), ("logs",), "msg-1"
    )


def spec(**options: Any) -> DestinationSpec:
    base = {"via": "ses", "region": REGION, "from": SENDER, "to": ["sec@example.com"], "cc": ["audit@example.com"]}
    return DestinationSpec("sec-email", "email", {**base, **options})


@pytest.fixture
def sesv2(aws_credentials: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sesv2", region_name=REGION)


def context(client: Any) -> BuildContext:
    return BuildContext(Renderer(), SecretResolver(environ={}), client_factory=lambda service, region: client)


def stored_messages() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def as_email(raw_data: str) -> EmailMessage:
    return ReceivedMail("", (), raw_data.encode("utf-8"), False, False).message


def header(message: EmailMessage, name: str) -> str:
    # A value too long for a 78-column line is folded onto the next line; unfolding keeps the space.
    return str(message[name]).strip()


def test_sends_a_multipart_message_with_compliance_headers(sesv2: Any) -> None:
    sesv2.create_email_identity(EmailIdentity="alerts@example.com")  # moto treats it as verified
    destination = build_destination(spec(), context(sesv2))
    assert isinstance(destination, SesEmailDestination)

    destination.send(outgoing())

    (stored,) = stored_messages()
    assert stored.source == SENDER
    assert {"sec@example.com", "audit@example.com"} <= set(stored.destinations)
    message = as_email(stored.raw_data)
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert "became non-compliant" in text.get_content() and "<table" in html.get_content()
    assert message["Subject"].startswith("[VIOLATION] AWS::Logs::LogGroup dev1 became non-compliant")
    assert (message["From"], message["To"], message["Cc"]) == (SENDER, "sec@example.com", "audit@example.com")
    assert message["Message-ID"].endswith("@example.com>") and message["Date"]
    assert header(message, "X-Compliance-Rule") == "cw-loggroup-retention-period-check-conformance-pack-qayjyopmd"
    assert header(message, "X-Compliance-Resource") == "AWS::Logs::LogGroup dev1"
    assert message["X-Compliance-Transition"] == "violated"
    assert message["Auto-Submitted"] == "auto-generated"


def test_hostile_resource_ids_stay_inside_their_headers(sesv2: Any) -> None:
    sesv2.create_email_identity(EmailIdentity="example.com")  # a verified domain covers every sender in it
    build_destination(spec(), context(sesv2)).send(outgoing(resource_id="x\r\nBcc: thief@evil.example\r\n<b>"))
    message = as_email(stored_messages()[0].raw_data)
    assert message["Bcc"] is None
    assert header(message, "X-Compliance-Resource") == "AWS::Logs::LogGroup x Bcc: thief@evil.example <b>"
    assert "thief@evil.example" not in stored_messages()[0].destinations


def test_configuration_set_is_passed_to_ses(sesv2: Any) -> None:
    sesv2.create_email_identity(EmailIdentity="alerts@example.com")
    seen: list[dict[str, Any]] = []
    # Observe the request at the botocore layer: moto accepts but does not record ConfigurationSetName.
    sesv2.meta.events.register("provide-client-params.sesv2.SendEmail", lambda params, **_: seen.append(params))
    build_destination(spec(configuration_set="tracking"), context(sesv2)).send(outgoing())
    assert seen[0]["ConfigurationSetName"] == "tracking"
    assert seen[0]["Destination"] == {"ToAddresses": ["sec@example.com"], "CcAddresses": ["audit@example.com"]}
    assert isinstance(seen[0]["Content"]["Raw"]["Data"], bytes)
    assert len(stored_messages()) == 1


def test_unverified_sender_is_a_permanent_failure(sesv2: Any) -> None:
    with pytest.raises(DeliveryError) as caught:
        build_destination(spec(), context(sesv2)).send(outgoing())
    assert caught.value.retryable is False
    assert caught.value.destination == "sec-email"
    assert "MessageRejected" in str(caught.value)
    assert stored_messages() == []


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("TooManyRequestsException", 429, True),
        ("InternalFailure", 500, True),
        ("MailFromDomainNotVerifiedException", 400, False),
        ("AccessDeniedException", 403, False),
        ("BadRequestException", 400, False),
    ],
)
def test_ses_errors_are_classified(aws_credentials: None, code: str, status: int, retryable: bool) -> None:
    client = boto3.client("sesv2", region_name=REGION)
    with Stubber(client) as stubber:  # botocore's own stub: the error goes through the real response parser
        stubber.add_client_error("send_email", service_error_code=code, http_status_code=status)
        with pytest.raises(DeliveryError, match=code) as caught:
            SesEmailDestination(spec(), Renderer(), client).send(outgoing())
    assert caught.value.retryable is retryable


def test_an_unreachable_endpoint_is_retryable(aws_credentials: None) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = boto3.client(
        "sesv2",
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    with pytest.raises(DeliveryError) as caught:
        SesEmailDestination(spec(), Renderer(), client).send(outgoing())
    assert caught.value.retryable is True


def test_a_broken_template_is_a_permanent_failure(sesv2: Any, tmp_path: Any) -> None:
    sesv2.create_email_identity(EmailIdentity="alerts@example.com")
    (tmp_path / "bad").mkdir()
    for name in ("subject.txt.j2", "body.txt.j2", "body.html.j2"):
        (tmp_path / "bad" / name).write_text("{{ no_such_variable }}")
    destination = SesEmailDestination(spec(template="bad"), Renderer(tmp_path), sesv2)
    with pytest.raises(DeliveryError, match="'no_such_variable' is undefined") as caught:
        destination.send(outgoing())
    assert caught.value.retryable is False
    assert stored_messages() == []
