"""standardized-iam-policies: every IAM user but the excepted ones carries exactly the approved
managed policy (`desiredPolicyName`) and nothing else — no other managed policy, no inline policy.

This module holds the rule's decision as a pure function; the Config rule Lambda around it (change
and periodic triggers, put_evaluations) is built on the rule base in issue 6. It imports nothing
from the delivery side, so a rule's cold start stays small.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from ..transition import Compliance

ANNOTATION_LIMIT = 256  # Config rejects longer annotations


def evaluate_user_policies(
    user_name: str,
    attached_policies: Iterable[str],
    inline_policies: Iterable[str],
    *,
    desired_policy: str,
    exceptions: Collection[str],
) -> tuple[Compliance, str]:
    """The verdict for one user and the annotation that says why."""
    if user_name in exceptions:
        return Compliance.NOT_APPLICABLE, f"{user_name} is in the exception list"
    attached = sorted(set(attached_policies))
    inline = sorted(set(inline_policies))
    problems = []
    if desired_policy not in attached:
        problems.append(f"missing {desired_policy}")
    extra = [name for name in attached if name != desired_policy]
    if extra:
        problems.append("extra managed: " + ", ".join(extra))
    if inline:
        problems.append("inline: " + ", ".join(inline))
    if not problems:
        return Compliance.COMPLIANT, f"only {desired_policy} is attached"
    annotation = "; ".join(problems)
    if len(annotation) > ANNOTATION_LIMIT:
        annotation = annotation[: ANNOTATION_LIMIT - 1] + "…"
    return Compliance.NON_COMPLIANT, annotation
