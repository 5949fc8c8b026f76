"""Example remediation function for the standardized-iam-policies rule: one IAM user, brought back to
the approved managed policy alone.

Deploy it as its own Lambda (handler `notifier.rules.remediate_standardized_iam_policies.lambda_handler`)
and point a `type: lambda` destination at it; it takes the payload of `notifier.remediation.payload`
(version 1). Its environment:

    DESIRED_POLICY_NAME  the approved managed policy, kept (default MyIAMUserPolicy, as the rule's)
    EXCEPTION_LIST       comma-separated user names (or unique ids) never touched, e.g. "admin,breakglass"
    DRY_RUN              "true" unless set: log what would change and change nothing. Only false/0/no/off
                         lets it change IAM, and a payload that says "dry_run": true still changes nothing.

For the user in the payload (found by Config's resourceId, the unique id AIDA…, or by name) it detaches
every managed policy but the approved one and deletes every inline policy, logging each inline policy's
document first so that a person can put it back. It never attaches the approved policy when it is
missing: granting permissions is a person's decision, and the summary's `expected_after` says the user
still needs it. It is idempotent: a second run finds nothing to change (AWS may deliver one async
event twice), and a policy removed by someone else in between counts as done.

Every change it would make or made is one JSON line on stdout (CloudWatch Logs keeps them as they are);
the return value is the summary. Permissions it needs: iam:ListUsers, iam:ListAttachedUserPolicies,
iam:ListUserPolicies, iam:GetUserPolicy, iam:DetachUserPolicy, iam:DeleteUserPolicy.

Like the rule, it imports nothing from the delivery side: boto3 (in the Lambda runtime) and the standard
library, and the payload constants.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..remediation.payload import PAYLOAD_TYPE, PAYLOAD_VERSION
from .standardized_iam_policies import evaluate_user_policies

DEFAULT_DESIRED_POLICY = "MyIAMUserPolicy"
IAM_USER = "AWS::IAM::User"
_FALSE = frozenset({"false", "0", "no", "off"})
_TRUE = frozenset({"true", "1", "yes", "on"})

LogLine = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class RemediationSettings:
    desired_policy: str
    exceptions: frozenset[str]  # names casefolded (IAM names are unique regardless of case) and ids
    dry_run: bool

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> RemediationSettings:
        names = (name.strip() for name in environ.get("EXCEPTION_LIST", "").split(","))
        dry_run_text = environ.get("DRY_RUN", "true").strip().lower()
        if dry_run_text not in _FALSE | _TRUE:
            _log_line({"event": "remediation.config", "warning": f"DRY_RUN={dry_run_text!r} is unclear: dry run"})
        return cls(
            desired_policy=environ.get("DESIRED_POLICY_NAME", "").strip() or DEFAULT_DESIRED_POLICY,
            exceptions=frozenset(name.casefold() for name in names if name),
            dry_run=dry_run_text not in _FALSE,  # anything but an explicit "no" is a dry run
        )

    def excepts(self, user_name: str, user_id: str) -> bool:
        return user_name.casefold() in self.exceptions or user_id.casefold() in self.exceptions


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return remediate(event, iam_client(), RemediationSettings.from_environment())


@functools.cache
def iam_client() -> Any:
    """One client per container (IAM is global, so no region to choose)."""
    import boto3
    from botocore.config import Config

    return boto3.client("iam", config=Config(retries={"mode": "standard", "max_attempts": 5}))


def remediate(
    payload: Mapping[str, Any], iam: Any, settings: RemediationSettings, *, log: LogLine | None = None
) -> dict[str, Any]:
    """Remediate the payload's user; raises ValueError for a payload this function cannot read (an
    async invocation that fails is retried, then kept by the function's on-failure destination)."""
    emit = log or _log_line
    notification = _checked(payload)
    dry_run = settings.dry_run or bool(payload.get("dry_run"))
    summary: dict[str, Any] = {
        "idempotency_key": payload.get("idempotency_key"),
        "resource_id": notification["resource_id"],
        "dry_run": dry_run,
        "changes": [],
    }
    if notification["resource_type"] != IAM_USER or notification["compliance"] != "NON_COMPLIANT":
        return _finish(summary, "skipped", emit)  # not this function's business: nothing to fix
    user = _find_user(iam, notification["resource_id"])
    if user is None:
        return _finish(summary, "not-found", emit)  # deleted since: nothing left to fix
    name, user_id = user["UserName"], user["UserId"]
    summary.update(user=name, user_id=user_id)
    if settings.excepts(name, user_id):
        return _finish(summary, "excepted", emit)
    attached = list(_attached_policies(iam, name))
    inline = list(_inline_policy_names(iam, name))
    changes = [
        {"action": "detach_managed_policy", "policy_name": policy["PolicyName"], "policy_arn": policy["PolicyArn"]}
        for policy in attached
        if policy["PolicyName"] != settings.desired_policy
    ]
    for policy_name in inline:
        document = iam.get_user_policy(UserName=name, PolicyName=policy_name)["PolicyDocument"]
        changes.append({"action": "delete_inline_policy", "policy_name": policy_name, "policy_document": document})
    for change in changes:
        outcome = "would" if dry_run else _apply(iam, name, change)
        summary["changes"].append({**change, "outcome": outcome})
        emit({"event": "remediation.change", "user": name, "user_id": user_id, "dry_run": dry_run,
              "idempotency_key": summary["idempotency_key"], **change, "outcome": outcome})  # fmt: skip
    kept = [policy["PolicyName"] for policy in attached if policy["PolicyName"] == settings.desired_policy]
    verdict, why = evaluate_user_policies(name, kept, [], desired_policy=settings.desired_policy, exceptions=())
    summary["expected_after"] = {"compliance": verdict.value, "annotation": why}
    status = "nothing-to-do" if not changes else "dry-run" if dry_run else "remediated"
    return _finish(summary, status, emit)


