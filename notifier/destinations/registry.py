"""Build a connected `Destination` from its `DestinationSpec`, importing only the channels in use.

Each channel module exposes ``create(spec, context) -> Destination``. The module is imported on first
use (importlib), so a Lambda whose config only sends email never imports the Jira or webhook code at
cold start. Everything a channel needs from the outside (renderer, secrets, boto3 clients) arrives in
one `BuildContext`, which tests and the demo fill with fakes or moto-backed clients.
"""

from __future__ import annotations

import importlib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..concurrency import CONNECTIONS_PER_POOL
from ..errors import NotifierError
from ..render import Renderer
from ..secrets import SecretResolver
from ..state.base import StateStore
from .base import Destination, DestinationSpec

ClientFactory = Callable[[str, str | None], Any]

# type -> "module:function". A type listed here whose module is not shipped yet is reported as such.
CHANNELS: dict[str, str] = {
    "email": "notifier.destinations.email:create",
    "file": "notifier.destinations.file:create",
    "jira": "notifier.destinations.jira:create",
    "servicenow": "notifier.destinations.servicenow:create",
    "webhook": "notifier.destinations.webhook:create",
    "slack": "notifier.destinations.slack:create",
    "lambda": "notifier.destinations.remediation:create",
}

_clients: dict[tuple[str, str | None], Any] = {}
_clients_lock = threading.Lock()


def default_client_factory(service: str, region: str | None) -> Any:
    """One boto3 client per (service, region) for the life of the process.

    The lock matters: boto3's default session is not thread-safe while it creates clients, and the
    delivery stage may send to several destinations from threads.
    """
    key = (service, region)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                import boto3
                from botocore.config import Config

                # Standard retry mode backs off on throttling; the delivery stage retries on top of it,
                # so keep botocore's own attempts few and its timeouts short.
                config = Config(
                    retries={"mode": "standard", "max_attempts": 3},
                    connect_timeout=5,
                    read_timeout=15,
                    max_pool_connections=CONNECTIONS_PER_POOL,  # botocore keeps 10; a batch's threads share it
                )
                # Through a plain Callable: boto3-stubs only type-check literal service names.
                create_client: Callable[..., Any] = boto3.client
                client = create_client(service, region_name=region, config=config)
                _clients[key] = client
    return client


@dataclass(frozen=True, slots=True)
class BuildContext:
    renderer: Renderer
    secrets: SecretResolver
    client_factory: ClientFactory = default_client_factory
    # Trust for SMTP TLS; None means the system's CA bundle (tests inject a trustme CA).
    smtp_ssl_context: ssl.SSLContext | None = None
    # The pipeline's state store: the remediation channel keeps its rate-limit and breaker counts there.
    state: StateStore | None = None


def build_destination(spec: DestinationSpec, context: BuildContext) -> Destination:
    target = CHANNELS.get(spec.type)
    if target is None:
        known = ", ".join(sorted(CHANNELS))
        raise NotifierError(f"destination {spec.name!r}: unknown type {spec.type!r} (known types: {known})")
    module_name, _, function_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:  # a real import bug inside the channel must not look like "not shipped"
            raise
        raise NotifierError(
            f"destination {spec.name!r}: type {spec.type!r} is not available in this version yet"
        ) from None
    create: Callable[[DestinationSpec, BuildContext], Destination] = getattr(module, function_name)
    return create(spec, context)
