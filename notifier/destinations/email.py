"""Email destinations: Amazon SES v2 (raw MIME) and SMTP, sharing one message builder.

Both send the same multipart/alternative message (text first, HTML second, so a client that
cannot show HTML shows the text). Every third-party failure is translated into `DeliveryError`
saying whether a retry can help; no reason ever carries a password.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import logging
import re
import smtplib
import ssl
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any

from ..deadlines import bounded
from ..errors import DeliveryError, NotifierError
from ..render import RenderedMessage, Renderer, RenderError, header_safe
from ..secrets import SecretResolver, resolve_for_delivery
from .base import DestinationSpec, Outgoing

if TYPE_CHECKING:
    from ..digests.message import Digest
    from .registry import BuildContext

log = logging.getLogger(__name__)

_CONTROL = re.compile("[\x00-\x1f\x7f\u2028\u2029]")  # in an address, these could smuggle in a header

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_PORTS = {"starttls": 587, "implicit": 465, "none": 25}

# SES v2 errors a retry can cure; every other client error (MessageRejected,
# MailFromDomainNotVerifiedException, AccessDenied, BadRequest, NotFound, ...) is permanent.
_SES_RETRYABLE_CODES = frozenset(
    {
        "TooManyRequestsException",
        "Throttling",
        "ThrottlingException",
        "LimitExceededException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "RequestTimeout",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)


def _addresses(spec: DestinationSpec, key: str, *, required: bool) -> list[str]:
    raw = spec.options.get(key)
    values = [raw] if isinstance(raw, str) else list(raw or [])
    if required and not values:
        raise NotifierError(f"destination {spec.name!r}: {key!r} must name at least one address")
    for value in values:
        if not isinstance(value, str) or "@" not in value or _CONTROL.search(value):
            raise NotifierError(f"destination {spec.name!r}: {key!r} holds an invalid address {value!r}")
    return [value.strip() for value in values]


def _thread_id(outgoing: Outgoing) -> str:
    """The same id for every email about one rule and resource, so mail clients thread them."""
    n = outgoing.notification
    digest = hashlib.sha256("|".join((n.account, n.region, n.rule, n.resource_type, n.resource_id)).encode())
    return f"<{digest.hexdigest()[:40]}@compliance-notifier>"


def build_email_message(spec: DestinationSpec, rendered: RenderedMessage, outgoing: Outgoing) -> EmailMessage:
    sender = _addresses(spec, "from", required=True)[0]
    cc = _addresses(spec, "cc", required=False)
    n = outgoing.notification
    message = EmailMessage()
    message["Subject"] = header_safe(rendered.subject)
    message["From"] = sender
    message["To"] = ", ".join(_addresses(spec, "to", required=True))
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Date"] = format_datetime(datetime.now(UTC))
    # An explicit domain: make_msgid's default calls socket.getfqdn(), a DNS lookup per message in Lambda.
    domain = parseaddr(sender)[1].rpartition("@")[2] or "compliance-notifier.invalid"
    message["Message-ID"] = make_msgid(idstring="compliance", domain=domain)
    message["References"] = _thread_id(outgoing)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to a robot
    message["X-Compliance-Rule"] = header_safe(n.rule, 200)
    message["X-Compliance-Resource"] = header_safe(f"{n.resource_type} {n.resource_id}", 300)
    message["X-Compliance-Transition"] = outgoing.transition.kind.value
    message["X-Compliance-Account"] = header_safe(n.account, 20)
    message["X-Compliance-Region"] = header_safe(n.region, 40)
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return message


class _EmailBase(ABC):
    def __init__(self, spec: DestinationSpec, renderer: Renderer) -> None:
        self.spec = spec
        self.renderer = renderer
        # Validate addresses now: a bad config fails at load, not on the first violation at 3 a.m.
        self.sender = _addresses(spec, "from", required=True)[0]
        self.to = _addresses(spec, "to", required=True)
        self.cc = _addresses(spec, "cc", required=False)

    def send_digest(self, digest: Digest) -> str | None:
        from ..digests.message import digest_email

        self.send_message(digest_email(digest, self.sender, self.to, self.cc))
        return None

    @abstractmethod
    def send_message(self, message: EmailMessage) -> None:
        """Send a built message (a notification's or a digest's): SES and SMTP each their own way."""

    def _message(self, outgoing: Outgoing) -> EmailMessage:
        try:
            rendered = self.renderer.render_email(outgoing, self.spec.template_set)
        except RenderError as exc:  # a broken template stays broken: retrying cannot help
            raise DeliveryError(self.spec.name, f"cannot render the email: {exc}", retryable=False) from exc
        return build_email_message(self.spec, rendered, outgoing)


class SesEmailDestination(_EmailBase):
    """Sends through the SES v2 API as raw MIME, so the multipart message and its headers go as built."""

    def __init__(self, spec: DestinationSpec, renderer: Renderer, client: Any) -> None:
        super().__init__(spec, renderer)
        self.client = client
        self.configuration_set = spec.options.get("configuration_set")

    def send(self, outgoing: Outgoing) -> None:
        self.send_message(self._message(outgoing))

    def send_message(self, message: EmailMessage) -> None:
        """Send a built message (a notification's, or a digest's: notifier/digests/flush.py)."""
        from botocore.exceptions import BotoCoreError, ClientError

        destination: dict[str, list[str]] = {"ToAddresses": self.to}
        if self.cc:
            destination["CcAddresses"] = self.cc
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": destination,
            "Content": {"Raw": {"Data": message.as_bytes(policy=email.policy.SMTP)}},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = str(self.configuration_set)
        try:
            self.client.send_email(**request)
        except (ClientError, BotoCoreError) as exc:
            raise ses_failure(self.spec.name, exc) from exc


def ses_failure(destination: str, exc: Exception) -> DeliveryError:
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        retryable = code in _SES_RETRYABLE_CODES or status >= 500 or status == 429
        return DeliveryError(destination, f"SES said {code}: {error.get('Message', '')}", retryable=retryable)
    # No response at all: a network failure may pass; a local problem (no credentials, bad parameters) will not.
    retryable = isinstance(exc, BotoConnectionError | HTTPClientError)
    return DeliveryError(destination, f"SES call failed: {exc}", retryable=retryable)


class SmtpEmailDestination(_EmailBase):
    """Sends through an SMTP relay: STARTTLS by default, implicit TLS, or (explicitly) none."""

    def __init__(
        self,
        spec: DestinationSpec,
        renderer: Renderer,
        secrets: SecretResolver,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(spec, renderer)
        options: Mapping[str, Any] = spec.options
        self.secrets = secrets
        self.host = str(options.get("host") or "")
        if not self.host:
            raise NotifierError(f"destination {spec.name!r}: an smtp email destination needs a host")
        self.tls = str(options.get("tls", "starttls"))
        if self.tls not in DEFAULT_PORTS:
            raise NotifierError(f"destination {spec.name!r}: tls must be starttls, implicit or none, not {self.tls!r}")
        self.port = int(options.get("port") or DEFAULT_PORTS[self.tls])
        self.timeout = float(options.get("timeout") or DEFAULT_TIMEOUT_SECONDS)
        self.username: str | None = options.get("username")
        self.password_reference: str | None = options.get("password")
        if bool(self.username) != bool(self.password_reference):
            raise NotifierError(f"destination {spec.name!r}: username and password go together")
        if self.username and self.tls == "none":
            raise NotifierError(
                f"destination {spec.name!r}: refusing to log in over an unencrypted connection (tls: none)"
            )
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send(self, outgoing: Outgoing) -> None:
        self.send_message(self._message(outgoing))

    def send_message(self, message: EmailMessage) -> None:
        """Send a built message (a notification's, or a digest's: notifier/digests/flush.py)."""
        password = self._password()  # a dry run resolves it too, so a broken reference shows; it never records it
        if self.spec.dry_run:  # never connects: the session and the message are recorded instead
            from .recording import RequestMask, record_smtp

            record_smtp(RequestMask.of(self.spec, self.secrets), self, message)
            return
        try:
            with self._connect() as smtp:
                if self.tls == "starttls":
                    smtp.starttls(context=self.ssl_context)  # never falls back to plain text
                if self.username and password is not None:
                    smtp.login(self.username, password)
                refused = smtp.send_message(message, from_addr=self.sender, to_addrs=self.to + self.cc)
        except (smtplib.SMTPException, OSError) as exc:
            reason = f"{self.host}:{self.port}: {_scrub(smtp_reason(exc), password)}"
            raise DeliveryError(self.spec.name, reason, retryable=smtp_retryable(exc)) from exc
        if refused:
            # Some recipients took it: a retry would send them a duplicate, so report and carry on.
            log.warning("destination %s: some recipients were refused: %s", self.spec.name, sorted(refused))

    def _connect(self) -> smtplib.SMTP:
        timeout = bounded(self.timeout, destination=self.spec.name)  # never past the Lambda's deadline
        if self.tls == "implicit":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=self.ssl_context)
        return smtplib.SMTP(self.host, self.port, timeout=timeout)

    def _password(self) -> str | None:
        if not self.password_reference:
            return None
        return resolve_for_delivery(
            self.secrets, self.password_reference, destination=self.spec.name, what="SMTP password"
        )


def smtp_retryable(exc: BaseException) -> bool:
    """4xx replies and network failures may pass; 5xx replies, refused logins and TLS trust failures will not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):  # includes auth, sender, data, connect and HELO errors
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPException):  # SMTPNotSupportedError (no STARTTLS/AUTH): a config problem
        return False
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    return isinstance(exc, OSError)  # refused, reset, timed out, DNS


