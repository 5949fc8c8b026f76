"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, for functional tests.

Plain, STARTTLS (a `trustme` test CA) or implicit TLS; optional AUTH with one set of credentials;
optionally answers DATA with a chosen reply (e.g. a 451) to exercise error handling.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    over_tls: bool
    authenticated: bool

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RecordingHandler:
    """Accepts every message (or answers DATA with `data_reply`) and records what arrived."""

    data_reply: str | None = None
    received: list[ReceivedMail] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply is not None:
            return self.data_reply
        self.received.append(
            ReceivedMail(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                raw=bytes(envelope.original_content or envelope.content),
                # The transport, not session.ssl: aiosmtpd only fills the latter after STARTTLS.
                over_tls=server.transport.get_extra_info("ssl_object") is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 2.0.0 OK: queued"


@dataclass(frozen=True)
class RunningServer:
    host: str
    port: int
    handler: RecordingHandler

    @property
    def received(self) -> list[ReceivedMail]:
        return self.handler.received


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA and a server certificate for 127.0.0.1 issued by it."""

    ca: trustme.CA

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(HOST).configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


def make_certificates() -> Certificates:
    return Certificates(trustme.CA())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def closed_port() -> int:
    """A port nothing listens on (bound then released), for connection-refused tests."""
    return free_port()


def _authenticator(username: str, password: str) -> Any:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == username.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself

    return authenticate


@contextmanager
def smtp_server(
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    credentials: tuple[str, str] | None = None,
    data_reply: str | None = None,
) -> Iterator[RunningServer]:
    """Run a server for the duration of the block. `starttls` requires STARTTLS before MAIL."""
    handler = RecordingHandler(data_reply=data_reply)
    options: dict[str, Any] = {}
    if starttls is not None:
        options.update(tls_context=starttls, require_starttls=True)
    if credentials is not None:
        options.update(authenticator=_authenticator(*credentials), auth_required=True, auth_require_tls=True)
    controller = Controller(handler, hostname=HOST, port=free_port(), ssl_context=implicit_tls, **options)
    controller.start()
    try:
        yield RunningServer(HOST, controller.port, handler)
    finally:
        controller.stop()
