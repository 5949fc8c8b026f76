"""no-create-user-or-role: the user, group and role fixtures through the rule's Lambda handler, and a
periodic run over real users, groups and roles in moto's IAM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from notifier.rules.no_create_user_or_role import RULE, lambda_handler

from .support import World, edit_item, event, last_verdict, rule_world
from .test_ec2_roles_without_iam_privileges import EC2_TRUST, create_role, encoded
from .test_policy_analysis import IAM_FULL_ACCESS, IAM_READ_ONLY_ACCESS, allow, deny, policy

CI_DEPLOYER = "ConfigurationItemChangeNotification__22"  # user, Statement object, "IAM:Create*"
CI_DEPLOYER_ID = "AIDAC3NOLWR2PXSD3WY2P"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with rule_world(monkeypatch) as created:
        yield created


def judged(world: World, loaded: dict[str, Any], parameters: dict[str, str] | None = None) -> tuple[str, str]:
    return last_verdict(world, lambda_handler, RULE.name, loaded, parameters)


NOT_ALLOWED = "neither iam:CreateUser nor iam:CreateRole is allowed"


@pytest.mark.parametrize(
    ("prefix", "compliance", "annotation"),
    [
        (
            "ConfigurationItemChangeNotification__20",
            "NON_COMPLIANT",
            "iam:CreateUser, iam:CreateRole allowed by AppBootstrap#1 (iam:*)",
        ),
        (
            "ConfigurationItemChangeNotification__21",
            "NON_COMPLIANT",
            "iam:CreateUser, iam:CreateRole allowed by WorkerIam#1 (iam:*)",
        ),
        (
            CI_DEPLOYER,
            "NON_COMPLIANT",
            "iam:CreateUser, iam:CreateRole allowed by DeployerBootstrap#Bootstrap (IAM:Create*)",
        ),
        (
            "ConfigurationItemChangeNotification__23",
            "NON_COMPLIANT",
            "iam:CreateUser, iam:CreateRole allowed by EverythingButS3#1 (all but s3:*)",
        ),
        (
            "ConfigurationItemChangeNotification__24",
            "COMPLIANT",
            f"{NOT_ALLOWED} (denied by IamOperatorsNoNewPrincipals#NoNewPrincipals)",
        ),
        (
            "ConfigurationItemChangeNotification__25",
            "NON_COMPLIANT",
            "iam:CreateUser, iam:CreateRole allowed by IamOperatorsMfaGuard#IamAdmin (iam:*);"
            " Deny IamOperatorsMfaGuard#NoNewPrincipals applies only in some requests",
        ),
        ("ConfigurationItemChangeNotification__26", "COMPLIANT", NOT_ALLOWED),
        ("ConfigurationItemChangeNotification__27", "COMPLIANT", NOT_ALLOWED),  # PowerUserAccess
        ("ConfigurationItemChangeNotification__28", "COMPLIANT", NOT_ALLOWED),  # only CreateServiceLinkedRole
        ("ConfigurationItemChangeNotification__16", "NOT_APPLICABLE", "DBSuperUser was deleted (ResourceDeleted)"),
        ("ConfigurationItemChangeNotification__17", "NOT_APPLICABLE", "does not evaluate AWS::IAM::Policy"),
    ],
)
def test_each_fixture_gets_its_verdict(world: World, prefix: str, compliance: str, annotation: str) -> None:
    verdict = judged(world, event(prefix))
    assert verdict[0] == compliance and annotation in verdict[1]


def test_users_groups_and_roles_are_judged_under_their_own_resource_type(world: World) -> None:
    for prefix in (CI_DEPLOYER, "ConfigurationItemChangeNotification__24", "ConfigurationItemChangeNotification__20"):
        judged(world, event(prefix))
    assert [(e["ComplianceResourceType"], e["ComplianceResourceId"]) for e in world.config.evaluations] == [
        ("AWS::IAM::User", CI_DEPLOYER_ID),
        ("AWS::IAM::Group", "AGPAL4CT4YQAMVT5A6USL"),
        ("AWS::IAM::Role", "AROAUY2MWYFXE4NYCVEKL"),
    ]


def test_only_the_allowed_one_is_named(world: World) -> None:
    document = policy(allow("iam:CreateRole", Sid="Roles"), allow("iam:CreateU*", Sid="Users"), deny("iam:CreateUser"))
    loaded = edit_item(event(CI_DEPLOYER), userPolicyList=[{"policyName": "P", "policyDocument": encoded(document)}])
    assert judged(world, loaded) == ("NON_COMPLIANT", "iam:CreateRole allowed by P#Roles")


def test_an_excepted_pipeline_user_is_not_applicable(world: World) -> None:
    parameters = {"exceptionList": "identity-pipeline, CI-Deployer"}
    assert judged(world, event(CI_DEPLOYER), parameters) == ("NOT_APPLICABLE", "ci-deployer is in the exceptionList")


def test_a_users_attached_managed_policy_is_read_from_iam(world: World) -> None:
    arn = world.iam.create_policy(PolicyName="IAMFullAccessCopy", PolicyDocument=json.dumps(IAM_FULL_ACCESS))["Policy"][
        "Arn"
    ]
    loaded = edit_item(
        event(CI_DEPLOYER),
        userPolicyList=None,  # the 2018 shape: no inline policy at all
        attachedManagedPolicies=[{"policyName": "IAMFullAccessCopy", "policyArn": arn}],
    )
    assert judged(world, loaded) == (
        "NON_COMPLIANT",
        "iam:CreateUser, iam:CreateRole allowed by IAMFullAccessCopy#1 (iam:*)",
    )


def test_a_periodic_run_judges_every_user_group_and_role(world: World) -> None:
    iam = world.iam
    builder = iam.create_user(UserName="builder")["User"]["UserId"]
    iam.put_user_policy(UserName="builder", PolicyName="Make", PolicyDocument=json.dumps(policy(allow("iam:Create*"))))
    auditor = iam.create_user(UserName="auditor")["User"]["UserId"]
    read_only = iam.create_policy(PolicyName="IAMReadOnlyCopy", PolicyDocument=json.dumps(IAM_READ_ONLY_ACCESS))
    iam.attach_user_policy(UserName="auditor", PolicyArn=read_only["Policy"]["Arn"])
    admins = iam.create_group(GroupName="admins")["Group"]["GroupId"]
    full = iam.create_policy(PolicyName="IAMFullAccessCopy", PolicyDocument=json.dumps(IAM_FULL_ACCESS))
    iam.attach_group_policy(GroupName="admins", PolicyArn=full["Policy"]["Arn"])
    iam.add_user_to_group(UserName="auditor", GroupName="admins")  # judged on the group, not on the user
    pipeline = create_role(world, "identity-pipeline", EC2_TRUST, inline=policy(allow(["iam:CreateRole"])))
    app = create_role(world, "app", EC2_TRUST, inline=policy(allow("s3:*")))

    parameters = json.dumps({"exceptionList": "identity-pipeline"})
    lambda_handler(
        {**event("ScheduledNotification__10"), "configRuleName": RULE.name, "ruleParameters": parameters}, None
    )

    verdicts = {
        e["ComplianceResourceId"]: (e["ComplianceResourceType"], e["ComplianceType"]) for e in world.config.evaluations
    }
    assert verdicts == {
        builder: ("AWS::IAM::User", "NON_COMPLIANT"),
        auditor: ("AWS::IAM::User", "COMPLIANT"),
        admins: ("AWS::IAM::Group", "NON_COMPLIANT"),
        pipeline: ("AWS::IAM::Role", "NOT_APPLICABLE"),
        app: ("AWS::IAM::Role", "COMPLIANT"),
    }
