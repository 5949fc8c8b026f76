"""Sign SNS messages as SNS does, with a locally generated key and self-signed certificate; and run
the subscriber on a real waitress server for the end-to-end tests (`serving`).

No published SNS message can be verified offline (shared/notes/sns-signature.md §7), so the tests do
what the AWS JS validator's suite does: make a key pair and a certificate naming sns.amazonaws.com,
sign the canonical string themselves, and serve the certificate from a stand-in for the SNS host (an
injected fetcher answering for the real-looking https://sns.<region>.amazonaws.com/… URL).

The canonical string is written out here again, field by field from the AWS page, rather than taken
from `notifier.sns_http.signature`: a test that signed with the code under test could not catch a
wrong field list in it.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from pytest_httpserver import HTTPServer

from notifier.app import build_pipeline
from notifier.routing.config import parse_config
from notifier.sns_http.certificates import SigningCertificates
from notifier.sns_http.confirmations import Confirm, https_confirmer
from notifier.sns_http.errors import UntrustedMessage
from notifier.sns_http.server import RunningServer
from notifier.sns_http.subscriber import SnsSubscriber
from notifier.state import SqliteState
from tests.conftest import AWS, compliance_message

SNS_HTTP = AWS / "envelopes" / "sns-http"
# The AWS doc's HTTP notification and subscription confirmation (us-west-2, MyTopic), and their
# own certificate URL: the fixtures are used as they are, with the Config message and signature ours.
NOTIFICATION_FIXTURE = SNS_HTTP / "sns-http__01_notification__awsdoc.json"
CONFIRMATION_FIXTURE = SNS_HTTP / "sns-http__02_subscription-confirmation__awsdoc.json"
UNSUBSCRIBE_FIXTURE = SNS_HTTP / "sns-http__03_unsubscribe-confirmation__awsdoc.json"
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
REGION = "us-west-2"
CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"

# Field by field, from the AWS page "Verifying the signatures of Amazon SNS messages".
NOTIFICATION_SIGNED = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_SIGNED = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
# Headers SNS sends that the test client must not copy: requests sets its own.
_TRANSPORT_HEADERS = {"content-length", "host", "connection"}


@functools.cache
def signing_key() -> rsa.RSAPrivateKey:
    """One 2048-bit key per test process (generating one takes a noticeable fraction of a second)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate_pem(
    key: rsa.RSAPrivateKey | None = None,
    *,
    common_name: str = "sns.amazonaws.com",
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key_usage_signature: bool | None = True,
) -> bytes:
    """A self-signed certificate for `key`, shaped like SNS's (moto's stand-in carries the same CN)."""
    key = key or signing_key()
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=365))
    )
    if key_usage_signature is not None:
        usage = x509.KeyUsage(
            digital_signature=key_usage_signature, content_commitment=False, key_encipherment=not key_usage_signature,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False,
        )  # fmt: skip
        builder = builder.add_extension(usage, critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def canonical(message: dict[str, Any]) -> bytes:
    fields = NOTIFICATION_SIGNED if message["Type"] == "Notification" else CONFIRMATION_SIGNED
    return "".join(f"{n}\n{message[n]}\n" for n in fields if message.get(n) is not None).encode()


def sign(
    message: dict[str, Any], *, version: str = "2", key: rsa.RSAPrivateKey | None = None, cert_url: str = CERT_URL
) -> dict[str, Any]:
    """A copy of `message` with SignatureVersion, SigningCertURL and a Signature SNS would have made."""
    signed = {**message, "SignatureVersion": version, "SigningCertURL": cert_url}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    raw = (key or signing_key()).sign(canonical(signed), padding.PKCS1v15(), algorithm)
    signed["Signature"] = base64.b64encode(raw).decode()
    return signed


def fixture(path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """(headers SNS sent, the body as a dict) of an sns-http fixture, transport headers left out."""
    request = json.loads(path.read_text())
    headers = {k: v for k, v in request["headers"].items() if k.lower() not in _TRANSPORT_HEADERS}
    return headers, json.loads(request["body"])


def notification(config_message: dict[str, Any] | str, **changes: Any) -> dict[str, Any]:
    """The doc's HTTP notification carrying `config_message` (JSON-encoded, as SNS does), unsigned."""
    _, body = fixture(NOTIFICATION_FIXTURE)
    body = {k: v for k, v in body.items() if k not in ("Signature", "SignatureVersion", "SigningCertURL")}
    body["Message"] = config_message if isinstance(config_message, str) else json.dumps(config_message)
    return {**body, **changes}


def sns_headers(message: dict[str, Any]) -> dict[str, str]:
    """The headers SNS sends with this message (from the fixture, ids and topic made to agree)."""
    headers, _ = fixture(CONFIRMATION_FIXTURE if message["Type"] != "Notification" else NOTIFICATION_FIXTURE)
    headers.update({
        "x-amz-sns-message-type": message["Type"],
        "x-amz-sns-message-id": message["MessageId"],
        "x-amz-sns-topic-arn": message["TopicArn"],
    })  # fmt: skip
    return headers


class StandInCertificateHost:
    """The injected fetcher: answers for certificate URLs as the SNS host would, and counts the fetches."""

    def __init__(self, pems: dict[str, bytes] | None = None) -> None:
        self.pems = pems if pems is not None else {CERT_URL: certificate_pem()}
        self.fetched: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.fetched.append(url)
        if url not in self.pems:
            raise UntrustedMessage("the certificate URL answered HTTP 404")
        return self.pems[url]


# --- the subscriber on a real server ---

OTHER_TOPIC = "arn:aws:sns:us-west-2:123456789012:OtherAllowedTopic"

CONFIG = """
destinations:
  audit: {{type: file, path: "{out}/audit.jsonl"}}
  archive: {{type: file, path: "{archive}"}}
  invalid: {{type: file, path: "{out}/invalid.jsonl"}}
invalid_messages: invalid
routes:
  - name: every-change
    match: {{rule: "*"}}
    destinations: [audit, archive]
"""


@dataclass
class Served:
    url: str
    out: Path
    certificate_host: StandInCertificateHost
    session: requests.Session

    def post(self, message: dict[str, Any], *, headers: dict[str, str] | None = None) -> requests.Response:
        sent = sns_headers(message) if headers is None else headers
        return self.session.post(self.url, data=json.dumps(message).encode(), headers=sent, timeout=10)

    def lines(self, name: str) -> list[dict[str, Any]]:
        path = self.out / f"{name}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def local_confirmer(local: HTTPServer) -> Confirm:
    """The production confirmer, sent to 127.0.0.1: it runs only after the production SubscribeURL check
    passed in the subscriber, so the URL it receives is already https on sns.us-west-2.amazonaws.com."""
    production = https_confirmer()

    def confirm(url: str) -> None:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("https", "sns.us-west-2.amazonaws.com")
        production(f"{local.url_for(parts.path)}?{parts.query}")

    return confirm


@contextmanager
def serving(tmp_path: Path, local: HTTPServer, *, config: str | None = None, archive: Path | None = None,
            certificate_host: StandInCertificateHost | None = None) -> Iterator[Served]:  # fmt: skip
    out = tmp_path / "out"
    text = config or CONFIG.format(out=out, archive=archive or out / "archive.jsonl")
    state = SqliteState(tmp_path / "state.sqlite")
    host = certificate_host or StandInCertificateHost()
    app = SnsSubscriber(
        build_pipeline(parse_config(text, "routes.yml", tmp_path), state=state),
        [TOPIC, OTHER_TOPIC],
        public_key_for=SigningCertificates(host).public_key,
        confirm=local_confirmer(local),
        workers=2,
    )
    server = RunningServer(app, threads=4).start()
    try:
        with requests.Session() as session:
            yield Served(server.url + "/", out, host, session)
    finally:
        server.stop()
        state.close()


def signed_change(name: str = "ComplianceChangeNotification__01_", **changes: Any) -> dict[str, Any]:
    return sign(notification(compliance_message(name), **changes))


def bare_subscriber(tmp_path: Path) -> SnsSubscriber:
    """The application without a server, for what is quicker to show through `handle` itself."""
    config = parse_config(CONFIG.format(out=tmp_path, archive=tmp_path / "archive.jsonl"), "routes.yml", tmp_path)
    host = StandInCertificateHost()
    return SnsSubscriber(
        build_pipeline(config, state=None), [TOPIC], public_key_for=SigningCertificates(host).public_key
    )
