"""Building ServiceNow destinations and notifications for the tests that run against `ServiceNowFake`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from notifier.destinations.base import DestinationSpec, Outgoing
from notifier.destinations.registry import BuildContext, build_destination
from notifier.destinations.servicenow import ServiceNowDestination
from notifier.envelopes import InboundMessage
from notifier.notification import ComplianceNotification, parse
from notifier.render import Renderer
from notifier.secrets import SecretResolver
from notifier.state.base import ResourceKey
from notifier.transition import Compliance, transition
from tests.conftest import compliance_message
from tests.functional.servicenow_fake import ServiceNowFake

SECRETS = {"SN_PASSWORD": "s3cret-basic", "SN_CLIENT_SECRET": "s3cret-oauth"}
CLIENT = ("3b1c5a4f0e2d4c6b8a9f7e6d5c4b3a21", "s3cret-oauth")


@contextmanager
def serving(fake: ServiceNowFake) -> Iterator[ServiceNowFake]:
    """Run the fake; afterwards, fail on any request that broke ServiceNow's documented contract."""
    fake.start()
    try:
        yield fake
    finally:
        fake.go_down()
    fake.server.check_handler_errors()
    assert not fake.violations, "requests that break ServiceNow's documented contract:\n" + "\n".join(fake.violations)


def spec(fake: ServiceNowFake, **options: Any) -> DestinationSpec:
    auth: dict[str, Any] = {"username": "integration", "password": "env:SN_PASSWORD"}
    if "client_id" in options:
        auth = {}
    return DestinationSpec("sec-snow", "servicenow", {"url": fake.url, **auth, **options})


def build(
    fake: ServiceNowFake,
    *,
    templates_dir: Path | None = None,
    environ: dict[str, str] | None = None,
    **options: Any,
) -> ServiceNowDestination:
    context = BuildContext(Renderer(templates_dir), SecretResolver(environ=SECRETS if environ is None else environ))
    destination = build_destination(spec(fake, **options), context)
    assert isinstance(destination, ServiceNowDestination)
    return destination


def outgoing(
    old: Compliance = Compliance.COMPLIANT,
    new: Compliance = Compliance.NON_COMPLIANT,
    *,
    resource_id: str | None = None,
    annotation: str | None = None,
) -> Outgoing:
    """A real Config notification (a log group, COMPLIANT -> NON_COMPLIANT) moved to old -> new."""
    parsed = parse(InboundMessage("config", "$", body=compliance_message("ComplianceChangeNotification__02_")))
    assert isinstance(parsed, ComplianceNotification) and parsed.old is not None
    notification = parsed._replace(
        resource_id=resource_id or parsed.resource_id,
        new=parsed.new._replace(compliance=new, annotation=annotation or parsed.new.annotation),
        old=None if old is Compliance.NONE else parsed.old._replace(compliance=old),
    )
    return Outgoing(notification, transition(old, new), ("log-groups",), "msg-1")


def label_of(message: Outgoing) -> str:
    return ResourceKey.of(message.notification).label


VIOLATED = outgoing()
RESOLVED = outgoing(Compliance.NON_COMPLIANT, Compliance.COMPLIANT)
RETIRED = outgoing(Compliance.NON_COMPLIANT, Compliance.NOT_APPLICABLE)
LABEL = label_of(VIOLATED)
