"""Helpers shared by the state-store tests: notifications built from the real fixtures, and a moto
DynamoDB table in-process (`mock_aws`) or behind a real HTTP server for thread races."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from notifier.envelopes import InboundMessage
from notifier.notification import ComplianceNotification, parse
from notifier.state.base import HistoryEntry, Observation, ResourceKey, ordering_key
from notifier.transition import Compliance, transition_kind
from tests.conftest import compliance_message

# COMPLIANT -> NON_COMPLIANT on a CloudWatch log group: orderingTimestamp 2021-11-01T06:45:35.797Z.
VIOLATION = "ComplianceChangeNotification__02_"


def notification(
    fixture: str = VIOLATION,
    *,
    at: str | None = None,
    recorded: str | None = None,
    compliance: Compliance | None = None,
    resource_id: str | None = None,
) -> ComplianceNotification:
    """A parsed fixture, with its new result's times, compliance or resource varied."""
    parsed = parse(InboundMessage("config", "$", compliance_message(fixture)))
    assert isinstance(parsed, ComplianceNotification)
    new = parsed.new
    if at is not None:
        new = new._replace(ordering_timestamp=at)
    if recorded is not None:
        new = new._replace(recorded_at=recorded)
    if compliance is not None:
        new = new._replace(compliance=compliance)
    varied = parsed._replace(new=new)
    return varied._replace(resource_id=resource_id) if resource_id is not None else varied


def history_entry(
    n: ComplianceNotification, *, recorded_at: str, message_id: str | None = None, actions: dict[str, str] | None = None
) -> HistoryEntry:
    return HistoryEntry(
        key=ResourceKey.of(n),
        ordering_key=ordering_key(n),
        old=n.old_compliance,
        new=n.new.compliance,
        kind=transition_kind(n.old_compliance, n.new.compliance).value,
        observation=Observation.FRESH,
        message_id=message_id,
        recorded_at=recorded_at,
        actions=actions or {},
    )


def unique_table() -> str:
    return f"notifier-state-{uuid.uuid4().hex[:12]}"


@contextmanager
def serial_moto_server() -> Iterator[str]:
    """moto's DynamoDB behind a real HTTP server on 127.0.0.1 (a free port), answering one request at a
    time. That is DynamoDB's own guarantee (each conditional write on an item is atomic), which moto's
    backend does not give to concurrent requests: it has no locks, and a threaded server would let two
    requests interleave inside one conditional write. Everything on our side still races for real:
    threads, connections, and the gap between our reads and our conditional writes."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class OneRequestPerConnection(MotoRequestHandler):
        protocol_version = "HTTP/1.0"  # a kept-alive idle connection would block a one-at-a-time server

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            """Quiet: a line per request would bury a failing test's output."""

    server = make_server(
        "127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), request_handler=OneRequestPerConnection
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="moto-dynamodb", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def dynamodb_client(endpoint_url: str | None = None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=32, retries={"mode": "standard"}),
    )