def smtp_reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refusals = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in sorted(exc.recipients.items()))
        return f"every recipient was refused ({refusals})"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"the SMTP server refused the login: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the SMTP server answered {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"the SMTP server does not support what is needed: {exc}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the SMTP server's TLS certificate is not trusted: {exc.verify_message}"
    return f"{type(exc).__name__}: {exc}"


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return header_safe(text, 300)


def _scrub(reason: str, password: str | None) -> str:
    """Belt and braces: servers do not echo credentials, but a reason must never show one if one did."""
    if not password:
        return reason
    for form in (password, base64.b64encode(password.encode()).decode()):
        reason = reason.replace(form, "***")
    return reason


def create(spec: DestinationSpec, context: BuildContext) -> SesEmailDestination | SmtpEmailDestination:
    via = spec.options.get("via", "ses")
    if via == "ses":
        from botocore.exceptions import BotoCoreError

        try:
            client = context.client_factory("sesv2", spec.options.get("region"))
        except BotoCoreError as exc:  # e.g. no region anywhere: say which destination and what to set
            raise NotifierError(f"destination {spec.name!r}: cannot create the SES client: {exc}") from None
        if spec.dry_run:  # the SendEmail call is recorded, never made
            from .recording import RecordingAwsClient, RequestMask

            client = RecordingAwsClient(client, RequestMask.of(spec, context.secrets))
        return SesEmailDestination(spec, context.renderer, client)
    if via == "smtp":
        return SmtpEmailDestination(spec, context.renderer, context.secrets, ssl_context=context.smtp_ssl_context)
    raise NotifierError(f"destination {spec.name!r}: email via must be ses or smtp, not {via!r}")
