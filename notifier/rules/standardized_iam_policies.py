"""standardized-iam-policies: every IAM user but the excepted ones carries exactly the approved
managed policy (`desiredPolicyName`) and nothing else — no other managed policy, no inline policy.

Lambda handler: `notifier.rules.standardized_iam_policies.lambda_handler`. Triggers: configuration
changes of AWS::IAM::User, and a schedule (every user, listed through IAM). Parameters:

    desiredPolicyName       required: the one managed policy a user must carry (by name)
    exceptionList           optional: comma-separated user names (or AIDA… ids), matched without case;
                            an excepted user is NOT_APPLICABLE: the rule's logic does not apply to it
    includeGroupPolicies    optional, "true"/"false" (default false): also count the managed and inline
                            policies the user inherits from its groups (IAM calls, also on changes)

The decision is the pure `evaluate_user_policies` (the remediation example and the demo use it too).
Like every rule module it imports nothing from the delivery side, so a rule's cold start stays small.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..transition import Compliance
from .base import ANNOTATION_LIMIT, AwsClients, ConfigRule, Evaluation, Invocation, Verdict
from .config_items import ConfigurationItem, attached_managed_policies, group_names, inline_policies
from .evaluator import lambda_handler_for
from .parameters import RuleParameters

IAM_USER = "AWS::IAM::User"


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


@dataclass(frozen=True, slots=True)
class Settings:
    desired_policy: str
    exceptions: frozenset[str]  # casefolded: IAM user names are unique regardless of case
    include_group_policies: bool

    def excepts(self, user_name: str, user_id: str) -> bool:
        return user_name.casefold() in self.exceptions or user_id.casefold() in self.exceptions


class StandardizedIamPolicies(ConfigRule[Settings]):
    name = "standardized-iam-policies"
    resource_types = frozenset({IAM_USER})
    periodic_resource_types = frozenset({IAM_USER})  # a periodic run lists every user

    def parse_parameters(self, parameters: RuleParameters) -> Settings:
        return Settings(
            desired_policy=parameters.text("desiredPolicyName"),
            exceptions=frozenset(name.casefold() for name in parameters.names("exceptionList")),
            include_group_policies=parameters.flag("includeGroupPolicies", default=False),
        )

    def evaluate_change(
        self, configuration_item: ConfigurationItem, parameters: Settings, clients: AwsClients
    ) -> Verdict:
        user_name = str(configuration_item.config.get("userName") or configuration_item.resource_name)
        attached = [policy.name for policy in attached_managed_policies(configuration_item)]
        inline = [policy.name for policy in inline_policies(configuration_item)]
        if parameters.include_group_policies and not parameters.excepts(user_name, configuration_item.resource_id):
            group_attached, group_inline = _group_policies(clients.iam, group_names(configuration_item), parameters)
            attached += group_attached
            inline += group_inline
        return _verdict(user_name, configuration_item.resource_id, attached, inline, parameters)

    def evaluate_periodic(
        self, parameters: Settings, clients: AwsClients, invocation: Invocation
    ) -> Iterator[Evaluation]:
        iam = clients.iam
        for user in _paginate(iam, "list_users", "Users"):
            name, user_id = user["UserName"], user["UserId"]
            if parameters.excepts(name, user_id):
                verdict = _verdict(name, user_id, [], [], parameters)  # no IAM calls for an excepted user
            else:
                attached = [
                    p["PolicyName"]
                    for p in _paginate(iam, "list_attached_user_policies", "AttachedPolicies", UserName=name)
                ]
                inline = list(_paginate(iam, "list_user_policies", "PolicyNames", UserName=name))
                if parameters.include_group_policies:
                    groups = [g["GroupName"] for g in _paginate(iam, "list_groups_for_user", "Groups", UserName=name)]
                    group_attached, group_inline = _group_policies(iam, groups, parameters)
                    attached += group_attached
                    inline += group_inline
                verdict = _verdict(name, user_id, attached, inline, parameters)
            # Config names IAM users by their unique id (AIDA…), so the periodic and change verdicts meet.
            yield Evaluation(IAM_USER, user_id, verdict.compliance, verdict.annotation)


def _verdict(user_name: str, user_id: str, attached: list[str], inline: list[str], settings: Settings) -> Verdict:
    excepted = (user_name,) if settings.excepts(user_name, user_id) else ()
    compliance, annotation = evaluate_user_policies(
        user_name, attached, inline, desired_policy=settings.desired_policy, exceptions=excepted
    )
    return Verdict(compliance, annotation)


def _group_policies(iam: Any, groups: Iterable[str], settings: Settings) -> tuple[list[str], list[str]]:
    """Managed and inline policy names inherited from the groups, labelled with their group so that an
    annotation says where an extra policy comes from (the approved one keeps its bare name: inheriting
    it from a group satisfies the rule)."""
    attached: list[str] = []
    inline: list[str] = []
    for group in groups:
        try:
            for policy in _paginate(iam, "list_attached_group_policies", "AttachedPolicies", GroupName=group):
                name = policy["PolicyName"]
                attached.append(name if name == settings.desired_policy else f"{name} (group {group})")
            inline += [
                f"{name} (group {group})"
                for name in _paginate(iam, "list_group_policies", "PolicyNames", GroupName=group)
            ]
        except iam.exceptions.NoSuchEntityException:
            continue  # the group was deleted after the item was recorded: it grants nothing now
    return attached, inline


def _paginate(iam: Any, operation: str, key: str, **arguments: Any) -> Iterator[Any]:
    for page in iam.get_paginator(operation).paginate(**arguments):
        yield from page[key]


RULE = StandardizedIamPolicies()
lambda_handler = lambda_handler_for(RULE)
