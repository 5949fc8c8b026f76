"""no-role-modifies-security-groups: the role fixtures through the rule's Lambda handler, the exception
list, attached managed policies from moto's IAM, and a periodic run over real roles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest

from notifier.rules import RuleParameterError
from notifier.rules.no_role_modifies_security_groups import RULE, SECURITY_GROUP_ACTIONS, lambda_handler

from .support import World, edit_item, event, last_verdict, rule_world
from .test_ec2_roles_without_iam_privileges import EC2_TRUST, LAMBDA_TRUST, create_role, encoded
from .test_policy_analysis import AMAZON_EC2_FULL_ACCESS, allow, deny, policy

NETOPS_ROLE = "ConfigurationItemChangeNotification__26"  # allowed ec2:AuthorizeSecurityGroupIngress
NETOPS_ROLE_ID = "AROA4Z6EBNEZKMJ7M6MOH"
BUILD_RUNNER = "ConfigurationItemChangeNotification__27"  # PowerUserAccess's document, inline


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with rule_world(monkeypatch) as created:
        yield created


def judged(world: World, loaded: dict[str, Any], parameters: dict[str, str] | None = None) -> tuple[str, str]:
    return last_verdict(world, lambda_handler, RULE.name, loaded, parameters)


@pytest.mark.parametrize(
    ("prefix", "compliance", "annotation"),
    [
        (
            NETOPS_ROLE,
            "NON_COMPLIANT",
            "may change security groups: ec2:AuthorizeSecurityGroupIngress allowed by"
            " SecurityGroupAutomation#OpenAppPorts",
        ),
        (
            BUILD_RUNNER,
            "NON_COMPLIANT",
            "may change security groups, all 11 actions: ec2:AuthorizeSecurityGroupIngress,"
            " ec2:AuthorizeSecurityGroupEgress, ec2:RevokeSecurityGroupIngress and 8 more allowed by PowerUserCopy#1"
            " (all but iam:*, organizations:*, account:*)",
        ),
        ("ConfigurationItemChangeNotification__20", "COMPLIANT", "allowed no security-group changing action"),
        ("ConfigurationItemChangeNotification__21", "COMPLIANT", "allowed no security-group changing action"),
        ("ConfigurationItemChangeNotification__28", "COMPLIANT", "allowed no security-group changing action"),
        (
            "ConfigurationItemChangeNotification__23",
            "NOT_APPLICABLE",
            "no-role-modifies-security-groups does not evaluate AWS::IAM::User",
        ),
    ],
)
def test_each_role_fixture_gets_its_verdict(world: World, prefix: str, compliance: str, annotation: str) -> None:
    assert judged(world, event(prefix)) == (compliance, annotation)


def test_the_verdict_is_put_for_the_roles_unique_id(world: World) -> None:
    judged(world, event(NETOPS_ROLE))
    (entry,) = world.config.evaluations
    assert (entry["ComplianceResourceType"], entry["ComplianceResourceId"]) == ("AWS::IAM::Role", NETOPS_ROLE_ID)


@pytest.mark.parametrize("listed", ["netops-automation", "NetOps-Automation", NETOPS_ROLE_ID])
def test_a_role_in_the_exception_list_is_not_applicable(world: World, listed: str) -> None:
    verdict = judged(world, event(NETOPS_ROLE), {"exceptionList": f"sg-janitor,{listed}"})
    assert verdict == ("NOT_APPLICABLE", "netops-automation is in the exceptionList")
    assert judged(world, event(BUILD_RUNNER), {"exceptionList": f"sg-janitor,{listed}"})[0] == "NON_COMPLIANT"


def test_an_unclear_flag_is_an_error_naming_the_parameter(world: World) -> None:
    with pytest.raises(RuleParameterError, match="includeServiceLinkedRoles"):
        judged(world, event(NETOPS_ROLE), {"includeServiceLinkedRoles": "sometimes"})
    assert world.config.put_calls == []  # nothing is put: the verdicts Config holds stay


def test_the_annotation_says_which_actions_are_allowed_under_a_condition(world: World) -> None:
    document = policy(
        allow(
            ["ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup"],
            Sid="Tagged",
            Condition={"StringEquals": {"aws:ResourceTag/team": "net"}},
        ),
        allow("ec2:RevokeSecurityGroup*", Sid="Tidy"),
    )
    loaded = edit_item(event(NETOPS_ROLE), rolePolicyList=[{"policyName": "Net", "policyDocument": encoded(document)}])
    assert judged(world, loaded) == (
        "NON_COMPLIANT",
        "may change security groups: ec2:RevokeSecurityGroupIngress, ec2:RevokeSecurityGroupEgress allowed by Net#Tidy"
        " (ec2:RevokeSecurityGroup*); ec2:CreateSecurityGroup, ec2:DeleteSecurityGroup allowed under a condition"
        " by Net#Tagged",
    )


def test_an_unconditional_deny_in_another_attached_policy_removes_the_allowance(world: World) -> None:
    arn = world.iam.create_policy(
        PolicyName="NoSecurityGroupChanges", PolicyDocument=json.dumps(policy(deny("ec2:*SecurityGroup*")))
    )["Policy"]["Arn"]
    loaded = edit_item(
        event(BUILD_RUNNER), attachedManagedPolicies=[{"policyName": "NoSecurityGroupChanges", "policyArn": arn}]
    )
    assert judged(world, loaded) == ("COMPLIANT", "allowed no security-group changing action")


def test_the_action_list_names_only_real_ec2_operations_that_write_a_security_group() -> None:
    operations = set(botocore.session.get_session().get_service_model("ec2").operation_names)
    names = [action.removeprefix("ec2:") for action in SECURITY_GROUP_ACTIONS]
    assert set(names) <= operations and len(set(names)) == len(names)
    readers = {name for name in operations if "SecurityGroup" in name and name.startswith(("Describe", "Get"))}
    assert not readers & set(names)


def test_a_periodic_run_judges_every_role_in_iam(world: World) -> None:
    netops = create_role(world, "netops", EC2_TRUST, inline=policy(allow("ec2:AuthorizeSecurityGroup*")))
    reader = create_role(world, "reader", LAMBDA_TRUST, inline=policy(allow("ec2:Describe*")))
    fleet = create_role(world, "fleet", EC2_TRUST)
    arn = world.iam.create_policy(PolicyName="EC2FullAccessCopy", PolicyDocument=json.dumps(AMAZON_EC2_FULL_ACCESS))[
        "Policy"
    ]["Arn"]
    world.iam.attach_role_policy(RoleName="fleet", PolicyArn=arn)
    world.iam.create_role(
        RoleName="AWSServiceRoleForElasticLoadBalancing",
        Path="/aws-service-role/elasticloadbalancing.amazonaws.com/",
        AssumeRolePolicyDocument=json.dumps(EC2_TRUST),
    )
    world.iam.put_role_policy(
        RoleName="AWSServiceRoleForElasticLoadBalancing",
        PolicyName="elb",
        PolicyDocument=json.dumps(policy(allow("ec2:CreateSecurityGroup"))),
    )

    parameters = json.dumps({"exceptionList": "netops"})
    lambda_handler(
        {**event("ScheduledNotification__10"), "configRuleName": RULE.name, "ruleParameters": parameters}, None
    )

    verdicts = {entry["ComplianceResourceId"]: entry for entry in world.config.evaluations}
    assert verdicts[netops]["ComplianceType"] == "NOT_APPLICABLE"
    assert verdicts[reader]["ComplianceType"] == "COMPLIANT"
    assert verdicts[fleet]["ComplianceType"] == "NON_COMPLIANT"
    assert (
        "all 11 actions" in verdicts[fleet]["Annotation"]
        and "EC2FullAccessCopy#1 (ec2:*)" in verdicts[fleet]["Annotation"]
    )
    (linked,) = [v for k, v in verdicts.items() if k not in (netops, reader, fleet)]
    assert linked["ComplianceType"] == "NOT_APPLICABLE" and "service-linked" in linked["Annotation"]
