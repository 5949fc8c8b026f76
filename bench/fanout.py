"""(f) Fan-out: a batch of notifications to several slow HTTP destinations, at once and one by one.

Ten compliance changes about ten different resources, each routed to three signed webhooks, through
`notifier.batch.process_batch` exactly as the Lambda handler runs them. The webhooks are a local HTTP
server on 127.0.0.1 that answers every request after 200 ms (a typical Jira, ServiceNow or Slack round
trip), so the figure measures how the deliveries overlap, not how fast a network is.

The yardstick is one call: one notification delivered to one webhook through the same pipeline. Done
one by one, the batch costs 30 calls; the target is at most 2 calls' time, which needs all 30 on the wire
together (15 at a time would already take 2 rounds plus overhead).
"""

from __future__ import annotations

import copy
import functools
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from notifier.batch import process_batch
from notifier.concurrency import DEFAULT_WORKERS
from notifier.destinations.registry import BuildContext, build_destination
from notifier.envelopes import InboundMessage, decode
from notifier.pipeline import Pipeline
from notifier.render import Renderer
from notifier.resources import PROJECT_ROOT
from notifier.routing.config import parse_config
from notifier.secrets import SecretResolver

from .events import sns_lambda_event, valid_compliance_messages

DELAY_SECONDS = 0.2
NOTIFICATIONS = 10
DESTINATIONS = 3
# A Standard Webhooks signing secret (whsec_ + base64 of 32 bytes), known only to this benchmark.
SECRET_VARIABLE = "FANOUT_WEBHOOK_SECRET"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2JBVSqaiMBM="


@dataclass(frozen=True, slots=True)
class FanOut:
    batch_s: float  # median wall time of the batch through process_batch
    one_call_s: float  # median wall time of one notification delivered to one webhook
    sequential_s: float | None  # the same batch one by one (workers=1), when measured
    calls: int  # deliveries in the batch (notifications × destinations)
    peak_in_flight: int  # the most requests the server held at once during the concurrent rounds
    rounds: int

    @property
    def ratio(self) -> float:
        return self.batch_s / self.one_call_s

    @property
    def sequential_ratio(self) -> float | None:
        return self.sequential_s / self.one_call_s if self.sequential_s is not None else None


class SlowServer(ThreadingHTTPServer):
    """A thread per connection; every POST answered after `delay`, with the status `status_for(body)` says."""

    daemon_threads = True
    request_queue_size = 128  # thirty connections opened at once must not wait in a 5-deep listen backlog

    def __init__(self, delay: float, status_for: Callable[[bytes], int]) -> None:
        super().__init__(("127.0.0.1", 0), _SlowHandler)
        self.delay = delay
        self.status_for = status_for
        self.bodies: list[bytes] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reset_peak(self) -> None:
        with self._lock:
            self.peak_in_flight = self.in_flight

    def _entered(self, body: bytes) -> None:
        with self._lock:
            self.bodies.append(body)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _left(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _SlowHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real webhook receivers do
    server: SlowServer

    def do_POST(self) -> None:  # http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server._entered(body)
        try:
            time.sleep(self.server.delay)
            status = self.server.status_for(body)
        finally:
            self.server._left()
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a line per request would drown the bench's table."""


@contextmanager
def slow_server(
    delay: float = DELAY_SECONDS, status_for: Callable[[bytes], int] = lambda body: 204
) -> Iterator[SlowServer]:
    server = SlowServer(delay, status_for)
    thread = threading.Thread(target=server.serve_forever, name="slow-http-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def webhook_config(base_url: str, destinations: int) -> str:
    """A routing config sending every compliance change to `destinations` signed webhooks on `base_url`."""
    names = [f"hook-{index}" for index in range(destinations)]
    lines = ["destinations:"]
    secrets = f"['env:{SECRET_VARIABLE}']"
    lines += [f"  {name}: {{type: webhook, url: '{base_url}/{name}', secrets: {secrets}}}" for name in names]
    lines += ["routes:", "  - name: every-change", "    match: {rule: '*'}", f"    destinations: [{', '.join(names)}]"]
    return "\n".join(lines) + "\n"


def webhook_pipeline(base_url: str, destinations: int) -> Pipeline:
    """A pipeline that really sends (no state store: every round sends again)."""
    config = parse_config(webhook_config(base_url, destinations), "bench:fanout.yml", PROJECT_ROOT)
    context = BuildContext(Renderer(config.templates_dir), SecretResolver(environ={SECRET_VARIABLE: SECRET}))
    return Pipeline(config.tree, config.destinations, connect=functools.partial(build_destination, context=context))


def about_resource(message: dict[str, Any], resource_id: str) -> dict[str, Any]:
    """The same compliance change about another resource (its evaluation results name it too)."""
    changed = copy.deepcopy(message)
    changed["resourceId"] = resource_id
    for side in ("newEvaluationResult", "oldEvaluationResult"):
        if changed.get(side):
            changed[side]["evaluationResultIdentifier"]["evaluationResultQualifier"]["resourceId"] = resource_id
    return changed


def batch_of(count: int) -> list[InboundMessage]:
    """`count` compliance changes about `count` different resources, each in its SNS Lambda event."""
    template = valid_compliance_messages()[0]
    return [
        message
        for index in range(count)
        for message in decode(sns_lambda_event(about_resource(template, f"AIDAFANOUT{index:011d}"), index))
    ]


def _timed_batch(pipeline: Pipeline, messages: list[InboundMessage], workers: int) -> float:
    start = time.perf_counter()
    outcomes = process_batch(pipeline, messages, workers=workers)
    elapsed = time.perf_counter() - start
    sent = [d.action for outcome in outcomes for d in outcome.deliveries]
    if sent.count("sent") != len(sent) or not sent:  # a figure over failed deliveries would mean nothing
        raise RuntimeError(f"the fan-out bench expected every delivery sent, got {sent}")
    return elapsed


def fan_out(
    rounds: int = 5,
    *,
    delay: float = DELAY_SECONDS,
    notifications: int = NOTIFICATIONS,
    destinations: int = DESTINATIONS,
    sequential: bool = True,
    workers: int = DEFAULT_WORKERS,
) -> FanOut:
    messages = batch_of(notifications)
    with slow_server(delay) as server:
        single, fanned = webhook_pipeline(server.url, 1), webhook_pipeline(server.url, destinations)
        # Warm-up, untimed: destinations connected, keep-alive connections and pool threads started.
        _timed_batch(single, messages[:1], workers)
        _timed_batch(fanned, messages, workers)
        one_call = statistics.median(_timed_batch(single, messages[:1], workers) for _ in range(rounds))
        server.reset_peak()
        batch = statistics.median(_timed_batch(fanned, messages, workers) for _ in range(rounds))
        peak = server.peak_in_flight
        one_by_one = _timed_batch(fanned, messages, workers=1) if sequential else None
    return FanOut(batch, one_call, one_by_one, notifications * destinations, peak, rounds)
