"""A hung destination never carries the invocation past the Lambda's deadline: every HTTP call waits
at most what is left, so the handler answers in time and SQS retries only that record."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from notifier import handler
from notifier.app import build_pipeline
from notifier.routing.config import parse_config
from notifier.state import MemoryState
from tests.conftest import compliance_message, sns_json, sqs_record

HANG_SECONDS = 8.0


class Hang(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        time.sleep(HANG_SECONDS)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@dataclass
class Context:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def hanging_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_the_handler_answers_before_the_deadline_even_when_a_destination_hangs(
    hanging_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    config = f"""
destinations:
  hook: {{type: webhook, url: '{hanging_server}', secrets: ['env:HOOK_SECRET']}}   # default timeout 15 s
routes:
  - {{name: all, match: {{rule: '*'}}, destinations: [hook]}}
"""
    handler.set_pipeline(build_pipeline(parse_config(config, "r.yml", tmp_path), state=MemoryState()))
    event = {"Records": [sqs_record(json.dumps(sns_json(compliance_message())), message_id="slow")]}
    started = time.monotonic()
    try:
        answer = handler.lambda_handler(event, Context(remaining_ms=6_500))  # 1.5 s after the 5 s margin
    finally:
        handler.set_pipeline(None)
    elapsed = time.monotonic() - started
    assert answer == {"batchItemFailures": [{"itemIdentifier": "slow"}]}
    assert elapsed < HANG_SECONDS / 2, f"the handler waited {elapsed:.1f} s for a hung destination"
