"""ec2-roles-without-iam-privileges: the role fixtures through the rule's Lambda handler, attached
managed policies read from moto's IAM, and a periodic run over real roles; the trust-policy reading."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from notifier.rules.ec2_roles_without_iam_privileges import RULE, lambda_handler
from notifier.rules.policy_analysis import PolicyDocumentError
from notifier.rules.policy_trust import EC2_PRINCIPALS, who_can_assume

from .support import World, edit_item, event, last_verdict, rule_world
from .test_policy_analysis import AMAZON_EC2_FULL_ACCESS, POWER_USER_ACCESS, allow, policy

EC2_TRUST = policy({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
LAMBDA_TRUST = policy({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
APP_ROLE = "ConfigurationItemChangeNotification__20"  # ec2-app-role, inline iam:*
APP_ROLE_ID = "AROAUY2MWYFXE4NYCVEKL"
NETOPS_ROLE = "ConfigurationItemChangeNotification__26"  # an EC2 role with no iam permission


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with rule_world(monkeypatch) as created:
        yield created


def judged(world: World, loaded: dict[str, Any], parameters: dict[str, str] | None = None) -> tuple[str, str]:
    return last_verdict(world, lambda_handler, RULE.name, loaded, parameters)


def encoded(document: dict[str, Any]) -> str:
    """A policy document as Config carries it: URL-encoded JSON."""
    return quote(json.dumps(document), safe="")


@pytest.mark.parametrize(
    ("prefix", "compliance", "annotation"),
    [
        (APP_ROLE, "NON_COMPLIANT", "EC2 role: iam:* allowed by AppBootstrap#1"),
        (
            "ConfigurationItemChangeNotification__21",
            "NOT_APPLICABLE",
            "not an EC2 role: its trust policy does not let ec2.amazonaws.com assume it",
        ),
        (NETOPS_ROLE, "COMPLIANT", "EC2 role allowed no iam action"),
        (
            "ConfigurationItemChangeNotification__27",
            "NON_COMPLIANT",
            "EC2 role: iam:* allowed by PowerUserCopy#2"
            " (iam:CreateServiceLinkedRole, iam:DeleteServiceLinkedRole, iam:ListRoles)",
        ),
        (
            "ConfigurationItemChangeNotification__28",
            "NON_COMPLIANT",
            "EC2 role: iam:* allowed under a condition by SpotFleetLaunch#EC2SpotManagement"
            " (iam:CreateServiceLinkedRole)",
        ),
        (
            "ConfigurationItemChangeNotification__22",
            "NOT_APPLICABLE",
            "ec2-roles-without-iam-privileges does not evaluate AWS::IAM::User",
        ),
    ],
)
def test_each_role_fixture_gets_its_verdict(world: World, prefix: str, compliance: str, annotation: str) -> None:
    assert judged(world, event(prefix)) == (compliance, annotation)


def test_the_verdict_goes_to_config_for_the_roles_unique_id_at_its_capture_time(world: World) -> None:
    loaded = event(APP_ROLE)
    judged(world, loaded)
    (call,) = world.config.put_calls
    assert call["ResultToken"] == loaded["resultToken"]
    (entry,) = call["Evaluations"]
    assert (entry["ComplianceResourceType"], entry["ComplianceResourceId"]) == ("AWS::IAM::Role", APP_ROLE_ID)
    assert entry["OrderingTimestamp"] == 1763633732.418  # 2025-11-20T10:15:32.418Z, the item's capture time


def test_an_attached_managed_policy_is_read_from_iam(world: World) -> None:
    arn = world.iam.create_policy(PolicyName="EC2FullAccessCopy", PolicyDocument=json.dumps(AMAZON_EC2_FULL_ACCESS))[
        "Policy"
    ]["Arn"]
    loaded = edit_item(
        event(NETOPS_ROLE),
        rolePolicyList=[],
        attachedManagedPolicies=[{"policyName": "EC2FullAccessCopy", "policyArn": arn}],
    )
    assert judged(world, loaded) == (
        "NON_COMPLIANT",
        "EC2 role: iam:* allowed under a condition by EC2FullAccessCopy#5 (iam:CreateServiceLinkedRole)",
    )


def test_the_managed_policys_default_version_is_the_one_judged(world: World) -> None:
    arn = world.iam.create_policy(PolicyName="Bootstrap", PolicyDocument=json.dumps(policy(allow("iam:*"))))["Policy"][
        "Arn"
    ]
    world.iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(policy(allow("s3:*"))), SetAsDefault=True)
    loaded = edit_item(
        event(NETOPS_ROLE), rolePolicyList=[], attachedManagedPolicies=[{"policyName": "Bootstrap", "policyArn": arn}]
    )
    assert judged(world, loaded) == ("COMPLIANT", "EC2 role allowed no iam action")


def test_a_managed_policy_deleted_since_the_item_was_recorded_is_skipped(world: World) -> None:
    gone = "arn:aws:iam::123456789012:policy/DetachedAndDeleted"
    loaded = edit_item(
        event(NETOPS_ROLE), attachedManagedPolicies=[{"policyName": "DetachedAndDeleted", "policyArn": gone}]
    )
    assert judged(world, loaded) == ("COMPLIANT", "EC2 role allowed no iam action")


def test_a_deny_beside_the_allow_makes_the_role_compliant(world: World) -> None:
    guarded = policy(allow("iam:Get*"), {"Sid": "NoIam", "Effect": "Deny", "Action": "iam:*", "Resource": "*"})
    loaded = edit_item(event(APP_ROLE), rolePolicyList=[{"policyName": "Guarded", "policyDocument": encoded(guarded)}])
    assert judged(world, loaded) == ("COMPLIANT", "EC2 role allowed no iam action (denied by Guarded#NoIam)")


def test_a_role_trusted_by_everyone_counts_as_an_ec2_role(world: World) -> None:
    anyone = policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
    loaded = edit_item(event(APP_ROLE), assumeRolePolicyDocument=encoded(anyone))
    assert judged(world, loaded)[0] == "NON_COMPLIANT"


def test_a_policy_that_cannot_be_analysed_is_non_compliant_and_says_why(world: World) -> None:
    broken = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}
    loaded = edit_item(event(APP_ROLE), rolePolicyList=[{"policyName": "Broken", "policyDocument": encoded(broken)}])
    assert judged(world, loaded) == (
        "NON_COMPLIANT",
        "cannot analyse policy 'Broken' Statement[0]: needs exactly one of Action and NotAction",
    )


@pytest.mark.parametrize(
    "listed", ["ec2-app-role", "EC2-APP-ROLE", APP_ROLE_ID, "arn:aws:iam::123456789012:role/ec2-app-role"]
)
def test_an_excepted_role_is_not_applicable(world: World, listed: str) -> None:
    parameters = {"exceptionList": f"someone-else, {listed}"}
    assert judged(world, event(APP_ROLE), parameters) == ("NOT_APPLICABLE", "ec2-app-role is in the exceptionList")


def test_a_service_linked_role_is_not_applicable_unless_asked_for(world: World) -> None:
    loaded = edit_item(event(APP_ROLE), path="/aws-service-role/spot.amazonaws.com/")
    assert judged(world, loaded) == ("NOT_APPLICABLE", "ec2-app-role is a service-linked role: AWS owns its policies")
    assert judged(world, loaded, {"includeServiceLinkedRoles": "true"})[0] == "NON_COMPLIANT"


def create_role(world: World, name: str, trust: dict[str, Any], *, inline: dict[str, Any] | None = None) -> str:
    role_id: str = world.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["RoleId"]
    if inline is not None:
        world.iam.put_role_policy(RoleName=name, PolicyName=f"{name}-inline", PolicyDocument=json.dumps(inline))
    return role_id


def test_a_periodic_run_judges_every_role_in_iam(world: World) -> None:
    admin = create_role(world, "ec2-admin", EC2_TRUST, inline=policy(allow("*")))
    reader = create_role(world, "ec2-reader", EC2_TRUST, inline=policy(allow(["s3:GetObject", "ec2:Describe*"])))
    worker = create_role(world, "lambda-worker", LAMBDA_TRUST, inline=policy(allow("iam:*")))
    power = create_role(world, "ec2-power-user", EC2_TRUST)
    arn = world.iam.create_policy(PolicyName="PowerUserCopy", PolicyDocument=json.dumps(POWER_USER_ACCESS))["Policy"][
        "Arn"
    ]
    world.iam.attach_role_policy(RoleName="ec2-power-user", PolicyArn=arn)

    lambda_handler({**event("ScheduledNotification__10"), "configRuleName": RULE.name}, None)

    verdicts = {entry["ComplianceResourceId"]: entry for entry in world.config.evaluations}
    assert set(verdicts) == {admin, reader, worker, power}
    assert {entry["ComplianceResourceType"] for entry in verdicts.values()} == {"AWS::IAM::Role"}
    assert verdicts[admin]["ComplianceType"] == "NON_COMPLIANT"
    assert verdicts[admin]["Annotation"] == "EC2 role: iam:* allowed by ec2-admin-inline#1 (*)"
    assert verdicts[reader]["ComplianceType"] == "COMPLIANT"
    assert verdicts[worker]["ComplianceType"] == "NOT_APPLICABLE"
    assert verdicts[power]["ComplianceType"] == "NON_COMPLIANT"
    assert verdicts[power]["Annotation"].startswith("EC2 role: iam:* allowed by PowerUserCopy#2")


def test_a_role_deleted_between_periodic_runs_becomes_not_applicable(world: World) -> None:
    kept = create_role(world, "ec2-kept", EC2_TRUST)
    world.config.seed(RULE.name, "AWS::IAM::Role", "AROAGONE0000000000000", "NON_COMPLIANT")
    lambda_handler({**event("ScheduledNotification__10"), "configRuleName": RULE.name}, None)
    assert world.config.verdict(kept) == ("COMPLIANT", "EC2 role allowed no iam action")
    assert world.config.verdict("AROAGONE0000000000000")[0] == "NOT_APPLICABLE"


# --- reading trust policies ---------------------------------------------------------------------------


def trust(principal: Any, action: Any = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    return policy({"Effect": "Allow", "Principal": principal, "Action": action, **extra})


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (trust({"Service": "ec2.amazonaws.com"}), "ec2.amazonaws.com"),
        (trust({"Service": ["ssm.amazonaws.com", "EC2.amazonaws.com"]}), "EC2.amazonaws.com"),
        (trust({"Service": "ec2.amazonaws.com.cn"}), "ec2.amazonaws.com.cn"),
        (trust({"Service": "ec2.amazonaws.com"}, "sts:*"), "ec2.amazonaws.com"),
        (
            trust({"Service": "ec2.amazonaws.com"}, Condition={"StringEquals": {"aws:SourceAccount": "1"}}),
            "ec2.amazonaws.com",
        ),
        (trust("*"), "any principal (*)"),
        (trust({"AWS": ["arn:aws:iam::111122223333:root", "*"]}), "any principal (*)"),
        (
            policy({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole"}),
            "any principal but those in NotPrincipal",
        ),
        (trust({"Service": "lambda.amazonaws.com"}), None),
        (trust({"Service": "ec2.amazonaws.com"}, "sts:AssumeRoleWithWebIdentity"), None),
        (trust({"Federated": "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"}), None),
        (
            {"Version": "2012-10-17", "Statement": {**trust({"Service": "ec2.amazonaws.com"})["Statement"][0]}},
            "ec2.amazonaws.com",
        ),
        (policy({"Effect": "Deny", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}), None),
        (policy(), None),
    ],
)
def test_who_can_assume(document: dict[str, Any], expected: str | None) -> None:
    assert who_can_assume(document, EC2_PRINCIPALS) == expected


def test_a_trust_policy_that_is_not_a_policy_is_an_error() -> None:
    with pytest.raises(PolicyDocumentError, match="Statement: is missing"):
        who_can_assume({"Principal": {"Service": "ec2.amazonaws.com"}}, EC2_PRINCIPALS)
