"""Who may assume a role: the role's trust policy (`assumeRolePolicyDocument`) read for one question,
"can this service principal assume it?".

A trust statement lets a principal assume the role when it is an `Allow` whose `Action`/`NotAction`
admits `sts:AssumeRole` (the action EC2 uses for instance profiles) and whose `Principal` names the
service, as a string or in a list. Choices, each on the side of "yes, it can":

- `"Principal": "*"` and `{"AWS": "*"}` let anyone assume the role, that service included;
  `NotPrincipal` in an Allow lets everyone but the listed principals, so it counts the same.
- A `Condition` (aws:SourceAccount, aws:SourceArn…) narrows who, not which service: it still counts.
- `Deny` statements are not subtracted: a trust policy that allows a service and denies it is a
  mistake worth a finding, and IAM rejects most such shapes anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .policy_analysis import parse_statements
from .policy_patterns import matches

ASSUME_ROLE = "sts:AssumeRole"
# The EC2 service principal in the aws partition and in the China regions.
EC2_PRINCIPALS = frozenset({"ec2.amazonaws.com", "ec2.amazonaws.com.cn"})


def who_can_assume(trust_policy: Mapping[str, Any], services: frozenset[str], role: str = "trust policy") -> str | None:
    """Why one of `services` can assume the role ("ec2.amazonaws.com", "any principal (*)"), or None.

    Raises PolicyDocumentError when the trust policy is not a policy document.
    """
    parsed = parse_statements(role, trust_policy)
    raw = trust_policy["Statement"]
    raw_statements = [raw] if isinstance(raw, Mapping) else raw
    wanted = {service.lower() for service in services}
    for statement, original in zip(parsed, raw_statements, strict=True):
        if not statement.allow or not _admits_assume_role(statement.patterns, statement.not_action):
            continue
        if "NotPrincipal" in original:
            return "any principal but those in NotPrincipal"
        principal = original.get("Principal")
        if principal == "*" or (isinstance(principal, Mapping) and "*" in _values(principal.get("AWS"))):
            return "any principal (*)"
        if isinstance(principal, Mapping):
            named = sorted(value for value in _values(principal.get("Service")) if value.lower() in wanted)
            if named:
                return named[0]
    return None


def _admits_assume_role(patterns: tuple[str, ...], not_action: bool) -> bool:
    listed = any(matches(pattern, ASSUME_ROLE) for pattern in patterns)
    return listed != not_action


def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
