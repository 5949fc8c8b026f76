"""Helpers shared by the remediation tests: the IAM-user notification of the standardized-IAM-policy
rule (tests/events), varied per test, and the Outgoing a route hands the `lambda` destination."""

from __future__ import annotations

from typing import Any

from notifier.destinations.base import Outgoing
from notifier.envelopes import InboundMessage
from notifier.notification import ComplianceNotification, parse
from notifier.transition import Compliance, transition
from tests.conftest import EVENTS, load_json

IAM_VIOLATION = EVENTS / (
    "ComplianceChangeNotification__iam-user_DBSuperUser_compliant-to-noncompliant__standardized-iam-policies.json"
)
RULE = "standardized-iam-policies"
DBSUPERUSER_ID = "AIDAQX7O4KVVL5QSHX3MJ"


def iam_notification(**changes: Any) -> ComplianceNotification:
    """The fixture parsed, with any field replaced (resource_id, account, rule, ...); `old` may be a
    Compliance to vary the transition (Compliance.NONE: a first evaluation)."""
    parsed = parse(InboundMessage("config", "$", load_json(IAM_VIOLATION)))
    assert isinstance(parsed, ComplianceNotification)
    old = changes.pop("old", None)
    if old is Compliance.NONE:
        parsed = parsed._replace(old=None)
    elif old is not None:
        assert parsed.old is not None
        parsed = parsed._replace(old=parsed.old._replace(compliance=old))
    new = changes.pop("new", None)
    if new is not None:
        parsed = parsed._replace(new=parsed.new._replace(compliance=new))
    return parsed._replace(**changes)


def outgoing(notification: ComplianceNotification | None = None, **changes: Any) -> Outgoing:
    n = notification if notification is not None else iam_notification(**changes)
    return Outgoing(n, transition(n.old_compliance, n.new.compliance), ("iam-violations",), "sns-message-1")
