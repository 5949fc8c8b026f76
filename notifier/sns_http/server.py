"""`compliance-notifier serve`: the SNS subscriber on waitress, until SIGTERM or Ctrl-C.

Why waitress: a production WSGI server in pure Python (no C build, runs wherever the package does,
Linux containers and Windows VMs alike), multi-threaded, that reads a whole request before calling
the application and refuses a body over `max_request_body_size` itself — so a slow or huge upload
never reaches a worker thread. It speaks plain HTTP only: TLS ends at a proxy or load balancer in
front of it (docs/serve.md).

Startup builds everything once, as a Lambda cold start does (`notifier.app`): the config (a path,
s3:// or ssm:), every secret reference resolved (one that does not resolve stops the start, naming
it), the state store, the pipeline. A background thread flushes due digests every minute (what the
EventBridge schedule does for the Lambda). Stopping is safe at any moment: SNS delivers again whatever
got no answer, and the state store's claims keep a delivery from going out twice.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from ..errors import NotifierError
from ..pipeline import Pipeline
from ..telemetry import logger
from .certificates import sns_host
from .signature import topic_region
from .subscriber import MAX_BODY_BYTES

TOPICS_VARIABLE = "NOTIFIER_SNS_TOPICS"
DIGEST_FLUSH_SECONDS = 60.0
_LOOP_TIMEOUT_SECONDS = 1  # how long one poll waits; stop() wakes it at once anyway


class RunningServer:
    """A waitress server bound at construction (port 0: an ephemeral port), served by `run` until `stop`."""

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, threads: int = 4, max_body: int = MAX_BODY_BYTES
    ) -> None:
        from waitress.server import create_server  # type: ignore[import-untyped]

        self._map: dict[int, Any] = {}  # our own socket map, so that stop() closes exactly our sockets
        self._server = create_server(
            app,
            map=self._map,
            host=host,
            port=port,
            threads=threads,
            # waitress refuses a body of max_request_body_size bytes or more with its own 413; one byte
            # more than ours leaves the exact limit to the application and still never buffers past it.
            max_request_body_size=max_body + 1,
            ident="compliance-notifier",
            asyncore_use_poll=True,  # select() cannot watch descriptors above 1024
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        return f"http://{self._server.effective_host}:{self.port}"

    def run(self) -> None:
        """Serve until `stop`; then close every connection and wait for the worker threads."""
        from waitress import wasyncore  # type: ignore[import-untyped]

        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=_LOOP_TIMEOUT_SECONDS, map=self._map, use_poll=True, count=1)
        finally:
            wasyncore.close_all(self._map, ignore_all=True)
            self._server.task_dispatcher.shutdown()

    def start(self) -> RunningServer:
        """Serve from a background thread (tests, the demo)."""
        self._thread = threading.Thread(target=self.run, name="sns-subscriber", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        with suppress(OSError):  # already closed: run() has ended
            self._server.pull_trigger()  # wake the poll so that run() sees the flag now
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)


def allowed_topics(flags: Sequence[str], environ: Mapping[str, str]) -> frozenset[str]:
    """--topic-arn values, else NOTIFIER_SNS_TOPICS (comma-separated); at least one, each an SNS topic ARN."""
    raw = list(flags) or environ.get(TOPICS_VARIABLE, "").split(",")
    topics = frozenset(topic.strip() for topic in raw if topic.strip())
    if not topics:
        raise NotifierError(f"serve needs the topic(s) to accept: --topic-arn ARN (repeatable) or {TOPICS_VARIABLE}")
    for topic in sorted(topics):
        try:
            sns_host(topic_region(topic))  # a well-formed region too: it names the certificate host
        except NotifierError:
            raise NotifierError(f"{topic!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)") from None
    return topics


def serve_command(
    *, config: str | None, state: str | None, host: str, port: int, topic_arns: Sequence[str], threads: int
) -> int:
    """What `compliance-notifier serve` runs; returns the exit code after a clean stop."""
    from ..app import build_pipeline, load_config_reference
    from ..secret_references import require_resolvable
    from ..secrets import SecretResolver
    from ..state import default_state_url, open_state
    from .certificates import SigningCertificates
    from .subscriber import SnsSubscriber

    if threads < 1:
        raise NotifierError(f"--threads must be at least 1, not {threads}")
    topics = allowed_topics(topic_arns, os.environ)
    reference = config or os.environ.get("NOTIFIER_CONFIG")
    if not reference:
        raise NotifierError("serve needs the routing config: --config FILE or NOTIFIER_CONFIG")
    routing = load_config_reference(reference)
    require_resolvable(routing.destinations, SecretResolver(), routing.source)
    store = open_state(state or default_state_url())
    try:
        pipeline = build_pipeline(routing, state=store)
        app = SnsSubscriber(pipeline, topics, public_key_for=SigningCertificates().public_key, workers=threads)
        try:
            server = RunningServer(app, host=host, port=port, threads=threads)
        except OSError as exc:  # the port is taken, the address is not ours
            raise NotifierError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        logger.info(
            "serving SNS deliveries",
            extra={"url": server.url, "topics": sorted(topics), "destinations": sorted(pipeline.specs)},
        )
        with _stopped_by_signals(server), _flushing_digests(pipeline):
            server.run()
    finally:
        store.close()
    logger.info("stopped")
    return 0


@contextmanager
def _stopped_by_signals(server: RunningServer) -> Iterator[None]:
    """SIGTERM (docker stop, systemd, ECS) and SIGINT stop the server; the old handlers come back after."""
    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    for number in previous:
        signal.signal(number, lambda _number, _frame: server.stop())
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def _flushing_digests(pipeline: Pipeline, every: float = DIGEST_FLUSH_SECONDS) -> Iterator[None]:
    from ..digests.flush import flush_due

    done = threading.Event()

    def flush_until_done() -> None:
        while not done.wait(every):
            try:
                flush_due(pipeline)
            except Exception as exc:  # a store hiccup: the next round retries; never kill the thread
                logger.warning("flushing digests failed; retrying next round", extra={"error": type(exc).__name__})

    thread = threading.Thread(target=flush_until_done, name="digest-flush", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)