def _checked(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise ValueError("the event is not a remediation payload (not a JSON object)")
    if payload.get("type") != PAYLOAD_TYPE or payload.get("version") != PAYLOAD_VERSION:
        raise ValueError(
            f"unsupported payload: type {payload.get('type')!r} version {payload.get('version')!r} "
            f"(this function reads {PAYLOAD_TYPE!r} version {PAYLOAD_VERSION})"
        )
    notification = payload.get("notification")
    needed = ("resource_type", "resource_id", "compliance")
    if not isinstance(notification, Mapping) or not all(isinstance(notification.get(k), str) for k in needed):
        raise ValueError(f"the payload's notification lacks one of {', '.join(needed)}")
    return notification


def _find_user(iam: Any, resource_id: str) -> dict[str, Any] | None:
    """Config names IAM users by unique id (AIDA…), which no IAM call takes: list the users and match it
    (or a name, for a payload written by hand)."""
    for page in iam.get_paginator("list_users").paginate():
        for user in page["Users"]:
            if resource_id in (user["UserId"], user["UserName"]):
                return dict(user)
    return None


def _attached_policies(iam: Any, user_name: str) -> Iterator[dict[str, str]]:
    for page in iam.get_paginator("list_attached_user_policies").paginate(UserName=user_name):
        yield from page["AttachedPolicies"]


def _inline_policy_names(iam: Any, user_name: str) -> Iterator[str]:
    for page in iam.get_paginator("list_user_policies").paginate(UserName=user_name):
        yield from page["PolicyNames"]


def _apply(iam: Any, user_name: str, change: Mapping[str, Any]) -> str:
    """The outcome: "done", or "already-gone" when someone removed it between our listing and our call."""
    try:
        if change["action"] == "detach_managed_policy":
            iam.detach_user_policy(UserName=user_name, PolicyArn=change["policy_arn"])
        else:
            iam.delete_user_policy(UserName=user_name, PolicyName=change["policy_name"])
    except iam.exceptions.NoSuchEntityException:
        return "already-gone"
    return "done"


def _finish(summary: dict[str, Any], status: str, emit: LogLine) -> dict[str, Any]:
    summary["status"] = status
    emit({"event": "remediation.summary", **{k: v for k, v in summary.items() if k != "changes"},
          "changes": len(summary["changes"])})  # fmt: skip
    return summary


def _log_line(record: dict[str, Any]) -> None:
    print(json.dumps(record, default=str, separators=(",", ":")), flush=True)
