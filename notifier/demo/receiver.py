"""A webhook receiver on 127.0.0.1 that checks Standard Webhooks signatures, as a SIEM endpoint would.

It verifies with the standard library (hmac, base64) rather than the `standardwebhooks` package, which
is only a test dependency of this project: the signed content is `{webhook-id}.{webhook-timestamp}.{body}`,
HMAC-SHA256 with the key that follows `whsec_` (base64), and `webhook-signature` lists `v1,<base64>`
entries separated by spaces, one per secret the sender holds. A request is accepted when one of them
matches and its timestamp is within five minutes; otherwise it is answered 401. Every request is kept
(headers, body, verdict) and written to a JSON-lines file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PATH = "/hooks/aws-config"
TOLERANCE_SECONDS = 5 * 60  # the spec's advice: refuse older (or newer) timestamps, to stop replays


def new_secret() -> str:
    """A fresh signing secret in the spec's format: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def verify(secret: str, message_id: str, timestamp: str, body: bytes, signatures: str, now: float) -> str | None:
    """None when the request is authentic; otherwise why not."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return f"webhook-timestamp {timestamp!r} is not an integer"
    if abs(now - sent_at) > TOLERANCE_SECONDS:
        return f"webhook-timestamp is {int(now - sent_at)} s away from now"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return None
    return "no v1 signature matches"


@dataclass
class WebhookReceiver:
    secret: str
    log: Path
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        """Check and keep one request; returns the HTTP status to answer."""
        problem = "unknown path" if path != PATH else verify(
            self.secret, headers.get("webhook-id", ""), headers.get("webhook-timestamp", ""), body,
            headers.get("webhook-signature", ""), time.time(),
        )  # fmt: skip
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = body.decode("utf-8", "replace")
        record = {
            "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "verified": problem is None,
            "problem": problem,
            "headers": {k: v for k, v in headers.items() if k.startswith("webhook-") or k == "content-type"},
            "body": payload,
        }
        with self._lock:
            self.requests.append(record)
            with self.log.open("a", encoding="utf-8") as file:
                file.write(json.dumps(record) + "\n")
        return 204 if problem is None else 401

    @property
    def verified(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["verified"]]


@contextmanager
def webhook_receiver(log: Path, secret: str) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret, log)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            self.send_response(receiver.receive(self.path, headers, body))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the demo narrates what arrived."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{PATH}"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
